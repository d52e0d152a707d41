"""musicml: a DVC-versioned training repository for music-AI models.

The library holds all logic; ``stages/`` scripts only read params and call it.
Nothing in this package reads ``params.yaml`` or knows about DVC.
"""

__version__ = "0.1.0"
