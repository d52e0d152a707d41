"""Integrated Gradients, penultimate features, the PCA embedding and the SVG charts."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np
import pytest
import torch

from musicml.drums.model import DrumClassifierCNN
from musicml.errors import ConfigError
from musicml.release.interpret import class_attributions, embed_2d, integrated_gradients, penultimate_features
from musicml.release.svg import heatmap, scatter


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    net = DrumClassifierCNN(3, dropout=0.0).eval()
    # Non-trivial BatchNorm statistics, as after training.
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    return net


def test_ig_completeness(model):
    x = torch.randn(2, 1, 16, 16)
    target = torch.tensor([0, 2])
    attr = integrated_gradients(model, x, target, baseline=-1.0, steps=128)
    with torch.no_grad():
        gain = model(x).gather(1, target[:, None])[:, 0] - model(torch.full_like(x, -1.0)).gather(1, target[:, None])[:, 0]
    assert attr.shape == x.shape
    assert attr.sum(dim=(1, 2, 3)).detach().numpy() == pytest.approx(gain.numpy(), rel=0.05, abs=1e-3)
    with pytest.raises(ConfigError):
        integrated_gradients(model, x, target, baseline=0.0, steps=0)


def test_class_attributions_average_per_class(model):
    features = np.random.default_rng(0).normal(size=(10, 1, 16, 16)).astype(np.float32)
    labels = np.array([0, 0, 0, 1, 1, 1, 1, 0, 0, 0])
    maps = class_attributions(model, features, np.arange(10), labels, ["a", "b", "c"], per_class=2, steps=4,
                              pool=4)
    assert set(maps) == {"a", "b"}  # no hit of class c: no map
    assert maps["a"].shape == (4, 4) and np.isfinite(maps["a"]).all()
    again = class_attributions(model, features, np.arange(10), labels, ["a", "b", "c"], per_class=2, steps=4, pool=4)
    assert np.array_equal(maps["a"], again["a"])  # same seed, same hits


def test_penultimate_features_match_the_linear_layer(model):
    features = np.random.default_rng(1).normal(size=(6, 1, 16, 16)).astype(np.float32)
    rows = np.array([4, 1, 5])
    emb = penultimate_features(model, features, rows)
    assert emb.shape == (3, 256)
    with torch.no_grad():
        logits = model(torch.from_numpy(features[rows])).numpy()
        again = model.fc(torch.from_numpy(emb)).numpy()
    np.testing.assert_allclose(again, logits, rtol=1e-4, atol=1e-4)  # rows kept in the order asked


def test_embedding_is_2d_and_deterministic():
    vectors = np.random.default_rng(2).normal(size=(30, 8))
    points, variance = embed_2d(vectors)
    assert points.shape == (30, 2) and 0 < variance[1] <= variance[0] < 1
    assert np.array_equal(points, embed_2d(vectors)[0])
    with pytest.raises(ConfigError):
        embed_2d(vectors[:2])


def test_svg_charts_are_well_formed():
    hm = heatmap(np.array([[1.0, -1.0], [0.0, 0.5]]), title="IG <kick>")
    root = ET.fromstring(hm)
    paths = [e for e in root.iter() if e.tag.endswith("path")]
    assert len(paths) == 4 and sum(p.get("d").count("z") for p in paths) == 4  # four levels, one cell each
    assert "#ff0000" in hm and "#0000ff" in hm and "#ffffff" in hm and "IG &lt;kick&gt;" in hm
    sc = scatter(np.array([[0, 0], [1, 2], [3, 1]]), ["a", "b", "a"], title="t", classes=["a", "b"])
    circles = [e for e in ET.fromstring(sc).iter() if e.tag.endswith("circle")]
    assert len(circles) == 3 + 2  # points + legend
    with pytest.raises(ValueError):
        scatter(np.zeros((2, 3)), ["a", "b"], title="t", classes=["a"])
