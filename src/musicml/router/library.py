"""The template library (``configs/router_templates.yaml``) and generation from it.

A template is a family of phrasings (``patterns``) with one id, a category and
an operation; ``{slot}`` references are filled from the library's ``slots``,
whose values may reference slots themselves. Imperative patterns are wrapped
in a register (``wrappers``: "please {x}", "can you {x}", ...).
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Any

import pandas as pd

from musicml.config import load_yaml
from musicml.errors import ConfigError, InputError
from musicml.router.examples import CATEGORIES, frame

SLOT = re.compile(r"\{([a-z_]+)\}")
# Labels that a category implies; edge templates state their own.
CATEGORY_LABELS = {"daw": (True, False), "arranger": (False, True), "both": (True, True)}
MAX_DEPTH = 6
NO_WRAP = "= "


@dataclass(frozen=True)
class Template:
    """One family of phrasings with its labels."""

    id: str
    category: str
    operation: str
    patterns: tuple[str, ...]
    needs_daw: bool
    needs_arranger: bool
    confidence: float
    wrap: bool


@dataclass(frozen=True)
class Library:
    """Templates, slot values and register wrappers."""

    templates: tuple[Template, ...]
    slots: dict[str, tuple[str, ...]]
    wrappers: tuple[str, ...]

    def by_category(self, category: str) -> list[Template]:
        return [t for t in self.templates if t.category == category]


def _template(raw: Any, *, path: str, index: int) -> Template:
    where = f"templates[{index}]"
    if not isinstance(raw, dict):
        raise InputError(path, f"{where}: expected a mapping")
    for key in ("id", "category", "operation", "patterns"):
        if key not in raw:
            raise InputError(path, f"{where}: missing key", field=key)
    category = raw["category"]
    if category not in CATEGORIES:
        raise InputError(path, f"{where}: expected one of {list(CATEGORIES)}, got {category!r}", field="category")
    patterns = raw["patterns"]
    if not isinstance(patterns, list) or not patterns or not all(isinstance(p, str) and p.strip() for p in patterns):
        raise InputError(path, f"{where} ({raw['id']}): expected a non-empty list of texts", field="patterns")
    if category == "edge":
        for key in ("daw", "arranger", "confidence"):
            if key not in raw:
                raise InputError(path, f"{where} ({raw['id']}): an edge template states its labels", field=key)
        needs_daw, needs_arranger = bool(raw["daw"]), bool(raw["arranger"])
        confidence = float(raw["confidence"])
    else:
        needs_daw, needs_arranger = CATEGORY_LABELS[category]
        confidence = float(raw.get("confidence", 1.0))
    if not 0.0 < confidence <= 1.0:
        raise InputError(path, f"{where} ({raw['id']}): expected 0 < confidence <= 1", field="confidence")
    return Template(id=str(raw["id"]), category=category, operation=str(raw["operation"]),
                    patterns=tuple(p.strip() for p in patterns), needs_daw=needs_daw,
                    needs_arranger=needs_arranger, confidence=confidence, wrap=bool(raw.get("wrap", True)))


def load_library(path: str) -> Library:
    """Read and check a template library: unique ids, known slots, every category present."""
    data = load_yaml(path)
    slots = {str(k): tuple(str(v) for v in values) for k, values in (data.get("slots") or {}).items()}
    for name, values in slots.items():
        if not values:
            raise InputError(path, f"slot '{name}' has no values", field="slots")
    wrappers = tuple(str(w) for w in (data.get("wrappers") or ["{x}"]))
    for wrapper in wrappers:
        if "{x}" not in wrapper:
            raise InputError(path, f"wrapper {wrapper!r} lacks '{{x}}'", field="wrappers")
    templates = tuple(_template(raw, path=str(path), index=i) for i, raw in enumerate(data.get("templates") or []))
    seen: set[str] = set()
    for template in templates:
        if template.id in seen:
            raise InputError(path, f"duplicate template id '{template.id}'", field="id")
        seen.add(template.id)
    texts = [(t.id, p) for t in templates for p in t.patterns] + [(f"slot {k}", v) for k, vs in slots.items()
                                                                  for v in vs]
    for owner, text in texts:
        for name in SLOT.findall(text):
            if name not in slots:
                raise InputError(path, f"{owner}: unknown slot '{{{name}}}' in {text!r}", field="slots")
    missing = [c for c in CATEGORIES if not any(t.category == c for t in templates)]
    if missing:
        raise InputError(path, f"no template for categories {missing}", field="templates")
    return Library(templates=templates, slots=slots, wrappers=wrappers)


def fill(text: str, slots: dict[str, tuple[str, ...]], rng: random.Random, depth: int = 0) -> str:
    """Replace every ``{slot}`` in ``text`` by a random value, recursively."""
    if depth > MAX_DEPTH:
        raise ConfigError(f"router templates: slots nest deeper than {MAX_DEPTH} levels in {text!r}")
    return SLOT.sub(lambda m: fill(rng.choice(slots[m.group(1)]), slots, rng, depth + 1), text)


def tidy(text: str) -> str:
    """Collapse whitespace and doubled punctuation that wrappers can create."""
    text = re.sub(r"\s+", " ", text).strip()
    text = re.sub(r"\?\?+", "?", text.replace("?, thanks", ", thanks?"))
    return re.sub(r"\s+([,?!.])", r"\1", text)


def render(template: Template, library: Library, rng: random.Random) -> str:
    """One request from ``template``: a pattern, its slots filled, wrapped in a register.

    A pattern that starts with ``NO_WRAP`` ("= ") is a statement or a noun phrase
    ("{track} is way too loud") that no register wrapper fits.
    """
    pattern = rng.choice(template.patterns)
    bare = pattern.startswith(NO_WRAP)
    text = fill(pattern[len(NO_WRAP):] if bare else pattern, library.slots, rng)
    if template.wrap and not bare:
        text = rng.choice(library.wrappers).replace("{x}", text)
    return tidy(text)


def category_counts(size: int, shares: dict[str, float]) -> dict[str, int]:
    """Whole counts per category that sum to ``size`` (largest remainders)."""
    unknown = set(shares) - set(CATEGORIES)
    if unknown or set(shares) != set(CATEGORIES):
        raise ConfigError(f"router shares: expected exactly the keys {list(CATEGORIES)}, got {sorted(shares)}")
    total = sum(shares.values())
    if total <= 0 or any(v < 0 for v in shares.values()):
        raise ConfigError("router shares: expected non-negative shares with a positive sum")
    exact = {c: size * shares[c] / total for c in CATEGORIES}
    counts = {c: int(exact[c]) for c in CATEGORIES}
    for c in sorted(CATEGORIES, key=lambda c: exact[c] - counts[c], reverse=True)[: size - sum(counts.values())]:
        counts[c] += 1
    return counts


def generate(library: Library, *, size: int, shares: dict[str, float], seed: int,
             max_tries: int = 20) -> pd.DataFrame:
    """``size`` examples with the category ``shares``, templates used evenly within a category.

    A text already generated is redrawn up to ``max_tries`` times, so the table
    holds as few duplicates as the library allows.
    """
    rng = random.Random(seed)
    rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    for category, count in category_counts(size, shares).items():
        templates = library.by_category(category)
        for i in range(count):
            template = templates[i % len(templates)]
            for _ in range(max_tries):
                text = render(template, library, rng)
                if text.lower() not in seen:
                    break
            seen.add(text.lower())
            rows.append({"question": text, "needsDAW": template.needs_daw, "needsArranger": template.needs_arranger,
                         "confidence": template.confidence, "category": category, "operation": template.operation,
                         "template_id": template.id, "source": "template"})
    rng.shuffle(rows)
    return frame(rows)
