"""The ``midi`` params section as checked objects (what every ``midi_`` stage reads first).

Stages pass the section in; nothing here opens params.yaml.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from musicml.errors import ConfigError
from musicml.midi.analysis import CONTOURS, RANGES
from musicml.midi.annotate import ARTICULATIONS, DYNAMICS
from musicml.midi.datasets import DatasetSpec, dataset_specs
from musicml.midi.synth import FAMILIES, SynthConfig, synth_config


@dataclass(frozen=True)
class MidiSettings:
    config: SynthConfig
    specs: dict[str, DatasetSpec]
    label_values: dict[str, dict[str, list[str]]]
    families: dict[str, list[str]]
    seed: int
    raw: Mapping[str, Any]


def label_values(config: SynthConfig) -> dict[str, dict[str, list[str]]]:
    """Allowed values of the categorical labels, per dataset."""
    emotions = list(config.emotions)
    return {
        "emotion": {"emotion": emotions},
        "melody": {"contour": list(CONTOURS), "range": list(RANGES), "emotion": emotions},
        "harmony": {"emotion": emotions},
        "dynamics": {"articulation": list(ARTICULATIONS), "dynamics": list(DYNAMICS)},
        "groove": {"groove_type": list(config.grooves)},
    }


def load_settings(midi: Mapping[str, Any]) -> MidiSettings:
    """Check the ``midi`` section; any bad value is one :class:`ConfigError` line."""
    if not isinstance(midi, Mapping):
        raise ConfigError("params: 'midi' must be a mapping")
    config = synth_config(midi)
    families = {name: list(midi.get("synth", {}).get("families", {}).get(name) or FAMILIES[name]) for name in FAMILIES}
    for name, fams in families.items():
        unknown = set(fams) - set(FAMILIES[name])
        if unknown:
            raise ConfigError(f"midi.synth.families.{name}: unknown {sorted(unknown)}; known {list(FAMILIES[name])}")
    specs = dataset_specs(midi, {name: config.categories(name) for name in FAMILIES})
    for name, spec in specs.items():
        if spec.test_family not in families[name]:
            raise ConfigError(f"midi.datasets.{name}.test_family: '{spec.test_family}' is not one of the generator "
                              f"families {families[name]}")
    seed = midi.get("seed")
    if not isinstance(seed, int):
        raise ConfigError(f"midi.seed must be an integer, got {seed!r}")
    return MidiSettings(config=config, specs=specs, label_values=label_values(config), families=families, seed=seed,
                        raw=midi)
