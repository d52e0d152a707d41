"""Hold out whole sessions (kits), never single hits, so test figures measure unseen kits."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from musicml.errors import ConfigError
from musicml.taxonomy import UNKNOWN

SPLITS = ("train", "val", "test", "openset")


def split_sessions(
    events: pd.DataFrame,
    *,
    val_fraction: float,
    test_fraction: float,
    seed: int,
    test_sessions: Sequence[str] = (),
    follow_sources: Sequence[str] = (),
    outlier_exposure: bool = False,
) -> pd.DataFrame:
    """Return ``events`` with a ``split`` column: train / val / test / openset.

    Sessions listed in ``test_sessions`` go to test; the rest are shuffled with
    ``seed`` and cut by the fractions *per source*, so every source is present
    in every split it can fill. Known-class events of a test session go to
    ``test``. Without ``outlier_exposure`` every ``unknown`` event goes to
    ``openset`` (open-set evaluation), whatever its session, and never to
    training. With it, ``unknown`` events follow their session like the rest:
    those of training sessions join ``train`` (outliers the loss pushes towards
    the uniform distribution), those of validation sessions join ``val`` (the
    validation open-set that chooses the score), and only those of test
    sessions go to ``openset``, so the open-set figure still measures kits the
    model never saw.

    Sessions of ``follow_sources`` that share their id with a session of
    another source (a groove played on a kit) are not drawn: they take that
    session's split, so a kit and everything played on it are held out
    together. Their sessions without such a twin are drawn like any other.
    """
    if not 0 <= val_fraction < 1 or not 0 <= test_fraction < 1 or val_fraction + test_fraction >= 1:
        raise ConfigError(f"split fractions must be in [0, 1) and sum below 1, got {val_fraction}, {test_fraction}")
    sessions = events[["source", "session_id"]].drop_duplicates().sort_values(["source", "session_id"])
    leaders = sessions[~sessions["source"].isin(list(follow_sources))]
    followers = sessions["source"].isin(list(follow_sources)) & sessions["session_id"].isin(leaders["session_id"])
    sessions = sessions[~followers]
    missing = sorted(set(test_sessions) - set(sessions["session_id"]))
    if missing:
        raise ConfigError(f"split.test_kits names sessions that are not in the data: {missing}")
    rng = np.random.default_rng(seed)
    assignment: dict[str, str] = {s: "test" for s in test_sessions}
    for _, group in sessions.groupby("source", sort=True):
        free = [s for s in group["session_id"] if s not in assignment]
        free = list(rng.permutation(free))
        forced_test = len(group) - len(free)
        n_test = max(0, int(round(test_fraction * len(group))) - forced_test)
        n_val = int(round(val_fraction * len(group)))
        if len(free) >= 3:  # keep at least one session for each of train/val/test
            n_test = max(n_test, 1 if forced_test == 0 else 0)
            n_val = max(n_val, 1)
        for i, session in enumerate(free):
            assignment[session] = "test" if i < n_test else "val" if i < n_test + n_val else "train"
    # Looked up once per session, not once per event: millions of events, thousands of sessions.
    codes, ids = pd.factorize(events["session_id"])
    per_session = np.array([assignment.get(s) for s in ids], dtype=object)
    split = pd.Series(per_session[codes], index=events.index)
    held_out = (events["label"] == UNKNOWN) & ((split == "test") | (not outlier_exposure))
    split = split.where(~held_out, "openset")
    return events.assign(split=split.astype("string"))
