"""The TF-IDF + logistic-regression router as plain arrays, scored with NumPy only.

The baseline (:func:`musicml.router.models.fit_baseline`) is a scikit-learn
pipeline; the served hybrid router needs its probabilities without
scikit-learn. :func:`export_ngrams` writes the fitted vocabularies, IDF weights
and coefficients to an ``.npz`` file, and :class:`NgramScorer` rebuilds the
same features (lower-cased word 1-2-grams and ``char_wb`` character n-grams,
sublinear TF, IDF, each part L2-normalised) and the same logistic outputs.
The router_export parity check compares the two on real texts.
"""

from __future__ import annotations

import os
import re
from typing import Sequence

import numpy as np

from musicml.errors import InputError

_WHITE_SPACES = re.compile(r"\s\s+")


def _word_ngrams(text: str, token_pattern: re.Pattern, n_min: int, n_max: int) -> list[str]:
    tokens = token_pattern.findall(text)
    grams = list(tokens) if n_min == 1 else []
    for n in range(max(2, n_min), n_max + 1):
        grams.extend(" ".join(tokens[i:i + n]) for i in range(len(tokens) - n + 1))
    return grams


def _char_wb_ngrams(text: str, n_min: int, n_max: int) -> list[str]:
    # scikit-learn's char_wb: n-grams inside each space-padded word; a word
    # shorter than n yields itself once.
    grams = []
    for word in _WHITE_SPACES.sub(" ", text).split():
        word = f" {word} "
        for n in range(n_min, n_max + 1):
            offset = 0
            grams.append(word[:n])
            while offset + n < len(word):
                offset += 1
                grams.append(word[offset:offset + n])
            if offset == 0:
                break
    return grams


class _Part:
    """One TF-IDF vectoriser: analyzer, vocabulary (gram -> column) and IDF."""

    def __init__(self, analyzer: str, ngram_range: tuple[int, int], token_pattern: str, vocabulary: list[str],
                 idf: np.ndarray, offset: int):
        self.analyzer = analyzer
        self.ngram_range = ngram_range
        self.token_pattern = re.compile(token_pattern)
        self.index = {gram: i for i, gram in enumerate(vocabulary)}
        self.idf = np.asarray(idf, dtype=np.float64)
        self.offset = offset

    def grams(self, text: str) -> list[str]:
        text = text.lower()
        if self.analyzer == "word":
            return _word_ngrams(text, self.token_pattern, *self.ngram_range)
        return _char_wb_ngrams(text, *self.ngram_range)

    def features(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """Columns (offset into the union) and L2-normalised sublinear TF-IDF values of ``text``."""
        counts: dict[int, int] = {}
        for gram in self.grams(text):
            column = self.index.get(gram)
            if column is not None:
                counts[column] = counts.get(column, 0) + 1
        if not counts:
            return np.zeros(0, dtype=np.int64), np.zeros(0)
        columns = np.fromiter(counts.keys(), dtype=np.int64, count=len(counts))
        values = (1.0 + np.log(np.fromiter(counts.values(), dtype=np.float64, count=len(counts)))) * self.idf[columns]
        return columns + self.offset, values / np.linalg.norm(values)


def export_ngrams(baseline, path: str | os.PathLike) -> None:
    """Write a fitted :class:`musicml.router.models.Baseline` as arrays (atomically)."""
    from musicml.atomic import atomic_path

    arrays: dict[str, np.ndarray] = {}
    for k, (name, vectorizer) in enumerate(baseline.features.transformer_list):
        if vectorizer.analyzer not in ("word", "char_wb") or not vectorizer.lowercase or not vectorizer.sublinear_tf:
            raise InputError(path, f"cannot export TF-IDF part {name!r}: expected a lower-cased, sublinear "
                                   f"word or char_wb analyzer")
        vocabulary = sorted(vectorizer.vocabulary_, key=vectorizer.vocabulary_.get)
        arrays[f"part{k}_vocabulary"] = np.asarray(vocabulary, dtype=str)
        arrays[f"part{k}_idf"] = vectorizer.idf_
        arrays[f"part{k}_spec"] = np.asarray([vectorizer.analyzer, *map(str, vectorizer.ngram_range),
                                              vectorizer.token_pattern or ""], dtype=str)
    arrays["coef"] = np.stack([clf.coef_[0] for clf in baseline.classifiers])
    arrays["intercept"] = np.asarray([clf.intercept_[0] for clf in baseline.classifiers])
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.savez_compressed(handle, **arrays)


class NgramScorer:
    """Per-label probabilities of an exported TF-IDF + logistic-regression model, NumPy only."""

    def __init__(self, parts: list[_Part], coef: np.ndarray, intercept: np.ndarray):
        self.parts = parts
        self.coef = np.asarray(coef, dtype=np.float64)
        self.intercept = np.asarray(intercept, dtype=np.float64)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "NgramScorer":
        try:
            with np.load(path) as arrays:
                parts, offset, k = [], 0, 0
                while f"part{k}_spec" in arrays:
                    analyzer, n_min, n_max, pattern = arrays[f"part{k}_spec"].tolist()
                    vocabulary = arrays[f"part{k}_vocabulary"].tolist()
                    parts.append(_Part(analyzer, (int(n_min), int(n_max)), pattern, vocabulary,
                                       arrays[f"part{k}_idf"], offset))
                    offset += len(vocabulary)
                    k += 1
                coef, intercept = arrays["coef"], arrays["intercept"]
        except (OSError, ValueError, KeyError) as exc:
            raise InputError(path, f"not an exported n-gram model: {exc}") from exc
        if not parts or coef.shape[1] != offset:
            raise InputError(path, f"n-gram model: {coef.shape[1]} coefficients for {offset} features")
        return cls(parts, coef, intercept)

    def logits(self, texts: Sequence[str]) -> np.ndarray:
        out = np.tile(self.intercept, (len(texts), 1))
        for row, text in enumerate(texts):
            for part in self.parts:
                columns, values = part.features(text)
                out[row] += self.coef[:, columns] @ values
        return out

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Shape ``(len(texts), labels)``, as ``Baseline.predict_proba``."""
        return 1.0 / (1.0 + np.exp(-self.logits(texts)))
