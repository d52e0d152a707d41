"""The drum taxonomy and the ordered rules that map source instrument names onto it.

Both are data (``params.yaml`` → ``taxonomy``), never code: a stage builds a
:class:`Taxonomy` from its params section and passes it down.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Iterable, Mapping

from musicml.errors import ConfigError

UNKNOWN = "unknown"


@dataclass(frozen=True)
class MappingRule:
    """``pattern`` (a case-insensitive regex searched in the name) maps to ``label``."""

    pattern: re.Pattern
    label: str


@dataclass(frozen=True)
class Taxonomy:
    """An ordered list of class names plus name-mapping rules.

    Parameters
    ----------
    classes : tuple of str
        The trainable classes, in model-output order.
    rules : tuple of MappingRule
        Tried in order; the first rule whose pattern matches an instrument name
        wins. A rule may map to ``unknown`` to mark a sound as deliberately
        out-of-taxonomy (open-set material).
    """

    classes: tuple[str, ...]
    rules: tuple[MappingRule, ...] = field(default=())

    def __post_init__(self) -> None:
        if len(set(self.classes)) != len(self.classes):
            raise ConfigError(f"taxonomy.classes has duplicates: {list(self.classes)}")
        if UNKNOWN in self.classes:
            raise ConfigError(f"taxonomy.classes must not contain '{UNKNOWN}'; it is the open-set label")
        for rule in self.rules:
            if rule.label not in self.classes and rule.label != UNKNOWN:
                raise ConfigError(
                    f"taxonomy rule '{rule.pattern.pattern}' maps to '{rule.label}', "
                    f"expected one of {list(self.classes)} or '{UNKNOWN}'"
                )

    @classmethod
    def from_params(cls, classes: Iterable[str], rules: Iterable[Mapping[str, str]] = ()) -> "Taxonomy":
        """Build from the params form: ``rules`` is a list of ``{pattern, label}`` dicts."""
        compiled = []
        for i, rule in enumerate(rules):
            try:
                compiled.append(MappingRule(re.compile(rule["pattern"], re.IGNORECASE), rule["label"]))
            except (KeyError, TypeError) as exc:
                raise ConfigError(f"taxonomy.rules[{i}]: expected {{pattern, label}}, got {rule!r}") from exc
            except re.error as exc:
                raise ConfigError(f"taxonomy.rules[{i}]: bad regex {rule['pattern']!r}: {exc}") from exc
        return cls(classes=tuple(classes), rules=tuple(compiled))

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    def map_name(self, name: str) -> str:
        """Return the class of an instrument ``name``, or ``unknown`` when no rule matches."""
        for rule in self.rules:
            if rule.pattern.search(name):
                return rule.label
        return UNKNOWN

    def index(self, label: str) -> int:
        """Model-output index of ``label``."""
        return self.classes.index(label)

    def is_known(self, label: str) -> bool:
        return label in self.classes
