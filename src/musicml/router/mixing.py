"""Real requests (logged, labels optional) joined with generated ones (the seed's strategy 4).

Real labelled requests are kept whole; generated examples fill each category
up to its target share of the total. Unlabelled requests cannot train the
router: they are returned separately for labelling (the spot-check review).
"""

from __future__ import annotations

import csv
import hashlib
import os
from pathlib import Path
from typing import Any, Iterator

import pandas as pd

from musicml.errors import InputError
from musicml.manifest import iter_jsonl
from musicml.router.examples import CATEGORIES, LABELS, category_of, check_bool, check_text, frame
from musicml.router.library import category_counts

TEXT_FIELDS = ("question", "text", "request")


def _rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    if path.suffix.lower() == ".jsonl":
        yield from iter_jsonl(path)
    elif path.suffix.lower() == ".csv":
        try:
            with open(path, newline="", encoding="utf-8") as handle:
                for line, row in enumerate(csv.DictReader(handle), start=2):
                    yield line, {k: v for k, v in row.items() if k is not None and v not in (None, "")}
        except OSError as exc:
            raise InputError(path, f"cannot open: {exc.strerror}") from exc
    else:
        raise InputError(path, "expected a .jsonl or .csv file of requests")


def read_requests(path: str | os.PathLike) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read logged requests; returns ``(labelled, unlabelled)`` example tables.

    A row holds the text in ``question`` (or ``text`` / ``request``) and either
    both labels ``needsDAW`` and ``needsArranger`` or neither; an optional
    ``confidence`` in (0, 1]. Errors name the file, line and field.
    """
    path = Path(path)
    labelled, unlabelled = [], []
    for line, row in _rows(path):
        field = next((f for f in TEXT_FIELDS if f in row), "question")
        text = check_text(row.get(field), path=str(path), line=line, field=field)
        present = [label for label in LABELS if label in row]
        group = "real-" + hashlib.sha1(text.lower().encode()).hexdigest()[:12]
        base = {"question": text, "operation": "real", "template_id": group, "source": "real"}
        if not present:
            unlabelled.append({**base, "needsDAW": False, "needsArranger": False, "confidence": 0.0,
                               "category": "edge", "origin": f"{path.name}:{line}"})
            continue
        if len(present) == 1:
            missing = next(label for label in LABELS if label not in row)
            raise InputError(path, "a labelled request needs both labels", line=line, field=missing)
        daw, arranger = (check_bool(row[label], path=str(path), line=line, field=label) for label in LABELS)
        try:
            confidence = float(row.get("confidence", 1.0))
        except (TypeError, ValueError):
            confidence = -1.0
        if not 0.0 < confidence <= 1.0:
            raise InputError(path, "expected a number in (0, 1]", line=line, field="confidence")
        labelled.append({**base, "needsDAW": daw, "needsArranger": arranger, "confidence": confidence,
                         "category": category_of(daw, arranger)})
    return frame(labelled), frame(unlabelled)


def mix(generated: pd.DataFrame, real: pd.DataFrame, *, size: int,
        shares: dict[str, float]) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Real examples plus generated ones filling each category up to ``shares`` of ``size``.

    A category whose real examples already exceed its target keeps all of them
    (real data is the gold standard) and takes no generated ones.
    """
    targets = category_counts(size, shares)
    parts, stats = [real], {}
    for category in CATEGORIES:
        n_real = int((real["category"] == category).sum()) if len(real) else 0
        pool = generated[generated["category"] == category]
        take = max(0, targets[category] - n_real)
        parts.append(pool.head(take))
        stats[category] = {"target": targets[category], "real": n_real, "generated": int(min(take, len(pool)))}
    mixed = pd.concat([p for p in parts if len(p)], ignore_index=True)
    return mixed, {"categories": stats, "examples": len(mixed), "real": len(real)}
