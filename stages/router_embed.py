"""Stage router_embed: MiniLM sentence embeddings of the dataset and the natural set, cached for training."""

from pathlib import Path

import numpy as np
import typer

from musicml.atomic import atomic_path
from musicml.config import load_yaml, section
from musicml.console import stage
from musicml.router.encoder import embed, load_sentence_model
from musicml.router.examples import read_examples
from musicml.router.natural import read_natural


def main(
    params: Path = typer.Option("params.yaml", help="Params file; reads `router.train.embed_batch_size`."),
    data: Path = typer.Option("data/interim/router/dataset.jsonl", help="Split examples."),
    natural: Path = typer.Option("data/raw/router/natural.jsonl", help="Hand-written natural requests."),
    out: Path = typer.Option("data/processed/router/embeddings.npz", help="`dataset` and `natural` arrays (n, 384)."),
) -> None:
    """Rows in file order; unit length (all-MiniLM-L6-v2, mean pooled), hub offline."""
    batch = int(section(load_yaml(params), "router.train.embed_batch_size"))
    model = load_sentence_model()
    dataset_texts = read_examples(data)["question"].tolist()
    natural_texts = read_natural(natural)["question"].tolist()
    arrays = {"dataset": embed(dataset_texts, batch_size=batch, model=model),
              "natural": embed(natural_texts, batch_size=batch, model=model)}
    with atomic_path(out) as tmp, open(tmp, "wb") as handle:
        np.savez(handle, **arrays)
    print(f"router_embed: {len(dataset_texts)} + {len(natural_texts)} texts -> {out}")


if __name__ == "__main__":
    stage(main)
