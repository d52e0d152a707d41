"""Fine-tuning the top transformer layers of MiniLM together with the multi-label head.

The bottom layers stay frozen, so their token states are computed once
(:func:`cache_bottom`) and every epoch runs only the top ``top_layers``
layers forward and backward: on a CPU that is what makes cross-validating the
fine-tune affordable. Pooling is the one of :mod:`musicml.router.encoder`
(masked mean per layer, unit length, concatenated), so a tuned encoder is the
packaged model with its top layers replaced (:func:`musicml.router.encoder.load_encoder`
with ``tuned_state``), exported to ONNX as the frozen one is.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Sequence

import numpy as np

from musicml.config import scalar_config
from musicml.errors import ConfigError
from musicml.router.encoder import load_tokenizer, tokenize
from musicml.router.models import HeadConfig, build_head, fold_standardisation


@dataclass(frozen=True)
class FineTuneConfig:
    """Hyper-parameters of the fine-tune (``router.train.finetune`` in params).

    ``top_layers`` = 0 turns fine-tuning off (the frozen-feature head is
    shipped); ``cv_folds`` is how many of the family cross-validation folds
    are fine-tuned to choose the epoch count and to compare with the frozen head.
    ``probe_epochs`` > 0 first trains the head alone on the frozen features
    for that many epochs, then fine-tunes layers and head together at
    ``encoder_lr`` ("linear probe, then fine-tune": a head that already fits
    keeps the first updates from distorting the pretrained features, which is
    what generalising to unseen phrasings rests on).
    """

    top_layers: int = 2
    epochs: int = 4
    encoder_lr: float = 3e-5
    batch_size: int = 32
    weight_decay: float = 0.01
    cv_folds: int = 5
    probe_epochs: int = 0

    @classmethod
    def from_params(cls, cfg: dict[str, Any]) -> "FineTuneConfig":
        return scalar_config(cls, cfg, "router.train.finetune")


def config_dict(config: FineTuneConfig) -> dict[str, Any]:
    return asdict(config)


@dataclass
class BottomCache:
    """Frozen part of the encoder, computed once per text.

    ``states[i]``: the token states of text ``i`` at hidden-state index
    ``boundary`` (its real tokens only, ``(tokens, 384)``); ``frozen[i]``: the
    pooled features of the requested layers at or below the boundary.
    """

    boundary: int
    layers: list[int]
    states: list[np.ndarray]
    frozen: dict[int, np.ndarray]


def boundary_of(layers: Sequence[int], top_layers: int, n_layers: int = 6) -> int:
    """Hidden-state index below which the encoder is frozen; checks the layers against it."""
    if not 1 <= top_layers <= n_layers:
        raise ConfigError(f"router.train.finetune.top_layers: expected 0..{n_layers}, got {top_layers}")
    boundary = n_layers - top_layers
    if not any(int(k) > boundary for k in layers):
        raise ConfigError(f"router.embed.layers {list(layers)}: none above the frozen boundary {boundary}, "
                          "so fine-tuning would change nothing")
    return boundary


def _bert():
    from musicml.router.encoder import load_encoder

    return load_encoder((6,)).bert


def cache_bottom(texts: Sequence[str], *, layers: Sequence[int], top_layers: int, batch_size: int = 64,
                 bert=None) -> BottomCache:
    """Run the frozen bottom of the encoder on ``texts`` once."""
    import torch

    bert = bert or _bert()
    boundary = boundary_of(layers, top_layers, bert.config.num_hidden_layers)
    tokenizer = load_tokenizer()
    below = [int(k) for k in layers if int(k) <= boundary]
    states: list[np.ndarray] = []
    frozen: dict[int, list[np.ndarray]] = {k: [] for k in below}
    with torch.no_grad():
        for start in range(0, len(texts), batch_size):
            feeds = {n: torch.from_numpy(a) for n, a in tokenize(tokenizer, texts[start:start + batch_size]).items()}
            hidden = bert(**feeds, output_hidden_states=True).hidden_states
            mask = feeds["attention_mask"]
            for row in range(len(mask)):
                states.append(hidden[boundary][row, : int(mask[row].sum())].numpy().copy())
            for k in below:
                frozen[k].append(_pool(hidden[k], mask).numpy())
    return BottomCache(boundary, [int(k) for k in layers], states,
                       {k: np.concatenate(v) if v else np.zeros((0, 384), np.float32) for k, v in frozen.items()})


def _pool(states, attention_mask):
    import torch

    mask = attention_mask.unsqueeze(-1).to(states.dtype)
    return torch.nn.functional.normalize((states * mask).sum(1) / mask.sum(1).clamp(min=1e-9), p=2, dim=1)


def make_top(bert, boundary: int):
    """A trainable copy of the encoder layers above ``boundary``, with the packaged weights."""
    import copy

    import torch

    return torch.nn.ModuleList(copy.deepcopy(layer) for layer in bert.encoder.layer[boundary:])


class TopFeatures:
    """Pooled features of cached rows through trainable top layers (``top``)."""

    def __init__(self, cache: BottomCache, top, bert):
        self.cache = cache
        self.top = top
        self.bert = bert

    def __call__(self, rows: np.ndarray):
        import torch

        states = [self.cache.states[i] for i in rows]
        length = max(len(s) for s in states)
        hidden = torch.zeros(len(rows), length, states[0].shape[1])
        mask = torch.zeros(len(rows), length, dtype=torch.int64)
        for i, s in enumerate(states):
            hidden[i, : len(s)] = torch.from_numpy(s)
            mask[i, : len(s)] = 1
        # The mask in the form the packaged attention expects (eager: additive, broadcast over heads).
        extended = self.bert._create_attention_masks(attention_mask=mask, encoder_attention_mask=None,
                                                     embedding_output=hidden, encoder_hidden_states=None,
                                                     cache=None)[0]
        pooled = {}
        for offset, layer in enumerate(self.top):
            hidden = layer(hidden, extended)
            hidden = hidden[0] if isinstance(hidden, tuple) else hidden
            pooled[self.cache.boundary + offset + 1] = _pool(hidden, mask)
        parts = [pooled[k] if k in pooled else torch.from_numpy(self.cache.frozen[k][rows]) for k in self.cache.layers]
        return torch.cat(parts, dim=1)


def _features(extract, rows: np.ndarray, batch_size: int) -> np.ndarray:
    import torch

    with torch.no_grad():
        return np.concatenate([extract(rows[s:s + batch_size]).numpy() for s in range(0, len(rows), batch_size)])


def finetune(cache: BottomCache, rows: np.ndarray, y: np.ndarray, *, config: FineTuneConfig, head_config: HeadConfig,
             seed: int, weights: np.ndarray | None = None, score_rows: np.ndarray | None = None,
             bert=None) -> tuple[Any, Any, list[dict[str, Any]]]:
    """Train the top layers and a fresh head on cached ``rows`` with labels ``y``.

    The head is the one of :func:`musicml.router.models.build_head`, fed
    features standardised with the statistics of the untuned features of
    ``rows`` (folded into its first layer at the end, as
    :func:`musicml.router.models.train_head` does). Loss: BCE with balanced
    positive weights, weighted by each example's confidence. The head learns
    at ``head_config.lr``, the transformer layers at ``config.encoder_lr``.

    Returns
    -------
    (top, head, history): the tuned layers, the head (eval mode, raw features
    in) and per epoch ``{"epoch", "loss"}`` plus ``proba`` of ``score_rows``
    when given (cross-validation picks the epoch count from them).
    """
    import torch

    bert = bert or _bert()
    deterministic = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        return _finetune(cache, np.asarray(rows), y, config=config, head_config=head_config, seed=seed,
                         weights=weights, score_rows=score_rows, bert=bert)
    finally:
        torch.use_deterministic_algorithms(deterministic)


def _finetune(cache, rows, y, *, config, head_config, seed, weights, score_rows, bert):
    import torch

    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    top = make_top(bert, cache.boundary)
    extract = TopFeatures(cache, top, bert)
    top.eval()
    start = _features(extract, rows, 256)
    if config.probe_epochs > 0:
        from dataclasses import replace

        from musicml.router.models import train_head

        # The probe's head takes raw features (standardisation folded in); identity here.
        head, _ = train_head(start, y, config=replace(head_config, epochs=config.probe_epochs), seed=seed,
                             weights=weights)
        mean, scale = np.zeros(start.shape[1]), np.ones(start.shape[1])
        head_lr = config.encoder_lr
    else:
        mean, scale = start.mean(0), start.std(0) + 1e-6
        head = build_head(start.shape[1], head_config)
        head_lr = head_config.lr
    mean_t, scale_t = torch.from_numpy(mean.astype(np.float32)), torch.from_numpy(scale.astype(np.float32))
    optimiser = torch.optim.AdamW([{"params": top.parameters(), "lr": config.encoder_lr},
                                   {"params": head.parameters(), "lr": head_lr,
                                    "weight_decay": head_config.weight_decay}],
                                  weight_decay=config.weight_decay)
    yt = torch.from_numpy(np.asarray(y, dtype=np.float32))
    wt = torch.from_numpy(np.asarray(weights if weights is not None else np.ones(len(rows)), dtype=np.float32))
    pos = yt.mean(0).clamp(0.05, 0.95)
    pos_weight = (1 - pos) / pos
    history = []
    for epoch in range(config.epochs):
        top.train()
        head.train()
        order = torch.randperm(len(rows), generator=generator).numpy()
        total = 0.0
        for begin in range(0, len(order), config.batch_size):
            idx = order[begin:begin + config.batch_size]
            logits = head((extract(rows[idx]) - mean_t) / scale_t)
            loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, yt[idx], reduction="none",
                                                                        pos_weight=pos_weight)
            loss = (loss.mean(1) * wt[idx]).sum() / wt[idx].sum()
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            total += float(loss.detach()) * len(idx)
        record: dict[str, Any] = {"epoch": epoch + 1, "loss": total / len(rows)}
        if score_rows is not None:
            top.eval()
            head.eval()
            with torch.no_grad():
                x = (torch.from_numpy(_features(extract, np.asarray(score_rows), 256)) - mean_t) / scale_t
                record["proba"] = torch.sigmoid(head(x)).numpy()
        history.append(record)
    top.eval()
    fold_standardisation(head[0], mean, scale)
    head.eval()
    return top, head.eval(), history


def tuned_features(cache: BottomCache, top, rows: np.ndarray | None = None, *, bert=None) -> np.ndarray:
    """Features of cached rows (all by default) through tuned ``top`` layers."""
    bert = bert or _bert()
    rows = np.arange(len(cache.states)) if rows is None else np.asarray(rows)
    top.eval()
    return _features(TopFeatures(cache, top, bert), rows, 256)


def top_state(top) -> dict[str, Any]:
    """The tuned layers' weights, keyed as in the packaged model (``encoder.layer.<i>.…``)."""
    return {k: v.detach().clone() for k, v in top.state_dict().items()}
