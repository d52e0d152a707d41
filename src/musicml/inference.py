"""Torch-free inference with an exported ONNX drum classifier (``musicml predict``)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

import numpy as np

from musicml.audio import first_onset, load_audio
from musicml.errors import InputError
from musicml.evaluation import energy_score, softmax
from musicml.features import MelConfig, cut_clip, log_mel
from musicml.manifest import iter_jsonl


def open_session(path: str | os.PathLike, *, threads: int | None = None):
    """An onnxruntime CPU session of the model at ``path``; ``threads`` caps its intra-op threads.

    A missing or unloadable file is an :class:`InputError` naming it, for every
    exported model (the classifier, the frame transcriber).
    """
    import onnxruntime as ort  # imported on first use: importing this module stays light

    path = str(path)
    if not os.path.exists(path):
        raise InputError(path, "model file not found")
    try:
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise InputError(path, f"not a loadable ONNX model: {exc}") from exc


@dataclass
class OnnxClassifier:
    """An onnxruntime session plus the classes and feature config stored in the model."""

    session: object
    classes: list[str]
    mel: MelConfig
    #: ``{"score": "max_softmax" | "energy", "threshold": float}`` from the model's metadata
    #: (chosen by openset_eval); models exported before it fall back to max-softmax.
    unknown: dict | None = None
    _density: object = field(default=None, repr=False)  # the FeatureDensity of ``unknown``, built once

    @classmethod
    def load(cls, path: str | os.PathLike, *, threads: int | None = None) -> "OnnxClassifier":
        """Open an exported model; ``threads`` caps onnxruntime's intra-op threads (default: all cores)."""
        path = str(path)
        session = open_session(path, threads=threads)
        meta = session.get_modelmeta().custom_metadata_map
        if "musicml.classes" not in meta or "musicml.features" not in meta:
            raise InputError(path, "ONNX model lacks musicml metadata (classes, features); export it with musicml")
        unknown = json.loads(meta["musicml.unknown_score"]) if "musicml.unknown_score" in meta else None
        return cls(session, json.loads(meta["musicml.classes"]), MelConfig(**json.loads(meta["musicml.features"])),
                   unknown)

    def logits(self, images: np.ndarray) -> np.ndarray:
        """Logits for a ``(batch, 1, n_mels, n_frames)`` float32 array."""
        return self.session.run(["logits"], {"log_mel": np.asarray(images, dtype=np.float32)})[0]

    @property
    def needs_features(self) -> bool:
        """Whether the unknown score reads the penultimate features (the ``features`` output)."""
        return bool(self.unknown) and self.unknown["score"] == "mahalanobis"

    def outputs(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Logits and, when the unknown score needs them, the penultimate features (else None)."""
        names = ["logits", "features"] if self.needs_features else ["logits"]
        got = self.session.run(names, {"log_mel": np.asarray(images, dtype=np.float32)})
        return got[0], (got[1] if self.needs_features else None)

    def unknown_scores(self, logits: np.ndarray, features: np.ndarray | None = None) -> np.ndarray:
        """Per-hit unknown score in [0, 1] with the open-set score stored in the model (high = not a known class).

        ``features`` (the model's ``features`` output) are needed when that score is ``mahalanobis``.
        """
        from musicml.release.openset import FeatureDensity, unknown_score

        spec = self.unknown or {"score": "max_softmax", "threshold": None}
        if spec["score"] == "mahalanobis":
            if features is None:
                raise ValueError("the mahalanobis unknown score needs the model's `features` output")
            if self._density is None:
                self._density = FeatureDensity.from_dict(spec["density"])
            known = self._density.score(features)
        else:
            known = softmax(logits).max(axis=1) if spec["score"] == "max_softmax" else energy_score(logits)
        return unknown_score(known, score=spec["score"], threshold=spec["threshold"])


def _read_requests(path: str) -> list[tuple[int, dict]]:
    rows = []
    for lineno, row in iter_jsonl(path):
        if not isinstance(row.get("audio_path"), str) or not row["audio_path"]:
            raise InputError(path, "expected a non-empty string", line=lineno, field="audio_path")
        onset = row.get("onset_s")
        if onset is not None and (isinstance(onset, bool) or not isinstance(onset, (int, float))
                                  or not np.isfinite(onset) or onset < 0):
            raise InputError(path, f"expected a finite number >= 0, got {onset!r}", line=lineno, field="onset_s")
        rows.append((lineno, row))
    return rows


def predict_manifest(model: OnnxClassifier, manifest_path: str, *, batch_size: int = 64) -> list[dict]:
    """Classify every hit listed in a JSONL manifest.

    Input rows need ``audio_path`` (relative paths resolve from the current
    directory, then from the manifest's folder) and may give ``onset_s``; without
    it the hit starts at the file's first sound. Output rows are the input
    fields plus ``label``, ``probabilities`` (class → p) and ``unknown_score``
    in [0, 1] (high means "not a hit of a known class"): with the open-set score
    the openset_eval stage chose and stored in the model (1 − max probability,
    the energy score centred on its 95 %-TPR threshold, where it is 0.5, or the
    Mahalanobis distance ``d`` of the penultimate features as ``d / (d + T)``,
    0.5 at the threshold distance ``T``).
    """
    base = os.path.dirname(os.path.abspath(manifest_path))
    requests = _read_requests(manifest_path)
    images = np.zeros((len(requests), 1, model.mel.n_mels, model.mel.n_frames), dtype=np.float32)
    cache: dict[str, np.ndarray] = {}
    for i, (lineno, row) in enumerate(requests):
        audio_path = row["audio_path"]
        resolved = audio_path if os.path.exists(audio_path) else os.path.join(base, audio_path)
        if resolved not in cache:
            try:
                cache = {resolved: load_audio(resolved, sr=model.mel.sr)}  # keep one file: rows are often grouped
            except InputError as exc:
                raise InputError(manifest_path, f"audio {audio_path}: {exc.message}", line=lineno,
                                 field="audio_path") from exc
        audio = cache[resolved]
        onset = row.get("onset_s")
        onset = first_onset(audio, model.mel.sr) if onset is None else float(onset)
        if onset >= audio.shape[0] / model.mel.sr:
            raise InputError(manifest_path, f"onset {onset} s is past the end of {audio_path}", line=lineno,
                             field="onset_s")
        images[i, 0] = log_mel(cut_clip(audio, onset, model.mel), model.mel)
    if len(images):
        parts = [model.outputs(images[s:s + batch_size]) for s in range(0, len(images), batch_size)]
        logits = np.concatenate([lg for lg, _ in parts])
        features = np.concatenate([f for _, f in parts]) if model.needs_features else None
    else:
        logits, features = np.zeros((0, len(model.classes)), dtype=np.float32), None
        if model.needs_features:
            features = np.zeros((0, len(model.unknown["density"]["means"][0])), dtype=np.float32)
    probs, unknown = softmax(logits), model.unknown_scores(logits, features)
    out = []
    for (lineno, row), p, u in zip(requests, probs, unknown):
        out.append({**row, "label": model.classes[int(np.argmax(p))],
                    "probabilities": {c: round(float(v), 6) for c, v in zip(model.classes, p)},
                    "unknown_score": round(float(u), 6)})
    return out

