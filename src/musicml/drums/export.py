"""ONNX export of the trained classifier, with onnxruntime parity and latency checks.

The ONNX file carries everything inference needs in its metadata (class names
and the log-mel configuration), so ``musicml predict`` runs without torch.
"""

from __future__ import annotations

import json
import os
import time

import numpy as np
import torch

from musicml.atomic import atomic_path
from musicml.features import MelConfig

METADATA_CLASSES = "musicml.classes"
METADATA_FEATURES = "musicml.features"
#: The open-set score ``musicml predict`` turns into ``unknown_score`` ({"score", "threshold"}, openset_eval).
METADATA_UNKNOWN_SCORE = "musicml.unknown_score"


#: ONNX outputs: the logits and the penultimate features (for the feature-space open-set score).
OUTPUTS = ("logits", "features")


class _WithFeatures(torch.nn.Module):
    """The classifier returning ``(logits, penultimate features)``: one graph, two outputs."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        embedded = self.model.embed(x)
        return self.model.fc(self.model.dropout(embedded)), embedded


def export_onnx(model: torch.nn.Module, path: str | os.PathLike, *, classes: list[str],
                mel: MelConfig, opset: int = 17, unknown_score: dict | None = None) -> None:
    """Write ``model`` as ONNX (outputs ``logits`` and ``features``) with a dynamic batch axis and musicml metadata.

    ``unknown_score`` (``{"score": "energy", "threshold": t}``, chosen by the
    openset_eval stage; for ``mahalanobis`` also ``"density"``: the class means
    and precision of :class:`musicml.release.openset.FeatureDensity`) is stored
    so inference rejects unknowns the same way.
    """
    import onnx

    model = model.eval().cpu()
    dummy = torch.zeros(1, 1, mel.n_mels, mel.n_frames)
    with atomic_path(path) as tmp:
        torch.onnx.export(
            _WithFeatures(model).eval(), (dummy,), str(tmp), input_names=["log_mel"], output_names=list(OUTPUTS),
            dynamic_axes={"log_mel": {0: "batch"}, **{name: {0: "batch"} for name in OUTPUTS}},
            opset_version=opset, dynamo=False,
        )
        proto = onnx.load(str(tmp))
        metadata = [(METADATA_CLASSES, json.dumps(list(classes))),
                    (METADATA_FEATURES, json.dumps(mel.to_dict(), sort_keys=True))]
        if unknown_score is not None:
            metadata.append((METADATA_UNKNOWN_SCORE, json.dumps(unknown_score, sort_keys=True)))
        for key, value in metadata:
            entry = proto.metadata_props.add()
            entry.key, entry.value = key, value
        onnx.checker.check_model(proto)
        onnx.save(proto, str(tmp))


def parity(model: torch.nn.Module, session, features: np.ndarray, *, batch_size: int = 256) -> dict[str, float]:
    """Largest absolute differences between torch and onnxruntime on ``features``, per output:
    ``{"logits": ..., "features": ...}`` (the penultimate features).

    Torch computes both as the stages do (:func:`musicml.drums.training.predict_outputs`), and
    onnxruntime gives both outputs in one call per batch: one pass over the hits, not one per output.
    """
    from musicml.drums.training import predict_outputs

    expected = dict(zip(("logits", "features"),
                        predict_outputs(model, features, np.arange(len(features)), device=torch.device("cpu"))))
    worst = {"logits": 0.0, "features": 0.0}
    for start in range(0, len(features), batch_size):
        batch = np.asarray(features[start:start + batch_size], dtype=np.float32)
        got = dict(zip(("logits", "features"), session.run(["logits", "features"], {"log_mel": batch})))
        for name in worst:
            diff = np.abs(expected[name][start:start + len(batch)] - got[name])
            worst[name] = max(worst[name], float(np.max(diff)))
    return worst


def latency_ms(session, example: np.ndarray, *, batch: int, runs: int = 50) -> float:
    """Median wall-clock milliseconds of one onnxruntime call on ``batch`` copies of ``example``."""
    inputs = {"log_mel": np.repeat(np.asarray(example[None], dtype=np.float32), batch, axis=0)}
    session.run(["logits"], inputs)  # warm-up
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        session.run(["logits"], inputs)
        times.append((time.perf_counter() - start) * 1000.0)
    return float(np.median(times))
