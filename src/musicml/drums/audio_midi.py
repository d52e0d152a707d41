"""Recordings with aligned MIDI: ``<name>.wav`` + ``<name>.mid`` pairs -> events manifest.

The MIDI follows the General MIDI drum map on channel 10 (``gm_drums`` of
configs/taxonomy.yaml), with the hi-hat pedal as CC4 (calibrated to openness by
:mod:`musicml.drums.openness`). This is how the seed's real datasets come, and
exactly what the grooves source writes, so one reader serves both.

Notes become events by a few rules (:class:`MidiRules`), so that one event is
one audible onset, as the merge stage expects:

* notes of different classes closer than ``simultaneous_s`` are one event
  (the first note's class is the label, the others ``extra_labels``);
* two cymbal notes of one class (different GM notes) closer than ``layer_s``
  are one event tagged ``multi_cymbal_same_class``;
* a softer note followed by the same drum within ``flam_s`` is a ``flam``
  (the event sits at the grace note, as the synthesizer's flams do);
* a snare at velocity <= ``ghost_max_velocity`` is a ``ghost`` note;
* an open hi-hat closed by the pedal within ``bark_s`` is a ``hihat_bark``.

Groove-level techniques come from the MIDI's tempo and meter maps: events
after a tempo change by a simple ratio (3:2, 4:3, ...) are
``metric_modulation``; every event of a take with changing or odd meters
(5/4, 7/8) is ``variable_meter``.
"""

from __future__ import annotations

import math
import os
import warnings
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from musicml.audio import audio_duration
from musicml.drums.openness import CC_HIHAT_PEDAL, OpennessCurve
from musicml.errors import ConfigError, InputError
from musicml.manifest import empty_events, events_frame

SOURCE = "audio_midi"
GM_DRUM_CHANNEL = 9  # channel 10, counted from 1
HIHATS = ("hihat_closed", "hihat_pedal", "hihat_open")
CYMBALS = ("crash", "ride")
FLAM_DRUMS = ("snare", "tom_high", "tom_mid", "tom_low")
DEFAULT_OPENNESS = {"hihat_open": 1.0, "hihat_closed": 0.0, "hihat_pedal": 0.0}
# A tempo change by one of these ratios (p:q, p != q, both <= 4) is a metric modulation.
MODULATION_RATIOS = tuple(sorted({Fraction(p, q) for p in range(1, 5) for q in range(1, 5) if p != q}))
_EPS = 1e-6


class AudioMidiWarning(UserWarning):
    """A recoverable problem in an audio + MIDI pair (an unknown note skipped)."""


@dataclass(frozen=True)
class MidiRules:
    """How MIDI notes of a drum performance become labelled events.

    Parameters
    ----------
    gm_map : mapping of int to str
        GM note -> label (``gm_drums`` of configs/taxonomy.yaml).
    curve : OpennessCurve
        CC4 -> openness.
    on_unknown_note : {"skip", "error"}
        A note that ``gm_map`` lacks: warn and drop it, or fail.
    simultaneous_s, layer_s, flam_s, bark_s : float
        Windows of the rules in the module docstring, seconds.
    ghost_max_velocity : int
        Snares at or below this velocity are ghost notes.
    priority : sequence of str
        Of notes merged into one event, the label first in this order is the
        event's label (the taxonomy's class order); the rest are extra labels.
    modulation_tolerance : float
        Relative tolerance of a tempo ratio against 3:2, 4:3, ...
    """

    gm_map: Mapping[int, str]
    curve: OpennessCurve
    on_unknown_note: str = "skip"
    simultaneous_s: float = 0.01
    layer_s: float = 0.01
    flam_s: float = 0.05
    bark_s: float = 0.3
    ghost_max_velocity: int = 40
    modulation_tolerance: float = 0.01
    priority: Sequence[str] = ()

    def __post_init__(self) -> None:
        if self.on_unknown_note not in ("skip", "error"):
            raise ConfigError(f"on_unknown_note must be 'skip' or 'error', got {self.on_unknown_note!r}")
        for name in ("simultaneous_s", "layer_s", "flam_s", "bark_s"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not 0 <= value < 1:
                raise ConfigError(f"{name} must be a number of seconds in [0, 1), got {value!r}")


RULE_KEYS = ("simultaneous_s", "layer_s", "flam_s", "bark_s", "ghost_max_velocity", "modulation_tolerance")


def rules_from_config(cfg: Mapping, *, gm_map: Mapping[int, str], curve: OpennessCurve,
                      priority: Sequence[str], on_unknown_note: str = "skip") -> MidiRules:
    """:class:`MidiRules` from the ``drum_midi`` params section (the keys of :data:`RULE_KEYS`)."""
    missing = [k for k in RULE_KEYS if k not in cfg]
    if missing:
        raise ConfigError(f"params: drum_midi lacks {missing}")
    return MidiRules(gm_map=dict(gm_map), curve=curve, on_unknown_note=on_unknown_note,
                     priority=tuple(priority), **{k: cfg[k] for k in RULE_KEYS})


@dataclass(frozen=True)
class Note:
    """One drum note: onset (s), GM note number and velocity."""

    time: float
    pitch: int
    velocity: int


@dataclass
class DrumMidi:
    """The parts of a drum MIDI file that labelling needs (times in seconds)."""

    notes: list[Note]
    cc4: list[tuple[float, int]]
    tempos: list[tuple[float, float]]
    meters: list[tuple[float, int, int]]
    end_s: float = 0.0
    path: str = "<midi>"


def read_drum_midi(path: str | os.PathLike) -> DrumMidi:
    """Read the channel-10 notes, CC4, tempo and meter maps of a MIDI file.

    Raises
    ------
    InputError
        The file is missing or not a readable MIDI file, or holds no note on channel 10.
    """
    import pretty_midi

    path = str(path)
    if not os.path.exists(path):
        raise InputError(path, "MIDI file not found")
    try:
        midi = pretty_midi.PrettyMIDI(path)
    except Exception as exc:  # mido/pretty_midi raise many types for a corrupt file
        raise InputError(path, f"not a readable MIDI file ({type(exc).__name__}: {exc})") from exc
    notes: list[Note] = []
    cc4: list[tuple[float, int]] = []
    for instrument in midi.instruments:
        if not instrument.is_drum:
            continue  # pitched parts of a full arrangement carry no drum labels
        notes += [Note(float(n.start), int(n.pitch), int(n.velocity)) for n in instrument.notes if n.velocity > 0]
        cc4 += [(float(c.time), int(c.value)) for c in instrument.control_changes if c.number == CC_HIHAT_PEDAL]
    if not notes:
        raise InputError(path, "no drum notes on MIDI channel 10 (General MIDI drum map expected)", field="notes")
    times, bpms = midi.get_tempo_changes()
    meters = [(float(ts.time), int(ts.numerator), int(ts.denominator)) for ts in midi.time_signature_changes]
    return DrumMidi(
        notes=sorted(notes, key=lambda n: (n.time, n.pitch)), cc4=sorted(cc4),
        tempos=[(float(t), float(b)) for t, b in zip(times, bpms)], meters=meters or [(0.0, 4, 4)],
        end_s=float(midi.get_end_time()), path=path,
    )


def _is_odd_meter(numerator: int) -> bool:
    """5/4, 7/8, 11/8 ...: beats that group neither in twos nor in threes."""
    return numerator > 3 and numerator % 2 != 0 and numerator % 3 != 0


def modulation_times(tempos: Sequence[tuple[float, float]], *, tolerance: float = 0.01) -> list[tuple[float, float]]:
    """``(start, end)`` of each section that follows a tempo change by a simple ratio (3:2, 2:3, 4:3 ...)."""
    sections = []
    for i in range(1, len(tempos)):
        ratio = tempos[i][1] / tempos[i - 1][1]
        if any(abs(ratio / float(r) - 1) <= tolerance for r in MODULATION_RATIOS):
            end = tempos[i + 1][0] if i + 1 < len(tempos) else math.inf
            sections.append((tempos[i][0], end))
    return sections


def _openness(label: str, time: float, cc4: Sequence[tuple[float, int]], curve: OpennessCurve) -> float | None:
    if label not in HIHATS:
        return None
    # The pedal position is the last CC4 at or just before the note (sent on the same tick, before it).
    i = int(np.searchsorted([t for t, _ in cc4], time + _EPS, side="right")) - 1
    return round(curve(cc4[i][1]), 4) if i >= 0 else DEFAULT_OPENNESS[label]


def _cluster(hits: Sequence[tuple[Note, str]], rules: MidiRules) -> list[list[tuple[Note, str]]]:
    """Group notes that sound as one onset: simultaneous classes, layered cymbals, flams."""
    clusters: list[list[tuple[Note, str]]] = []
    for note, label in hits:
        if label in CYMBALS:
            # A second cymbal of the class may land after another instrument opened a new onset.
            layered = next((c for c in clusters[-2:] if any(
                lab == label and n.pitch != note.pitch and note.time - n.time <= rules.layer_s for n, lab in c)
                and note.pitch not in {n.pitch for n, lab in c}), None)
            if layered is not None:
                layered.append((note, label))
                continue
        if clusters:
            cluster = clusters[-1]
            gap = note.time - cluster[0][0].time
            same = [n for n, lab in cluster if lab == label]
            if same:
                if label in CYMBALS and gap <= rules.layer_s and note.pitch not in {n.pitch for n in same}:
                    cluster.append((note, label))
                    continue
                if label in FLAM_DRUMS and len(same) == 1 and rules.layer_s < gap <= rules.flam_s \
                        and same[0].velocity < note.velocity:
                    cluster.append((note, label))
                    continue
                if gap <= rules.layer_s:
                    continue  # a double trigger of one drum: one stroke
            elif gap <= rules.simultaneous_s:
                cluster.append((note, label))
                continue
        clusters.append([(note, label)])
    return clusters


def _event(cluster: Sequence[tuple[Note, str]], rules: MidiRules, cc4: Sequence[tuple[float, int]]) -> dict:
    rank = {label: i for i, label in enumerate(rules.priority)}
    labels = [label for _, label in cluster]
    primary = min(labels, key=lambda lab: (rank.get(lab, len(rank)), labels.index(lab)))
    strokes = [n for n, lab in cluster if lab == primary]
    techniques: set[str] = set()
    extra = list(labels)
    extra.remove(primary)
    if any(len({n.pitch for n, lab in cluster if lab == cymbal}) > 1 for cymbal in CYMBALS):
        techniques.add("multi_cymbal_same_class")
    if len(strokes) > 1 and primary in FLAM_DRUMS:
        techniques.add("flam")
        extra.remove(primary)  # the grace note is part of the stroke, not a second hit
    velocity = max(n.velocity for n in strokes)
    if primary == "snare" and "flam" not in techniques and velocity <= rules.ghost_max_velocity:
        techniques.add("ghost")
    return {"onset_s": cluster[0][0].time, "label": primary, "extra_labels": sorted(extra),
            "techniques": techniques, "velocity": velocity, "openness": _openness(primary, strokes[0].time, cc4,
                                                                                  rules.curve)}


def midi_events(midi: DrumMidi, rules: MidiRules) -> list[dict]:
    """Labelled events of a drum performance (see the module docstring for the rules).

    Returns
    -------
    list of dict
        In time order: ``onset_s``, ``label`` (of merged notes, the one first in
        ``rules.priority``), ``extra_labels``, ``techniques``, ``velocity``, ``openness``.
    """
    hits: list[tuple[Note, str]] = []
    for note in midi.notes:
        label = rules.gm_map.get(note.pitch)
        if label is None:
            message = f"GM note {note.pitch} at {note.time:.3f} s is not in the drum map (configs/taxonomy.yaml gm_drums)"
            if rules.on_unknown_note == "error":
                raise InputError(midi.path, message, field="note")
            warnings.warn(f"{midi.path}: {message}; skipped", AudioMidiWarning, stacklevel=2)
            continue
        hits.append((note, label))
    clusters = _cluster(hits, rules)
    events = [_event(cluster, rules, midi.cc4) for cluster in clusters]

    # An open stroke closed by the pedal within bark_s barks (the pedal often lands with a kick).
    strokes = [(note.time, label, i) for i, cluster in enumerate(clusters) for note, label in cluster
               if label in HIHATS]
    for (t, label, i), (next_t, next_label, _) in zip(strokes, strokes[1:]):
        if label == "hihat_open" == events[i]["label"] and next_label == "hihat_pedal" and next_t - t <= rules.bark_s:
            events[i]["techniques"].add("hihat_bark")

    meters = {(n, d) for _, n, d in midi.meters}
    variable = len(meters) > 1 or any(_is_odd_meter(n) for n, _ in meters)
    modulated = modulation_times(midi.tempos, tolerance=rules.modulation_tolerance)
    for event in events:
        if variable:
            event["techniques"].add("variable_meter")
        if any(start - _EPS <= event["onset_s"] < end for start, end in modulated):
            event["techniques"].add("metric_modulation")
        event["techniques"] = sorted(event["techniques"])
    return events


@dataclass(frozen=True)
class AudioMidiPair:
    """One recording and its MIDI."""

    name: str
    audio: Path
    midi: Path


def find_pairs(folder: str | os.PathLike) -> list[AudioMidiPair]:
    """Every ``<name>.wav`` + ``<name>.mid`` pair under ``folder`` (recursively).

    Raises
    ------
    InputError
        A file without its partner, or a folder with no pair at all.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(folder, "audio_midi source folder not found")
    audio = {p.with_suffix(""): p for p in folder.rglob("*") if p.suffix.lower() in (".wav", ".flac")}
    midi = {p.with_suffix(""): p for p in folder.rglob("*") if p.suffix.lower() in (".mid", ".midi")}
    for stem in sorted(audio.keys() ^ midi.keys()):
        lonely = audio.get(stem) or midi.get(stem)
        partner = "MIDI (.mid)" if stem in audio else "audio (.wav)"
        raise InputError(lonely, f"has no {partner} partner named {stem.name}.*")
    if not audio:
        raise InputError(folder, "empty source: no <name>.wav + <name>.mid pair found")
    return [AudioMidiPair(stem.relative_to(folder).as_posix(), audio[stem], midi[stem]) for stem in sorted(audio)]


def pair_events(pair: AudioMidiPair, rules: MidiRules, *, source: str, session_id: str, kit: str,
                audio_path: str | None = None) -> list[dict]:
    """Manifest rows of one pair; a note at or past the end of the audio is an error."""
    midi = read_drum_midi(pair.midi)
    duration = audio_duration(pair.audio)
    late = next((n for n in midi.notes if n.time >= duration), None)
    if late is not None:
        raise InputError(pair.midi, f"note {late.pitch} at {late.time:.3f} s is past the end of "
                                    f"{pair.audio.name} ({duration:.3f} s): audio and MIDI are not aligned",
                         field="notes")
    path = audio_path or pair.audio.as_posix()
    return [{"source": source, "session_id": session_id, "kit": kit, "audio_path": path, **event}
            for event in midi_events(midi, rules)]


def ingest_audio_midi(folder: str | os.PathLike, rules: MidiRules, *, source: str = SOURCE) -> pd.DataFrame:
    """The events manifest of every pair under ``folder``.

    Each pair is its own session (``audio_midi:<relative name>``); its kit is
    the sub-folder it lies in (the source folder's name at the top level), so
    recordings of one kit share a kit name.
    """
    folder = Path(folder)
    rows: list[dict] = []
    for pair in find_pairs(folder):
        parent = Path(pair.name).parent
        kit = folder.name if parent == Path(".") else parent.as_posix()
        rows += pair_events(pair, rules, source=source, session_id=f"{source}:{pair.name}", kit=kit)
    if not rows:
        return empty_events()
    return events_frame(rows, origin=str(folder))
