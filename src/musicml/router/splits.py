"""Train / validation / test split by whole template family.

Rows of one template id (its generated phrasings and their paraphrases) all
land in one split, so validation and test measure phrasings that no training
row used, not memorisation of a pattern with other slot values.
"""

from __future__ import annotations

import random

import pandas as pd

from musicml.errors import ConfigError
from musicml.router.examples import CATEGORIES


def split_by_template(df: pd.DataFrame, *, val_fraction: float, test_fraction: float, seed: int) -> pd.Series:
    """The split (``train``, ``val``, ``test``) of every row, by template id within each category.

    Every category with three or more template ids gets at least one in each
    of val and test, and keeps at least one for training.
    """
    if not (0 <= val_fraction < 1 and 0 <= test_fraction < 1 and val_fraction + test_fraction < 1):
        raise ConfigError("router.split: expected val_fraction + test_fraction < 1, both >= 0")
    rng = random.Random(seed)
    assignment: dict[str, str] = {}
    for category in CATEGORIES:
        ids = sorted(df.loc[df["category"] == category, "template_id"].unique())
        rng.shuffle(ids)
        n = len(ids)
        n_test = max(1, round(test_fraction * n)) if n >= 3 and test_fraction > 0 else 0
        n_val = max(1, round(val_fraction * n)) if n >= 3 and val_fraction > 0 else 0
        for i, template_id in enumerate(ids):
            assignment[template_id] = "test" if i < n_test else "val" if i < n_test + n_val else "train"
    return df["template_id"].map(assignment).rename("split")
