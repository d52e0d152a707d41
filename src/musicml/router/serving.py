"""The served router: ONNX encoder + ONNX head blended with the n-gram model; no torch, no scikit-learn.

Needs ``tokenizers``, ``onnxruntime`` and NumPy only.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from musicml.errors import InputError
from musicml.router.models import decide

CONFIG_FILE = "router.json"


class OnnxRouter:
    """Routes requests to the DAW and/or Arranger agent.

    Use :meth:`load` on the folder that ``router_export`` writes.
    """

    def __init__(self, encoder, head_session, labels: list[str], thresholds: list[float], *, ngrams=None,
                 blend_weight: float = 1.0):
        if blend_weight < 1.0 and ngrams is None:
            raise ValueError("a blend weight below 1 needs the n-gram model")
        self.encoder = encoder
        self.head = head_session
        self.labels = labels
        self.thresholds = np.asarray(thresholds, dtype=np.float64)
        self.ngrams = ngrams
        self.blend_weight = float(blend_weight)

    @classmethod
    def load(cls, folder: str | os.PathLike, *, threads: int = 0) -> "OnnxRouter":
        import onnxruntime as ort

        from musicml.router.encoder import OnnxEncoder
        from musicml.router.ngrams import NgramScorer

        folder = Path(folder)
        config_path = folder / CONFIG_FILE
        if not config_path.exists():
            raise InputError(folder, f"not an exported router (no {CONFIG_FILE}); run `dvc repro router_export`")
        try:
            config = json.loads(config_path.read_text())
            files = config["files"]
            labels, thresholds = config["labels"], config["thresholds"]
            blend_weight = float(config.get("blend_weight", 1.0))
        except (ValueError, KeyError, TypeError) as exc:
            raise InputError(config_path, f"not a router config: {exc}") from exc
        encoder = OnnxEncoder(folder / files["encoder"], folder / files["tokenizer"], threads=threads)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        head = ort.InferenceSession(str(folder / files["head"]), options, providers=["CPUExecutionProvider"])
        ngrams = NgramScorer.load(folder / files["ngrams"]) if blend_weight < 1.0 else None
        return cls(encoder, head, labels, thresholds, ngrams=ngrams, blend_weight=blend_weight)

    def embed(self, texts: list[str]) -> np.ndarray:
        return self.encoder(texts)

    def probabilities_of(self, embeddings: np.ndarray) -> np.ndarray:
        """The head's per-label probabilities of sentence features (before the blend)."""
        return self.head.run(["probabilities"], {"embedding": np.asarray(embeddings, dtype=np.float32)})[0]

    def probabilities(self, texts: list[str]) -> np.ndarray:
        """Per-label probabilities, shape ``(len(texts), 2)``: the head blended with the n-gram model."""
        head = self.probabilities_of(self.embed(texts)).astype(np.float64)
        if self.blend_weight >= 1.0:
            return head
        return self.blend_weight * head + (1.0 - self.blend_weight) * self.ngrams.predict_proba(texts)

    def route(self, texts: list[str], *, batch_size: int = 64) -> list[dict[str, Any]]:
        """``{"needsDAW", "needsArranger", "confidence"}`` per text, in order.

        The confidence is the probability of the decided label pair (see
        :func:`musicml.router.models.decide`).
        """
        out = []
        for start in range(0, len(texts), batch_size):
            pred, confidence = decide(self.probabilities(texts[start:start + batch_size]), list(self.thresholds))
            for row, conf in zip(pred, confidence):
                decision = {label: bool(value) for label, value in zip(self.labels, row)}
                out.append({**decision, "confidence": round(float(conf), 4)})
        return out
