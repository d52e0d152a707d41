"""The repository's drum-MIDI labelling rules and groove settings, as the grooves and audio+MIDI tests use them."""

from __future__ import annotations

from conftest import ROOT
from musicml.config import load_yaml
from musicml.drums import grooves as g
from musicml.drums.audio_midi import rules_from_config
from musicml.drums.openness import load_calibration
from musicml.drums.soundfont import gm_drum_map

SR = 22050
TAXONOMY = load_yaml(ROOT / "configs/taxonomy.yaml")
PARAMS = load_yaml(ROOT / "params.yaml")
CURVE = load_calibration(ROOT / "configs/openness_calibration.json").curve()
RULES = rules_from_config(PARAMS["drum_midi"], gm_map=gm_drum_map(TAXONOMY), curve=CURVE,
                          priority=TAXONOMY["taxonomy"]["classes"])


def groove_config(**overrides) -> g.GrooveConfig:
    """params.yaml's ``sources.grooves`` as a :class:`GrooveConfig`, with ``overrides`` (e.g. a shorter take)."""
    settings = {k: PARAMS["sources"]["grooves"][k] for k in g.GrooveConfig.__dataclass_fields__}
    return g.GrooveConfig(**{**settings, **overrides})
