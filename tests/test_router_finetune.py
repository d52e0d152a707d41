"""Fine-tuning the top MiniLM layers with the head: the cached path, a tiny seeded fine-tune, ONNX parity."""

from __future__ import annotations

import numpy as np
import pytest

from musicml.errors import ConfigError
from musicml.router.encoder import embed, load_encoder
from musicml.router.finetune import (FineTuneConfig, boundary_of, cache_bottom, finetune, make_top, top_state,
                                     tuned_features)
from musicml.router.models import HeadConfig, head_proba

TEXTS = ["mute track 2", "write a bassline in E minor", "add a ii-V-I to the piano track at bar 9",
         "thanks!", "pan the 808 hard left and add reverb", "give me a catchy hook"]
Y = np.array([[1, 0], [0, 1], [1, 1], [0, 0], [1, 0], [0, 1]], dtype=bool)
LAYERS = [6, 4]


@pytest.fixture(scope="module")
def bert():
    return load_encoder((6,)).bert


@pytest.fixture(scope="module")
def cache(bert):
    return cache_bottom(TEXTS, layers=LAYERS, top_layers=1, bert=bert)


@pytest.fixture(scope="module")
def tuned(cache, bert):
    config = FineTuneConfig(top_layers=1, epochs=2, encoder_lr=1e-3, batch_size=4)
    return finetune(cache, np.arange(len(TEXTS)), Y, config=config, head_config=HeadConfig(hidden=8, lr=0.01),
                    seed=3, score_rows=np.arange(len(TEXTS)), bert=bert)


def test_cached_bottom_reproduces_the_packaged_features(cache, bert):
    # Untouched top layers through the cache = the whole packaged encoder (router_embed's features).
    assert cache.boundary == 5 and [len(s) for s in cache.states][0] < 10  # real tokens only, no padding
    got = tuned_features(cache, make_top(bert, cache.boundary), bert=bert)
    assert np.allclose(got, embed(TEXTS, layers=LAYERS), atol=1e-5)


def test_boundary_rejects_layers_that_fine_tuning_cannot_change():
    assert boundary_of([6, 4], 2) == 4
    with pytest.raises(ConfigError, match="none above the frozen boundary"):
        boundary_of([4], 2)
    with pytest.raises(ConfigError, match="top_layers"):
        boundary_of([6], 7)


def test_finetune_changes_the_top_layer_is_seeded_and_reloads(tuned, cache, bert):
    top, head, history = tuned
    assert len(history) == 2 and all(np.isfinite(r["loss"]) for r in history)
    assert history[-1]["proba"].shape == (len(TEXTS), 2)
    packaged = bert.encoder.layer[5].state_dict()
    assert any(not np.allclose(v.numpy(), packaged[k].numpy()) for k, v in top[0].state_dict().items())
    again, again_head, _ = finetune(cache, np.arange(len(TEXTS)), Y,
                                    config=FineTuneConfig(top_layers=1, epochs=2, encoder_lr=1e-3, batch_size=4),
                                    head_config=HeadConfig(hidden=8, lr=0.01), seed=3, bert=bert)
    features = tuned_features(cache, top, bert=bert)
    assert np.array_equal(features, tuned_features(cache, again, bert=bert))
    # The saved state in the packaged model = the cached path (the served encoder is the packaged one + state).
    encoder = load_encoder(LAYERS, tuned={"top_layers": 1, "state": top_state(top)})
    assert np.allclose(embed(TEXTS, layers=LAYERS, encoder=encoder), features, atol=1e-5)
    # The head takes raw features: its standardisation is folded in.
    assert np.allclose(head_proba(head, features), history[-1]["proba"], atol=1e-5)


def test_tuned_router_saves_exports_and_serves_with_parity(tuned, tmp_path):
    from musicml.router.examples import LABELS
    from musicml.router.export import export_router
    from musicml.router.serving import OnnxRouter
    from musicml.router.training import load_head, load_tuned, save_head

    top, head, _ = tuned
    state = {"top_layers": 1, "state": top_state(top)}
    save_head(head, [0.5, 0.5], HeadConfig(hidden=8), tmp_path / "head.pt", layers=LAYERS, tuned=state)
    loaded, thresholds, layers, _ = load_head(tmp_path / "head.pt")
    again = load_tuned(tmp_path / "head.pt")
    assert again["top_layers"] == 1 and all(np.array_equal(again["state"][k], v) for k, v in state["state"].items())
    export_router(loaded, tmp_path / "serving", labels=list(LABELS), thresholds=thresholds, layers=layers,
                  tuned=again)
    router = OnnxRouter.load(tmp_path / "serving", threads=1)
    reference = embed(TEXTS, layers=LAYERS, encoder=load_encoder(LAYERS, tuned=state))
    assert np.max(np.abs(router.embed(TEXTS) - reference)) <= 1e-4
    assert np.max(np.abs(router.probabilities(TEXTS) - head_proba(head, reference))) <= 1e-4
    save_head(head, [0.5, 0.5], HeadConfig(hidden=8), tmp_path / "frozen.pt", layers=LAYERS)
    assert load_tuned(tmp_path / "frozen.pt") is None


def test_probe_then_finetune_starts_from_the_probed_head(cache, bert):
    from musicml.router.models import train_head

    head_config = HeadConfig(hidden=8, lr=0.01, dropout=0.0)
    frozen = tuned_features(cache, make_top(bert, cache.boundary), bert=bert)
    probe, _ = train_head(frozen, Y, config=HeadConfig(hidden=8, lr=0.01, dropout=0.0, epochs=3), seed=5)
    # A zero learning rate leaves layers and head as the probe made them: the probe is the starting point.
    config = FineTuneConfig(top_layers=1, epochs=1, encoder_lr=0.0, batch_size=4, probe_epochs=3)
    top, head, history = finetune(cache, np.arange(len(TEXTS)), Y, config=config, head_config=head_config, seed=5,
                                  score_rows=np.arange(len(TEXTS)), bert=bert)
    assert np.allclose(history[0]["proba"], head_proba(probe, frozen), atol=1e-5)
    assert np.allclose(head_proba(head, tuned_features(cache, top, bert=bert)), head_proba(probe, frozen), atol=1e-5)


def test_train_models_compares_the_fine_tune_with_the_frozen_head_on_the_same_rows(bert):
    import pandas as pd

    from musicml.router.finetune import cache_bottom
    from musicml.router.training import train_models

    phrasings = {("daw", True, False): ["mute track {i}", "solo the bus {i}", "delete clip {i}"],
                 ("arranger", False, True): ["write a riff number {i}", "a melody in mode {i}", "chords set {i}"],
                 ("both", True, True): ["put a hook on track {i}", "add chords to clip {i}", "riff on bus {i}"]}
    rows = []
    for (category, daw, arranger), patterns in phrasings.items():
        for f, pattern in enumerate(patterns):
            rows += [{"question": pattern.format(i=i), "category": category, "template_id": f"{category}.{f}",
                      "needsDAW": daw, "needsArranger": arranger, "confidence": 1.0, "split": "train"}
                     for i in range(4)]
    df = pd.DataFrame(rows)
    x = embed(df["question"].tolist(), layers=LAYERS)
    config = FineTuneConfig(top_layers=1, epochs=1, batch_size=8, cv_folds=1)
    models, report = train_models(df, x, baseline_c=10.0, head=HeadConfig(hidden=8, epochs=2), seed=0, cv_folds=3,
                                  blend_weights=[0.5, 1.0], finetune=config, layers=LAYERS,
                                  cache=cache_bottom(df["question"].tolist(), layers=LAYERS, top_layers=1, bert=bert))
    compared = report["finetune"]
    assert 0 < compared["rows_compared"] < len(df) and len(compared["tuned_alone_exact_match_per_epoch"]) == 1
    assert compared["chosen"] == (compared["tuned"]["cv_exact_match"] > compared["frozen"]["cv_exact_match"])
    tuned = models["embedding"][3]
    assert (tuned is not None) == compared["chosen"] == report["embedding"]["fine_tuned"]
