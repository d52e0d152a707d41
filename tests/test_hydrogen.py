"""Hydrogen kit parsing: both XML layouts, event fields, every error, and the real kits."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from ruamel.yaml import YAML

from musicml.drums.hydrogen import KitWarning, parse_drumkit, parse_kits, sample_onset_s, slugify
from musicml.errors import InputError
from musicml.taxonomy import Taxonomy

REPO = Path(__file__).resolve().parents[1]
REAL_KITS = Path("/usr/share/hydrogen/data/drumkits")
RATE = 8000
NS = 'xmlns="http://www.hydrogen-music.org/drumkit"'


@pytest.fixture(scope="module")
def taxonomy() -> Taxonomy:
    """The repository's own taxonomy and name rules (so the rules are tested too)."""
    params = YAML(typ="safe").load((REPO / "configs" / "taxonomy.yaml").read_text())["taxonomy"]
    return Taxonomy.from_params(params["classes"], params["rules"])


def write_hit(path: Path, *, silence_s: float = 0.0, floor: float = 0.0, seconds: float = 0.05) -> Path:
    """A decaying 200 Hz hit after ``silence_s`` of silence (or of noise at ``floor``)."""
    rng = np.random.default_rng(0)
    lead = floor * rng.uniform(-1, 1, int(round(silence_s * RATE)))
    t = np.arange(int(seconds * RATE)) / RATE
    hit = 0.8 * np.sin(2 * np.pi * 200 * t) * np.exp(-t / 0.01)
    hit[0] = 0.5  # a sharp attack: the first sample is already loud
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, np.concatenate([lead, hit]).astype("float32"), RATE)
    return path


def layer_xml(filename: str, lo: float = 0.0, hi: float = 1.0) -> str:
    return f"<layer><filename>{filename}</filename><min>{lo}</min><max>{hi}</max><gain>1</gain><pitch>0</pitch></layer>"


def write_kit(kit_dir: Path, name: str, instruments: str, *, ns: str = NS) -> Path:
    """A ``drumkit.xml`` with the given ``<instrument>`` elements."""
    kit_dir.mkdir(parents=True, exist_ok=True)
    (kit_dir / "drumkit.xml").write_text(
        f'<?xml version="1.0" encoding="UTF-8"?>\n<drumkit_info {ns}>\n <name>{name}</name>\n'
        f" <instrumentList>\n{instruments}\n </instrumentList>\n</drumkit_info>\n"
    )
    return kit_dir


def instrument(name: str, body: str) -> str:
    return f"  <instrument><id>0</id><name>{name}</name>{body}</instrument>"


# ------------------------------------------------------------------ layouts


def test_layered_kit_gives_one_event_per_layer(tmp_path, taxonomy, monkeypatch):
    monkeypatch.chdir(tmp_path)
    kit = Path("kits") / "My Kit 1.0"
    for f in ("k1.wav", "k2.wav", "oh.wav"):
        write_hit(kit / f)
    write_kit(kit, "My Kit", "\n".join([
        instrument("Pearl Kick", layer_xml("k1.wav", 0, 0.5) + layer_xml("k2.wav", 0.5, 1)),
        # Newer kits wrap layers in <instrumentComponent>.
        instrument("Hi-Hat Open", f"<instrumentComponent><component_id>0</component_id>{layer_xml('oh.wav')}"
                                  "</instrumentComponent>"),
        instrument("17", ""),  # an unused pad: no layers at all
        instrument("18", layer_xml("emptySample.flac")),  # Hydrogen's placeholder sample
    ]))
    events = parse_drumkit(kit, taxonomy=taxonomy)
    assert list(events["audio_path"]) == ["kits/My Kit 1.0/k1.wav", "kits/My Kit 1.0/k2.wav", "kits/My Kit 1.0/oh.wav"]
    assert list(events["label"]) == ["kick", "kick", "hihat_open"]
    assert list(events["velocity"]) == [32, 95, 64]
    assert set(events["session_id"]) == {"hydrogen-my-kit-1-0"}
    assert set(events["kit"]) == {"My Kit"}
    assert set(events["source"]) == {"hydrogen"}
    assert list(events["onset_s"]) == [0.0, 0.0, 0.0]
    assert events["openness"].tolist()[2] == 1.0
    assert events["openness"].isna().tolist()[:2] == [True, True]
    assert events["event_id"].is_unique


def test_old_layout_reads_filename_of_instrument(tmp_path, taxonomy):
    kit = tmp_path / "old"
    names = {"Snare Rimshot": "rim.wav", "Pearl Side Stick": "ss.wav", "Zildjian Splash Choke": "spl.wav",
             "Ride Bell": "bell.wav", "Sabian Hat Semi-Open": "semi.wav", "Pedal HH": "ph.wav"}
    for f in names.values():
        write_hit(kit / f)
    write_kit(kit, "Old", "\n".join(instrument(n, f"<filename>{f}</filename>") for n, f in names.items()), ns="")
    events = parse_drumkit(kit, taxonomy=taxonomy).set_index("audio_path")
    row = {n: events.loc[(kit / f).as_posix()] for n, f in names.items()}
    assert row["Snare Rimshot"]["label"] == "snare" and row["Snare Rimshot"]["techniques"] == ["rimshot"]
    assert row["Pearl Side Stick"]["label"] == "sidestick" and row["Pearl Side Stick"]["techniques"] == ["cross_stick"]
    assert row["Zildjian Splash Choke"]["label"] == "crash" and row["Zildjian Splash Choke"]["techniques"] == ["choke"]
    assert row["Ride Bell"]["label"] == "ride" and row["Ride Bell"]["techniques"] == ["bell"]
    assert row["Sabian Hat Semi-Open"]["openness"] == 0.5
    assert row["Pedal HH"]["label"] == "hihat_pedal" and row["Pedal HH"]["openness"] == 0.0
    # One sample for the whole velocity range, as Hydrogen loads an old kit.
    assert set(events["velocity"]) == {64}


def test_velocity_is_clamped_to_midi_range(tmp_path, taxonomy):
    kit = tmp_path / "v"
    write_hit(kit / "a.wav")
    write_hit(kit / "b.wav")
    write_kit(kit, "V", instrument("Kick", layer_xml("a.wav", 0, 0) + layer_xml("b.wav", 1, 1.5)))
    assert list(parse_drumkit(kit, taxonomy=taxonomy)["velocity"]) == [1, 127]


def test_reused_sample_is_one_event_labelled_by_first_use(tmp_path, taxonomy):
    kit = tmp_path / "reuse"
    write_hit(kit / "tom.wav")
    write_kit(kit, "R", instrument("Tom Mid", layer_xml("tom.wav")) + instrument("Tom Hi", layer_xml("tom.wav")))
    with pytest.warns(KitWarning, match="'Tom Hi' \\(tom_high\\); kept as tom_mid"):
        events = parse_drumkit(kit, taxonomy=taxonomy)
    assert list(events["label"]) == ["tom_mid"]


# ------------------------------------------------------------------- onsets


def test_leading_silence_moves_the_onset(tmp_path):
    assert sample_onset_s(write_hit(tmp_path / "late.wav", silence_s=0.020)) == pytest.approx(0.020, abs=1 / RATE)
    # Below -50 dB of the peak counts as silence too.
    assert sample_onset_s(write_hit(tmp_path / "hiss.wav", silence_s=0.030, floor=1e-3)) == pytest.approx(
        0.030, abs=1 / RATE
    )
    # 5 ms or less is not worth an onset shift.
    assert sample_onset_s(write_hit(tmp_path / "early.wav", silence_s=0.004)) == 0.0
    assert sample_onset_s(write_hit(tmp_path / "now.wav")) == 0.0


# ------------------------------------------------------------------- errors


def test_missing_drumkit_xml(tmp_path, taxonomy):
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="drumkit.xml: drumkit.xml not found"):
        parse_drumkit(tmp_path / "empty", taxonomy=taxonomy)


def test_malformed_xml_names_the_line(tmp_path, taxonomy):
    kit = tmp_path / "bad"
    kit.mkdir()
    (kit / "drumkit.xml").write_text("<drumkit_info>\n <name>Bad</name>\n <instrumentList>\n</drumkit_info>\n")
    with pytest.raises(InputError) as info:
        parse_drumkit(kit, taxonomy=taxonomy)
    assert info.value.line == 4
    assert f"{kit / 'drumkit.xml'}:4:" in str(info.value)
    assert "\n" not in str(info.value)


def test_missing_sample_names_xml_and_instrument(tmp_path, taxonomy):
    kit = tmp_path / "gone"
    write_hit(kit / "k.wav")
    write_kit(kit, "G", instrument("Kick", layer_xml("k.wav")) + instrument("Cowbell", layer_xml("cow.wav")))
    with pytest.raises(InputError, match=r"drumkit.xml: instrument 'Cowbell': sample file 'cow.wav' not found"):
        parse_drumkit(kit, taxonomy=taxonomy)
    with pytest.warns(KitWarning, match="Cowbell"):
        events = parse_drumkit(kit, taxonomy=taxonomy, on_missing="skip")
    assert list(events["label"]) == ["kick"]


@pytest.mark.parametrize("content, message", [
    ("no frames", "empty audio file \\(instrument 'Kick'\\): no frames"),
    ("silent", "silent audio file"),
    ("garbage", "unreadable audio \\(instrument 'Kick'\\)"),
])
def test_bad_audio(tmp_path, taxonomy, content, message):
    kit = tmp_path / "audio"
    kit.mkdir()
    path = kit / "k.wav"
    if content == "no frames":
        sf.write(path, np.zeros(0, dtype="float32"), RATE)
    elif content == "silent":
        sf.write(path, np.zeros(100, dtype="float32"), RATE)
    else:
        path.write_bytes(b"not a wav file at all")
    write_kit(kit, "A", instrument("Kick", layer_xml("k.wav")))
    with pytest.raises(InputError, match=message) as info:
        parse_drumkit(kit, taxonomy=taxonomy)
    assert info.value.path == str(path)


def test_kit_without_usable_samples(tmp_path, taxonomy):
    kit = write_kit(tmp_path / "hollow", "H", instrument("17", "") + instrument("18", layer_xml("emptySample.flac")))
    with pytest.raises(InputError, match="no usable sample"):
        parse_drumkit(kit, taxonomy=taxonomy)


def test_sample_path_must_stay_in_the_kit(tmp_path, taxonomy):
    kit = write_kit(tmp_path / "esc", "E", instrument("Kick", layer_xml("../k.wav")))
    with pytest.raises(InputError, match="must be relative to the kit folder"):
        parse_drumkit(kit, taxonomy=taxonomy)


# --------------------------------------------------------------- many kits


def test_parse_kits_is_sorted_and_needs_a_kit(tmp_path, taxonomy):
    for name in ("b kit", "A kit"):
        write_hit(tmp_path / "kits" / name / "k.wav")
        write_kit(tmp_path / "kits" / name, name, instrument("Kick", layer_xml("k.wav")))
    (tmp_path / "kits" / "not a kit").mkdir()
    events = parse_kits(tmp_path / "kits", taxonomy=taxonomy)
    assert list(events["session_id"]) == ["hydrogen-a-kit", "hydrogen-b-kit"]
    (tmp_path / "none").mkdir()
    with pytest.raises(InputError, match="no Hydrogen kit found"):
        parse_kits(tmp_path / "none", taxonomy=taxonomy)


def test_parse_kits_rejects_colliding_session_ids(tmp_path, taxonomy):
    for name in ("Kit 1", "kit-1"):
        write_hit(tmp_path / name / "k.wav")
        write_kit(tmp_path / name, name, instrument("Kick", layer_xml("k.wav")))
    with pytest.raises(InputError, match="session id 'hydrogen-kit-1'"):
        parse_kits(tmp_path, taxonomy=taxonomy)


def test_slugify():
    assert slugify("The Black Pearl 1.0") == "the-black-pearl-1-0"
    assert slugify("Millo-Drums_v.1") == "millo-drums-v-1"
    assert slugify("Café  Kit") == "cafe-kit"


# ------------------------------------------------------------- name rules


@pytest.mark.parametrize("name, label", [
    # General MIDI percussion names, as other kits spell them.
    ("Acoustic Bass Drum", "kick"), ("bass drum 1", "kick"), ("Side Stick", "sidestick"),
    ("Acoustic Snare", "snare"), ("Electric Snare", "snare"), ("Hand Clap", "clap"),
    ("Closed Hi-Hat", "hihat_closed"), ("Pedal Hi-Hat", "hihat_pedal"), ("Open Hi-Hat", "hihat_open"),
    ("Low Floor Tom", "tom_low"), ("High Floor Tom", "tom_low"), ("Low Tom", "tom_low"),
    ("Low-Mid Tom", "tom_mid"), ("Hi-Mid Tom", "tom_mid"), ("High Tom", "tom_high"),
    ("Crash Cymbal 1", "crash"), ("Splash Cymbal", "crash"), ("Chinese Cymbal", "crash"),
    ("Ride Cymbal 2", "ride"), ("Ride Bell", "ride"), ("rim click", "sidestick"),
    ("Tambourine", "unknown"), ("Cowbell", "unknown"), ("Vibraslap", "unknown"), ("Hi Bongo", "unknown"),
    ("Open Hi Conga", "unknown"), ("High Timbale", "unknown"), ("Maracas", "unknown"), ("Claves", "unknown"),
    ("Hi Wood Block", "unknown"), ("Mute Triangle", "unknown"), ("Open Surdo", "unknown"), ("Sticks", "unknown"),
    ("Metronome Bell", "unknown"),
    # Names from the shipped Hydrogen kits that a careless rule would get wrong.
    ("Djembe1 Bass", "unknown"), ("Cajon Thump", "unknown"), ("Tambourine Pedal (Pearl PTM-10GH)", "unknown"),
    ("Sangban1 Bell Hit", "unknown"), ("Finger Snaps", "unknown"), ("Pearl Kick", "kick"),
    ("Stick", "sidestick"), ("redo super opaco", "snare"), ("Snare Roll", "snare"),
    ("Sabian Hat Swish", "hihat_open"), ("Hi Hat Free", "hihat_open"), ("Sabian Hat Choke", "hihat_closed"),
    ("Side HH", "hihat_closed"), ("Side OHH", "hihat_open"), ("VariBreaks Hat 1 Pd", "hihat_pedal"),
    ("Paiste Bell", "ride"), ("ride-cup", "ride"), ("Crash/Ride (Paiste Rude Crash/Ride 18\")", "crash"),
    ("Crash/Ride Bow (Paiste Rude Crash/Ride 18\")", "ride"), ("Ride (Custom, Zagrebin 22\")", "ride"),
    ("Pearl Tom 1", "tom_high"), ("Pearl Tom 2", "tom_mid"), ("Pearl Tom Floor", "tom_low"),
    ("Tom", "tom_high"), ("Floor Tom", "tom_low"), ("tomhi2", "tom_high"), ("c4 - middle tom", "tom_mid"),
    ("Tom Low (Tama Superstar 16\")", "tom_low"), ("Drum 1", "unknown"), ("Zap 1", "unknown"), ("FX", "unknown"),
])
def test_name_rules(taxonomy, name, label):
    assert taxonomy.map_name(name) == label


# -------------------------------------------------------------- real kits


@pytest.fixture(scope="module")
def real_events(taxonomy):
    if not (REAL_KITS.is_dir() and any(REAL_KITS.glob("*/drumkit.xml"))):
        pytest.skip(f"no Hydrogen kits installed at {REAL_KITS}")
    with warnings.catch_warnings():
        # Known packaging quirks (a dangling "Cowbell", samples shared by two pads).
        warnings.simplefilter("ignore", KitWarning)
        return parse_kits(REAL_KITS, taxonomy=taxonomy, on_missing="skip")


def test_real_kits_cover_the_taxonomy(real_events, taxonomy):
    known = real_events[real_events["label"].isin(taxonomy.classes)]
    assert set(known["label"]) == set(taxonomy.classes)
    per_kit = known.groupby("session_id")["label"].nunique()
    # circAfrique is djembes and duns only: all of it is open-set on purpose.
    hand_percussion_only = {"hydrogen-circafrique-v4"}
    every_kit = set(real_events["session_id"])
    assert every_kit - hand_percussion_only <= set(per_kit.index)
    assert real_events["event_id"].is_unique


def test_real_kit_names_map_as_intended(real_events):
    def labels_of(fragment: str) -> set[str]:
        return set(real_events.loc[real_events["audio_path"].str.contains(fragment, regex=False), "label"])

    assert labels_of("circAfrique v4/Djembe1 Bass") == {"unknown"}
    assert labels_of("The Black Pearl 1.0/PearlKick") == {"kick"}
    assert labels_of("Gimme A Hand 1.0/Cajon") == {"unknown"}
    assert labels_of("BJA_Pacific/HH3_") == {"hihat_open"}  # "Hi Hat Free"


def test_real_kit_with_dangling_sample_fails_when_strict(taxonomy):
    kit = REAL_KITS / "Millo_MultiLayered2"
    if not (kit / "drumkit.xml").is_file():
        pytest.skip(f"{kit} not installed")
    expected = "instrument 'Cowbell': sample file 'misc_Cowbell.flac' not found"
    with warnings.catch_warnings(), pytest.raises(InputError, match=expected):
        warnings.simplefilter("ignore", KitWarning)  # its toms share samples; not the point here
        parse_drumkit(kit, taxonomy=taxonomy)
