"""Router data: template library, generation, paraphrasing (rule-based and LLM), import, validation, split."""

from __future__ import annotations

import json
import random
import re
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, HTTPServer

import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import ROOT
from musicml.errors import ConfigError, GateError, InputError
from musicml.router.examples import CATEGORIES, frame, read_examples, write_examples
from musicml.router.library import NO_WRAP, category_counts, generate, load_library, render
from musicml.router.mixing import mix, read_requests
from musicml.router.paraphrase import (LlmClient, RuleSet, augment, casing, numbers_as_words, paraphrase_rule,
                                       reorder, typo)
from musicml.router.splits import split_by_template
from musicml.router.validation import check_gates, exact_conflicts, spot_check_sample, validate

TEMPLATES = ROOT / "configs" / "router_templates.yaml"
RULES = ROOT / "configs" / "router_paraphrase.yaml"
SHARES = {"daw": 0.4, "arranger": 0.3, "both": 0.25, "edge": 0.05}


@pytest.fixture(scope="module")
def library():
    return load_library(str(TEMPLATES))


@pytest.fixture(scope="module")
def rules():
    return RuleSet.load(RULES)


def test_library_covers_every_seed_example_category_and_operation(library):
    ops = {(t.category, t.operation) for t in library.templates}
    for needed in [("daw", "track"), ("daw", "clip"), ("daw", "fx"), ("daw", "mixing"), ("daw", "selection"),
                   ("daw", "color"), ("daw", "rename"), ("daw", "transport"), ("arranger", "chords"),
                   ("arranger", "melody"), ("arranger", "scale"), ("arranger", "arpeggio"), ("arranger", "bassline"),
                   ("arranger", "riff_hook"), ("arranger", "drums"), ("both", "track_with_content"),
                   ("both", "clip_with_content"), ("edge", "question"), ("edge", "chit_chat"), ("edge", "unclear"),
                   ("edge", "creative"), ("edge", "mixed_terminology")]:
        assert needed in ops, needed
    # Every example the seed lists matches a pattern (a slot matching any text) of its category.
    regexes = [(t.category, re.compile("^" + re.sub(r"\\\{[a-z_]+\\\}", ".+", re.escape(p.removeprefix(NO_WRAP)))
                                       + "$", re.IGNORECASE)) for t in library.templates for p in t.patterns]
    for example, category in [
            ("add reverb to track 1", "daw"), ("set volume to -3dB on track 2", "daw"),
            ("create a new track called Drums", "daw"), ("delete clip at bar 5", "daw"),
            ("mute all tracks except track 1", "daw"), ("select all tracks", "daw"), ("deselect clips", "daw"),
            ("color track red", "daw"), ("rename clip to Verse", "daw"), ("move clip to position 10", "daw"),
            ("create I VI IV progression", "arranger"), ("generate a melody in C major", "arranger"),
            ("arpeggio in E minor", "arranger"), ("bassline pattern", "arranger"),
            ("chord sequence: Am F C G", "arranger"), ("play a pentatonic scale", "arranger"),
            ("add I VI IV progression to piano track at bar 9", "both"), ("create a track with a bassline", "both"),
            ("add a clip with an arpeggio in e minor", "both"), ("make a track with a riff", "both"),
            ("add a hook to track 3", "both"), ("make it sound better", "edge"), ("add a vibe", "edge"),
            ("make it groovy", "edge"), ("add some notes to the track", "edge")]:
        assert any(cat == category and rx.match(example) for cat, rx in regexes), example
    neither = [t for t in library.templates if not t.needs_daw and not t.needs_arranger]
    assert len(neither) >= 4 and all(t.category == "edge" and t.confidence < 1 for t in neither)


def test_every_operation_has_two_template_families(library):
    # The split holds out whole families: an operation with a single family would be absent from training
    # whenever that family is held out, and the test would measure a missing concept, not a new phrasing.
    families = Counter((t.category, t.operation) for t in library.templates)
    assert {op: n for op, n in families.items() if n < 2} == {}


# Slots that name a part of the project (a track, clip, bar, effect, mixer setting): by the seed's
# definitions a request that touches one needs the DAW agent.
PROJECT_SLOTS = {"track", "clip", "tbare", "track_short", "tname", "fx", "fx_param", "bar", "db", "pan", "color",
                 "name"}
PROJECT_WORDS = re.compile(r"\b(tracks?|clips?|region|bars?|channel|bus|pan|audio|midi|loop|bounce|tempo|reverb|"
                           r"duplicate|delete|replace|drum rack)\b", re.IGNORECASE)


def test_template_labels_follow_the_seed_definitions(library):
    slots_of = {t.id: [set(re.findall(r"\{([a-z_]+)\}", p)) for p in t.patterns] for t in library.templates}
    for template in library.templates:
        if template.category == "arranger":
            # Arranger-only content never names a track, clip, bar or effect ("for the Bass" would be a track).
            for pattern, slots in zip(template.patterns, slots_of[template.id]):
                assert not slots & PROJECT_SLOTS, (template.id, pattern)
        elif template.category == "both":
            # Content placed in the project: every phrasing carries the DAW side.
            for pattern, slots in zip(template.patterns, slots_of[template.id]):
                assert slots & PROJECT_SLOTS or PROJECT_WORDS.search(pattern), (template.id, pattern)
    # Song sections are never drawn from track or clip names.
    assert not set(library.slots["section"]) & set(library.slots["tname"])
    # In an Arranger-only request "track" is the song ("a {genre} track"), never a place in the project.
    for template in library.by_category("arranger"):
        for pattern in template.patterns:
            assert not re.search(r"(?<!\{genre\} )(?<!\{mood\} )\btracks?\b", pattern), (template.id, pattern)
    # Requests that need neither agent come in many kinds: questions, how-tos, explanations, feedback, chit-chat.
    neither = {t.operation for t in library.templates if not t.needs_daw and not t.needs_arranger}
    assert {"question", "explanation", "feedback", "chit_chat", "statement"} <= neither


def test_context_openings_and_negations_carry_no_label(library):
    """A context sentence before the ask ("the client listened to it last night. ...") or a negation ("don't touch
    the drums, just ...") must not decide the labels: each shape is used by families of all four label pairs, so
    the router learns the labels from the ask that follows (or from its absence: neither)."""
    every_pair = {(True, False), (False, True), (True, True), (False, False)}
    negation = re.compile(r"^(= )?(don't|do not|no |not |leave|forget|skip|stop|without|instead)", re.IGNORECASE)
    for shape in (lambda p: "{lead_in}" in p, negation.search):
        pairs = {(t.needs_daw, t.needs_arranger) for t in library.templates if any(shape(p) for p in t.patterns)}
        assert pairs == every_pair
    # The context sentences themselves ask nothing of an agent.
    asks = re.compile(r"\b(add|write|put|make|mute|set|create|give|turn|pan|delete|compose|play)\b", re.IGNORECASE)
    assert library.slots["lead_in"] and not [v for v in library.slots["lead_in"] if asks.search(v)]


def test_generate_has_exact_shares_is_deterministic_and_mostly_unique(library):
    df = generate(library, size=1000, shares=SHARES, seed=3)
    assert df["category"].value_counts().to_dict() == {"daw": 400, "arranger": 300, "both": 250, "edge": 50}
    assert df.equals(generate(library, size=1000, shares=SHARES, seed=3))
    assert not df.equals(generate(library, size=1000, shares=SHARES, seed=4))
    assert df["question"].str.lower().nunique() > 980
    both = df[df["category"] == "both"]
    assert both["needsDAW"].all() and both["needsArranger"].all()
    assert (df.loc[df["category"] != "edge", "confidence"] == 1.0).all()
    assert (df.loc[df["category"] == "edge", "confidence"] < 1.0).all()
    assert not df["question"].str.contains(r"[{}]").any()


def test_category_counts_sum_and_bad_shares():
    assert sum(category_counts(997, SHARES).values()) == 997
    with pytest.raises(ConfigError):
        category_counts(10, {"daw": 1.0})


def test_library_errors_name_the_problem(tmp_path):
    bad = tmp_path / "t.yaml"
    bad.write_text(yaml.safe_dump({"slots": {}, "templates": [
        {"id": "a", "category": "daw", "operation": "fx", "patterns": ["add {fx}"]}]}))
    with pytest.raises(InputError, match="unknown slot"):
        load_library(str(bad))
    bad.write_text(yaml.safe_dump({"templates": [{"id": "a", "category": "daw", "operation": "fx",
                                                  "patterns": ["mute"]}]}))
    with pytest.raises(InputError, match="no template for categories"):
        load_library(str(bad))


def test_no_wrap_patterns_are_never_wrapped(library):
    template = next(t for t in library.templates if t.id == "daw.casual")
    rng = random.Random(0)
    bare = template.__class__(**{**template.__dict__, "patterns": ("= the bass is too loud",)})
    assert {render(bare, library, rng) for _ in range(30)} == {"the bass is too loud"}


def test_rules_numbers_reorder_typo_casing(rules):
    rng = random.Random(1)
    assert numbers_as_words("mute track 3 at bar 12", rules, rng) == "mute track three at bar twelve"
    assert numbers_as_words("set -3dB and 4:1 at 50%", rules, rng) == "set -3dB and 4:1 at 50%"
    assert reorder("add reverb to track 2", rules, rng) == "to track 2, add reverb"
    assert reorder("thanks", rules, rng) == "thanks"
    changed = typo("please quantize everything", rules, rng)
    assert changed != "please quantize everything"
    assert sum(a != b for a, b in zip(changed.split(), "please quantize everything".split())) == 1
    assert casing("Add Reverb", rules, random.Random(0)).lower().startswith("add reverb")


def test_paraphrase_rule_changes_text_and_is_seeded(rules):
    text = "add a bassline in E minor to track 3 at bar 9"
    a = paraphrase_rule(text, rules, random.Random(5))
    assert a == paraphrase_rule(text, rules, random.Random(5))
    assert a[0].lower() != text.lower() and 2 <= len(a[1]) <= 4


def test_augment_stratified_labels_kept(library, rules):
    df = generate(library, size=400, shares=SHARES, seed=1)
    out, stats = augment(df, rules, per_category=15, seed=1)
    new = out.iloc[len(df):]
    assert (new["source"] == "paraphrase").all()
    assert set(stats["per_category"]) == set(CATEGORIES)
    assert all(12 <= n <= 15 for n in stats["per_category"].values())
    originals = df.set_index("template_id")
    for _, row in new.iterrows():
        source = originals.loc[[row["template_id"]]].iloc[0]
        assert (row["needsDAW"], row["needsArranger"], row["category"]) == (
            source["needsDAW"], source["needsArranger"], source["category"])
    assert out["question"].str.lower().is_unique


class _FakeLlm(BaseHTTPRequestHandler):
    """An OpenAI-compatible chat endpoint: paraphrases by prefixing, labels as JSON, or fails."""

    mode = "ok"
    hits = 0

    def do_POST(self):  # noqa: N802 (http.server API)
        type(self).hits += 1
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        prompt = body["messages"][0]["content"]
        if type(self).mode == "fail":
            self.send_response(500)
            self.end_headers()
            return
        request = prompt.rsplit("Request: ", 1)[1]
        if "Answer only with JSON" in prompt:
            answer = json.dumps({"needsDAW": "track" in request, "needsArranger": False})
        else:
            answer = f"kindly {request}"
        payload = json.dumps({"choices": [{"message": {"role": "assistant", "content": answer}}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


@pytest.fixture
def fake_llm():
    server = HTTPServer(("127.0.0.1", 0), _FakeLlm)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _FakeLlm.mode, _FakeLlm.hits = "ok", 0
    yield f"http://127.0.0.1:{server.server_port}/v1"
    server.shutdown()


def test_llm_paraphraser_uses_cache_and_env(fake_llm, tmp_path, library, rules):
    cfg = {"enabled": True, "url": "http://wrong.invalid/v1", "model": "m", "url_env": "R_URL", "model_env": "R_M",
           "api_key_env": "R_KEY", "cache_dir": str(tmp_path / "cache"), "timeout_s": 5, "max_failures": 3}
    client = LlmClient.from_params(cfg, environ={"R_URL": fake_llm, "R_KEY": "secret"})
    assert client.url == fake_llm and client.api_key == "secret"
    df = generate(library, size=80, shares=SHARES, seed=2)
    out, stats = augment(df, rules, per_category=3, seed=2, client=client)
    assert stats["llm_used"] == 12 and (out.iloc[len(df):]["source"] == "llm_paraphrase").all()
    assert out.iloc[len(df):]["question"].str.startswith("kindly ").all()
    hits = _FakeLlm.hits
    again = LlmClient.from_params(cfg, environ={"R_URL": fake_llm})
    out2, stats2 = augment(df, rules, per_category=3, seed=2, client=again)
    assert _FakeLlm.hits == hits and stats2["llm"]["cache_hits"] == 12  # served from the cache
    assert out2.equals(out)
    assert LlmClient.from_params({**cfg, "enabled": False}) is None


def test_llm_failures_fall_back_and_never_break(fake_llm, tmp_path, library, rules):
    _FakeLlm.mode = "fail"
    client = LlmClient(url=fake_llm, model="m", cache_dir=str(tmp_path / "c"), timeout_s=5, max_failures=2)
    df = generate(library, size=80, shares=SHARES, seed=2)
    out, stats = augment(df, rules, per_category=3, seed=2, client=client)
    assert stats["llm_used"] == 0 and stats["llm_fallbacks"] == 12 and stats["paraphrases"] >= 10
    assert _FakeLlm.hits == 2  # the circuit breaker stops calling a dead endpoint
    dead = LlmClient(url="http://127.0.0.1:9/v1", model="m", cache_dir=str(tmp_path / "d"), timeout_s=1)
    assert dead.chat("hello") is None and dead.stats["failures"] == 1


def test_llm_label_check_flags_disagreements(fake_llm, tmp_path):
    client = LlmClient(url=fake_llm, model="m", cache_dir=str(tmp_path / "c"), timeout_s=5)
    df = frame([{"question": f"mute track {i}", "needsDAW": True, "needsArranger": False, "confidence": 1.0,
                 "category": "daw", "operation": "mixing", "template_id": "a", "source": "template"} for i in range(5)]
               + [{"question": f"write melody {i}", "needsDAW": False, "needsArranger": True, "confidence": 1.0,
                   "category": "arranger", "operation": "melody", "template_id": "b", "source": "template"}
                  for i in range(5)])
    gates = {"min_examples": 1, "max_conflict_share": 1, "max_near_conflict_share": 1, "max_share_deviation": 1}
    clean, report = validate(df, shares=SHARES, near_threshold=0.99, ambiguous_below=0.8, gates=gates,
                             llm={"client": client, "max_examples": 10, "seed": 0, "max_disagreement": 0.1})
    assert report["llm_label_check"]["disagreements"] == 5  # the fake never says needsArranger
    assert clean["flags"].str.contains("llm_disagrees").sum() == 5
    assert not report["passed"]


def test_read_requests_jsonl_csv_and_errors(tmp_path):
    jl = tmp_path / "r.jsonl"
    jl.write_text('{"question": "mute track 2", "needsDAW": true, "needsArranger": false}\n'
                  '{"text": "write a riff"}\n')
    good, todo = read_requests(jl)
    assert len(good) == 1 and good.iloc[0]["category"] == "daw" and len(todo) == 1
    csv = tmp_path / "r.csv"
    csv.write_text("question,needsDAW,needsArranger\nthanks,false,false\nadd chords to track 1,true,true\n")
    good, _ = read_requests(csv)
    assert good["category"].tolist() == ["edge", "both"]
    csv.write_text("question,needsDAW,needsArranger\nthanks,maybe,false\n")
    with pytest.raises(InputError, match=r"r.csv:2: field 'needsDAW'"):
        read_requests(csv)
    jl.write_text('{"question": "  ", "needsDAW": true, "needsArranger": false}\n')
    with pytest.raises(InputError, match=r"r.jsonl:1: field 'question'"):
        read_requests(jl)
    jl.write_text('{"question": "x", "needsDAW": true}\n')
    with pytest.raises(InputError, match="needsArranger"):
        read_requests(jl)


def test_mix_fills_each_category_up_to_its_share(library, tmp_path):
    generated = generate(library, size=100, shares=SHARES, seed=0)
    real = frame([{"question": f"mute track {i}", "needsDAW": True, "needsArranger": False, "confidence": 1.0,
                   "category": "daw", "operation": "real", "template_id": f"real-{i}", "source": "real"}
                  for i in range(30)])
    mixed, stats = mix(generated, real, size=100, shares=SHARES)
    assert len(mixed) == 100 and stats["categories"]["daw"] == {"target": 40, "real": 30, "generated": 10}
    assert mixed["category"].value_counts().to_dict() == {"daw": 40, "arranger": 30, "both": 25, "edge": 5}


def _rows(items):
    return frame([{"question": q, "needsDAW": d, "needsArranger": a, "confidence": c, "category": cat,
                   "operation": "x", "template_id": t, "source": "template"} for q, d, a, c, cat, t in items])


def test_validation_resolves_conflicts_flags_and_gates():
    df = _rows([("Add reverb to track 1", True, False, 1.0, "daw", "a"),
                ("add reverb to track 1!", True, False, 1.0, "daw", "b"),
                ("add reverb to track 1", True, True, 0.7, "both", "c"),
                ("write a melody", False, True, 1.0, "arranger", "d"),
                ("write a melody", True, False, 1.0, "daw", "e"),
                ("write a melodyy in C", True, True, 1.0, "both", "f"),
                ("write a melody in C", False, True, 1.0, "arranger", "g"),
                ("make it pop", True, False, 0.6, "edge", "h")])
    conflicts, keep = exact_conflicts(df)
    assert len(conflicts) == 2 and keep.tolist() == [True, True, False, False, False, True, True, True]
    gates = {"min_examples": 1, "max_conflict_share": 0.5, "max_near_conflict_share": 0.5, "max_share_deviation": 1}
    clean, report = validate(df, shares=SHARES, near_threshold=0.75, ambiguous_below=0.8, gates=gates)
    assert len(clean) == 5 and report["dropped_conflicting"] == 3
    assert report["near_conflict_pairs"] >= 1
    assert "near_conflict" in clean.loc[clean["question"] == "write a melodyy in C", "flags"].iloc[0]
    assert "ambiguous" in clean.loc[clean["question"] == "make it pop", "flags"].iloc[0]
    assert report["passed"]
    strict = {**gates, "max_conflict_share": 0.1}
    _, failing = validate(df, shares=SHARES, near_threshold=0.75, ambiguous_below=0.8, gates=strict)
    with pytest.raises(GateError, match="exact conflict share"):
        check_gates(failing)


def test_spot_check_is_stratified(library):
    df = generate(library, size=1000, shares=SHARES, seed=0).assign(flags="")
    sample = spot_check_sample(df, count=100, share=0.05, seed=0)
    assert len(sample) == 100 and set(sample["category"]) == set(CATEGORIES)
    assert 35 <= (sample["category"] == "daw").sum() <= 45
    assert spot_check_sample(df, count=10, share=0.2, seed=0).shape[0] == 200
    odd = df.iloc[:237]  # shares whose rounding alone would miss the count
    assert len(spot_check_sample(odd, count=100, share=0.05, seed=0)) >= 100
    assert "reviewer_agrees" in sample.columns


def test_split_holds_out_whole_templates(library):
    df = generate(library, size=1200, shares=SHARES, seed=0)
    split = split_by_template(df, val_fraction=0.15, test_fraction=0.2, seed=1)
    assert set(split) == {"train", "val", "test"}
    assert df.assign(split=split).groupby("template_id")["split"].nunique().max() == 1
    for category in CATEGORIES:
        assert set(split[df["category"] == category]) == {"train", "val", "test"}
    assert split.equals(split_by_template(df, val_fraction=0.15, test_fraction=0.2, seed=1))
    with pytest.raises(ConfigError):
        split_by_template(df, val_fraction=0.6, test_fraction=0.5, seed=1)


def test_examples_round_trip_and_errors(tmp_path, library):
    df = generate(library, size=50, shares=SHARES, seed=0)
    path = tmp_path / "x.jsonl"
    write_examples(df, path)
    back = read_examples(path)
    assert back[df.columns].equals(df)
    path.write_text('{"question": "x", "needsDAW": true}\n')
    with pytest.raises(InputError, match="x.jsonl:1: field 'needsArranger'"):
        read_examples(path)
