"""Read Hydrogen drum kits (``drumkit.xml`` plus samples) as events-manifest rows.

A Hydrogen kit is a folder holding ``drumkit.xml`` and the sample files it
names. Each sample is a one-shot recording of a single hit, so every sample
layer becomes one event whose onset is the start of the sound in its file.

Two XML layouts exist in the wild and both are read:

* old kits put ``<filename>`` directly in ``<instrument>`` (one sample, played
  at every velocity);
* newer kits give each instrument ``<layer>`` elements (``<filename>``,
  ``<min>``/``<max>`` velocity range 0-1, ``<gain>``, ``<pitch>``), possibly
  wrapped in ``<instrumentComponent>``; the root may carry an XML namespace.

Labels come from the taxonomy's name rules, applied to the instrument name;
names no rule matches stay ``unknown`` (open-set material), deliberately.
"""

from __future__ import annotations

import os
import re
import unicodedata
import warnings
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Iterator

import numpy as np
import pandas as pd
import soundfile as sf

from musicml.audio import first_onset
from musicml.errors import InputError
from musicml.manifest import events_frame
from musicml.taxonomy import Taxonomy

SOURCE = "hydrogen"
DRUMKIT_XML = "drumkit.xml"
SESSION_PREFIX = "hydrogen-"
# Hydrogen's stand-in for "no sample": unused pads in many kits point at it.
PLACEHOLDER_SAMPLE = "emptysample.flac"
# A one-shot "starts" at its first sample louder than this, relative to its peak.
SILENCE_DB = -50.0
# Leading silence shorter than this is ignored (onset stays 0.0): it is below
# the resolution any onset model works at and would only jitter the event ids.
MIN_LEADING_SILENCE_S = 0.005

# (technique, regex on the instrument name, labels it applies to or None for any).
# "bell" is restricted to cymbals so that e.g. a dunun "Bell Hit" (unknown) gets none.
_TECHNIQUES: tuple[tuple[str, re.Pattern, frozenset[str] | None], ...] = (
    ("rimshot", re.compile(r"rim[ _-]?shot", re.I), None),
    ("cross_stick", re.compile(r"(side|cross)[ _-]?stick", re.I), None),
    ("choke", re.compile(r"chok", re.I), None),
    ("bell", re.compile(r"\bbell\b|\bcup\b", re.I), frozenset({"ride", "crash"})),
)
_HALF_OPEN = re.compile(r"semi|half", re.I)


class KitWarning(UserWarning):
    """Something in a kit was skipped or resolved by a rule; the message says what."""


@dataclass(frozen=True)
class Layer:
    """One sample of an instrument and the velocity range (0-1) it plays at."""

    filename: str
    min_velocity: float = 0.0
    max_velocity: float = 1.0
    gain: float = 1.0
    pitch: float = 0.0


@dataclass(frozen=True)
class Instrument:
    """A pad of the kit: its name and its sample layers (possibly none)."""

    name: str
    layers: tuple[Layer, ...]


@dataclass(frozen=True)
class Drumkit:
    """The parts of ``drumkit.xml`` the manifest needs."""

    name: str
    instruments: tuple[Instrument, ...]


# --------------------------------------------------------------------------- XML


def _strip_namespaces(root: ET.Element) -> None:
    """Drop ``{namespace}`` prefixes in place so lookups work for every kit version."""
    for element in root.iter():
        if isinstance(element.tag, str) and "}" in element.tag:
            element.tag = element.tag.split("}", 1)[1]


def _load_xml(xml_path: Path) -> ET.Element:
    """Parse ``xml_path``; a malformed file raises an InputError naming its line."""
    if not xml_path.is_file():
        raise InputError(xml_path, f"{DRUMKIT_XML} not found: not a Hydrogen kit folder")
    try:
        root = ET.parse(xml_path).getroot()
    except ET.ParseError as exc:
        line, column = getattr(exc, "position", (None, 0))
        reason = re.sub(r":\s*line \d+, column \d+$", "", str(exc))
        raise InputError(xml_path, f"not well-formed XML: {reason} (column {column})", line=line) from exc
    _strip_namespaces(root)
    if root.tag != "drumkit_info":
        raise InputError(xml_path, f"expected a <drumkit_info> root element, got <{root.tag}>")
    return root


def _number(element: ET.Element, tag: str, default: float, *, xml_path: Path, instrument: str) -> float:
    """Read a numeric child of a layer, naming the instrument when it is not a number."""
    text = element.findtext(tag)
    if text is None or not text.strip():
        return default
    try:
        value = float(text)
    except ValueError:
        raise InputError(
            xml_path, f"instrument '{instrument}': <{tag}> is not a number: {text.strip()!r}", field=tag
        ) from None
    if not np.isfinite(value):
        raise InputError(xml_path, f"instrument '{instrument}': <{tag}> is not finite: {text.strip()!r}", field=tag)
    return value


def _layers(element: ET.Element, *, xml_path: Path, name: str) -> tuple[Layer, ...]:
    """The sample layers of one ``<instrument>``, for either XML layout."""
    # iter() also finds layers nested in <instrumentComponent> (Hydrogen >= 0.9.7).
    layers = []
    for layer in element.iter("layer"):
        filename = (layer.findtext("filename") or "").strip()
        if not filename:
            continue
        layers.append(Layer(
            filename=filename,
            min_velocity=_number(layer, "min", 0.0, xml_path=xml_path, instrument=name),
            max_velocity=_number(layer, "max", 1.0, xml_path=xml_path, instrument=name),
            gain=_number(layer, "gain", 1.0, xml_path=xml_path, instrument=name),
            pitch=_number(layer, "pitch", 0.0, xml_path=xml_path, instrument=name),
        ))
    if layers:
        return tuple(layers)
    # Old layout: one <filename> directly in <instrument>, which Hydrogen loads
    # as a single layer covering the whole velocity range.
    filename = (element.findtext("filename") or "").strip()
    return (Layer(filename=filename),) if filename else ()


def read_drumkit_xml(xml_path: str | os.PathLike) -> Drumkit:
    """Parse a Hydrogen ``drumkit.xml`` into a :class:`Drumkit`.

    Parameters
    ----------
    xml_path : path
        The ``drumkit.xml`` file.

    Returns
    -------
    Drumkit
        The kit name (the folder name when ``<name>`` is empty) and every
        instrument in file order, including ones without samples.

    Raises
    ------
    InputError
        The file is missing, is not well-formed XML (naming the line), has
        another root element, or a layer holds a non-numeric value.
    """
    xml_path = Path(xml_path)
    root = _load_xml(xml_path)
    kit_name = (root.findtext("name") or "").strip() or xml_path.parent.name
    instruments = []
    for element in root.iter("instrument"):
        name = (element.findtext("name") or "").strip()
        instruments.append(Instrument(name=name, layers=_layers(element, xml_path=xml_path, name=name)))
    return Drumkit(name=kit_name, instruments=tuple(instruments))


# ------------------------------------------------------------------------- audio


def sample_onset_s(audio_path: str | os.PathLike, *, instrument: str = "") -> float:
    """Onset of a one-shot sample: 0.0, or the end of a leading silence.

    A sample whose first :data:`MIN_LEADING_SILENCE_S` or more stay below
    :data:`SILENCE_DB` relative to the file's peak starts at its first sample
    above that threshold; anything shorter counts as starting at 0.0.

    Raises
    ------
    InputError
        The file cannot be read, holds no frames, or is digital silence.
    """
    owner = f" (instrument '{instrument}')" if instrument else ""
    try:
        data, rate = sf.read(str(audio_path), dtype="float32", always_2d=True)
    except (sf.SoundFileError, RuntimeError, OSError, ValueError) as exc:
        reason = " ".join(str(exc).split())
        raise InputError(audio_path, f"unreadable audio{owner}: {reason}") from exc
    if data.shape[0] == 0:
        raise InputError(audio_path, f"empty audio file{owner}: no frames")
    envelope = np.abs(data).max(axis=1)
    peak = float(envelope.max())
    if peak == 0.0:
        raise InputError(audio_path, f"silent audio file{owner}: every sample is zero")
    # The same leading-silence rule as `musicml predict` uses, on the loudest channel.
    onset = first_onset(envelope, rate, threshold_db=SILENCE_DB)
    return onset if onset > MIN_LEADING_SILENCE_S else 0.0


# ------------------------------------------------------------------ event fields


def slugify(text: str) -> str:
    """Lower-case ASCII slug: runs of other characters become one ``-``."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")


def kit_session_id(kit_dir: str | os.PathLike) -> str:
    """Session id of a kit folder: ``hydrogen-`` plus the slug of the folder name."""
    slug = slugify(Path(kit_dir).name)
    if not slug:
        raise InputError(kit_dir, "kit folder name has no letters or digits to build a session id from")
    return SESSION_PREFIX + slug


def layer_velocity(layer: Layer) -> int:
    """MIDI velocity at the middle of the layer's 0-1 range, clamped to 1-127."""
    low = min(max(layer.min_velocity, 0.0), 1.0)
    high = min(max(layer.max_velocity, 0.0), 1.0)
    return int(min(max(round(127 * (low + high) / 2), 1), 127))


def infer_techniques(name: str, label: str) -> list[str]:
    """Playing techniques named in an instrument name (``rimshot``, ``choke``, ...)."""
    return [
        technique for technique, pattern, labels in _TECHNIQUES
        if pattern.search(name) and (labels is None or label in labels)
    ]


def hihat_openness(name: str, label: str) -> float | None:
    """Openness 0-1 for hi-hat labels (0.5 for semi/half-open hats), else None."""
    if label in ("hihat_closed", "hihat_pedal"):
        return 0.0
    if label == "hihat_open":
        return 0.5 if _HALF_OPEN.search(name) else 1.0
    return None


# -------------------------------------------------------------------------- kits


def _resolve_sample(kit_dir: Path, filename: str, *, xml_path: Path, instrument: str) -> Path:
    """The sample's path inside the kit; absolute names would not travel with the kit."""
    relative = PurePosixPath(filename.replace("\\", "/"))
    if relative.is_absolute() or ".." in relative.parts:
        raise InputError(
            xml_path, f"instrument '{instrument}': sample path '{filename}' must be relative to the kit folder"
        )
    return kit_dir / relative


def _usable_layers(
    kit: Drumkit, kit_dir: Path, *, xml_path: Path, on_missing: str
) -> Iterator[tuple[Instrument, Layer, Path]]:
    """Every (instrument, layer, sample path) with a real sample file, in file order."""
    for instrument in kit.instruments:
        for layer in instrument.layers:
            if PurePosixPath(layer.filename).name.lower() == PLACEHOLDER_SAMPLE:
                continue
            path = _resolve_sample(kit_dir, layer.filename, xml_path=xml_path, instrument=instrument.name)
            if not path.is_file():
                message = f"instrument '{instrument.name}': sample file '{layer.filename}' not found"
                if on_missing == "error":
                    raise InputError(xml_path, message)
                warnings.warn(f"{xml_path}: {message}; layer skipped", KitWarning, stacklevel=2)
                continue
            yield instrument, layer, path


def parse_drumkit(
    kit_dir: str | os.PathLike,
    *,
    taxonomy: Taxonomy,
    source: str = SOURCE,
    on_missing: str = "error",
) -> pd.DataFrame:
    """Events of one Hydrogen kit folder: one row per distinct sample file.

    Parameters
    ----------
    kit_dir : path
        The kit folder, as the manifest should show it (pass a path relative to
        the repository root): ``audio_path`` is ``kit_dir / <filename>``.
    taxonomy : Taxonomy
        Maps instrument names to labels; unmatched names become ``unknown``.
    source : str
        The manifest ``source`` column.
    on_missing : {"error", "skip"}
        What to do with a layer whose sample file is missing: raise, or warn
        (:class:`KitWarning`) and skip it. Some published kits ship such a
        dangling reference (Millo_MultiLayered2's "Cowbell").

    Returns
    -------
    pandas.DataFrame
        An events manifest (see :mod:`musicml.manifest`) in ``drumkit.xml`` order.
        Instruments without samples and Hydrogen's ``emptySample.flac``
        placeholder are skipped. A file used by several layers or instruments
        is one event, labelled by its first use; a later use with another label
        is reported with a :class:`KitWarning`.

    Raises
    ------
    InputError
        One line naming the file: missing or malformed ``drumkit.xml`` (with the
        line), a missing sample (with the instrument), an empty, silent or
        unreadable audio file, or a kit with no usable sample at all.
    """
    if on_missing not in ("error", "skip"):
        raise ValueError(f"on_missing must be 'error' or 'skip', got {on_missing!r}")
    kit_dir = Path(kit_dir)
    xml_path = kit_dir / DRUMKIT_XML
    kit = read_drumkit_xml(xml_path)
    session_id = kit_session_id(kit_dir)
    rows: dict[str, dict] = {}
    first_use: dict[str, tuple[str, str]] = {}  # audio_path -> (instrument, label)
    for instrument, layer, path in _usable_layers(kit, kit_dir, xml_path=xml_path, on_missing=on_missing):
        label = taxonomy.map_name(instrument.name)
        audio_path = path.as_posix()
        if audio_path in first_use:
            # The same file twice would be the same event id twice; keep its first use.
            _warn_on_relabel(audio_path, first_use[audio_path], (instrument.name, label), xml_path)
            continue
        first_use[audio_path] = (instrument.name, label)
        rows[audio_path] = {
            "source": source,
            "session_id": session_id,
            "kit": kit.name,
            "audio_path": audio_path,
            "onset_s": sample_onset_s(path, instrument=instrument.name),
            "label": label,
            "techniques": infer_techniques(instrument.name, label),
            "velocity": layer_velocity(layer),
            "openness": hihat_openness(instrument.name, label),
        }
    if not rows:
        raise InputError(xml_path, "kit has no usable sample: every instrument is empty or a placeholder")
    return events_frame(rows.values(), origin=str(xml_path))


def _warn_on_relabel(audio_path: str, first: tuple[str, str], later: tuple[str, str], xml_path: Path) -> None:
    """Warn when a sample already used under one label is reused under another."""
    if later[1] != first[1]:
        warnings.warn(
            f"{xml_path}: sample '{audio_path}' is used by '{first[0]}' ({first[1]}) "
            f"and '{later[0]}' ({later[1]}); kept as {first[1]}",
            KitWarning,
            stacklevel=2,
        )


def kit_dirs(root: str | os.PathLike) -> list[Path]:
    """Sub-folders of ``root`` that hold a ``drumkit.xml``, sorted by name."""
    root = Path(root)
    if not root.is_dir():
        raise InputError(root, "kit folder not found")
    return sorted(
        (p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".") and (p / DRUMKIT_XML).is_file()),
        key=lambda p: p.name,
    )


def parse_kits(
    root: str | os.PathLike,
    *,
    taxonomy: Taxonomy,
    source: str = SOURCE,
    on_missing: str = "error",
) -> pd.DataFrame:
    """Events of every kit folder under ``root``, kit by kit in name order.

    Parameters
    ----------
    root : path
        A folder of kit folders (each holding ``drumkit.xml``); other entries
        are ignored.
    taxonomy, source, on_missing
        As for :func:`parse_drumkit`.

    Raises
    ------
    InputError
        ``root`` holds no kit, two kit folders give the same session id, or any
        kit fails :func:`parse_drumkit`.
    """
    dirs = kit_dirs(root)
    if not dirs:
        raise InputError(root, f"no Hydrogen kit found: expected sub-folders holding {DRUMKIT_XML}")
    seen: dict[str, Path] = {}
    for kit_dir in dirs:
        session_id = kit_session_id(kit_dir)
        if session_id in seen:
            raise InputError(
                kit_dir, f"session id '{session_id}' is also that of '{seen[session_id].name}'; rename one"
            )
        seen[session_id] = kit_dir
    frames = [parse_drumkit(d, taxonomy=taxonomy, source=source, on_missing=on_missing) for d in dirs]
    return pd.concat(frames, ignore_index=True)
