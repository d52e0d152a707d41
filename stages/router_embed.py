"""Stage router_embed: MiniLM sentence features of the dataset and the natural set, cached for training."""

from pathlib import Path

import numpy as np
import typer

from musicml.atomic import atomic_path
from musicml.config import load_yaml, section
from musicml.console import stage
from musicml.router.encoder import embed, load_encoder, load_tokenizer
from musicml.router.examples import read_examples
from musicml.router.natural import read_natural


def main(
    params: Path = typer.Option("params.yaml", help="Params file; reads `router.embed`."),
    data: Path = typer.Option("data/interim/router/dataset.jsonl", help="Split examples."),
    natural: Path = typer.Option("data/raw/router/natural.jsonl", help="Hand-written natural requests."),
    out: Path = typer.Option("data/processed/router/embeddings.npz",
                             help="`dataset` and `natural` arrays (n, 384 x layers)."),
) -> None:
    """Rows in file order: all-MiniLM-L6-v2 mean-pooled layers `router.embed.layers`, hub offline."""
    cfg = section(load_yaml(params), "router.embed")
    layers, batch = [int(k) for k in cfg["layers"]], int(cfg["batch_size"])
    encoder, tokenizer = load_encoder(layers), load_tokenizer()
    dataset_texts = read_examples(data)["question"].tolist()
    natural_texts = read_natural(natural)["question"].tolist()
    arrays = {name: embed(texts, layers=layers, batch_size=batch, encoder=encoder, tokenizer=tokenizer)
              for name, texts in (("dataset", dataset_texts), ("natural", natural_texts))}
    arrays["layers"] = np.asarray(layers)
    with atomic_path(out) as tmp, open(tmp, "wb") as handle:
        np.savez(handle, **arrays)
    print(f"router_embed: {len(dataset_texts)} + {len(natural_texts)} texts -> {out}")


if __name__ == "__main__":
    stage(main)
