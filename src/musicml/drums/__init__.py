"""The drum-hit classifier: sources, dataset preparation, model."""
