"""Paraphrasers of router requests: rule-based (default, offline) and LLM (optional).

Both keep the labels of the request they rewrite. The rule-based one applies a
few random rules from ``configs/router_paraphrase.yaml`` (synonyms, reordering,
politeness, fillers, typos, numbers as words, casing). The LLM one calls an
OpenAI-compatible chat endpoint, caches answers by hash and never raises: a
failed call falls back to the rule-based paraphrase.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from musicml.atomic import write_text
from musicml.config import load_yaml
from musicml.errors import ConfigError, InputError
from musicml.router.examples import CATEGORIES, frame

KEYBOARD_NEIGHBOURS = {
    "a": "qsz", "b": "vn", "c": "xv", "d": "sf", "e": "wr", "f": "dg", "g": "fh", "h": "gj", "i": "uo", "j": "hk",
    "k": "jl", "l": "k", "m": "n", "n": "bm", "o": "ip", "p": "o", "q": "w", "r": "et", "s": "ad", "t": "ry",
    "u": "yi", "v": "cb", "w": "qe", "x": "zc", "y": "tu", "z": "x",
}


@dataclass(frozen=True)
class RuleSet:
    """The data of the rule-based paraphraser."""

    synonyms: dict[str, tuple[str, ...]]
    prefixes: tuple[str, ...]
    suffixes: tuple[str, ...]
    fillers: tuple[str, ...]
    prepositions: tuple[str, ...]
    numbers: dict[str, str]

    @classmethod
    def load(cls, path: str | os.PathLike) -> "RuleSet":
        data = load_yaml(path)
        words = [w for key in ("politeness_prefixes", "politeness_suffixes", "fillers", "reorder_prepositions")
                 for w in data.get(key) or []]
        if any(not isinstance(w, str) for w in words):
            raise InputError(path, "expected quoted texts (YAML reads bare on/off/yes/no as booleans)")
        try:
            return cls(synonyms={str(k): tuple(str(x) for x in v) for k, v in data["synonyms"].items()},
                       prefixes=tuple(data["politeness_prefixes"]), suffixes=tuple(data["politeness_suffixes"]),
                       fillers=tuple(data["fillers"]), prepositions=tuple(data["reorder_prepositions"]),
                       numbers={str(k): str(v) for k, v in data["numbers"].items()})
        except (KeyError, AttributeError, TypeError) as exc:
            raise InputError(path, f"expected synonyms, politeness_prefixes, politeness_suffixes, fillers, "
                                   f"reorder_prepositions and numbers ({exc})") from exc


def _word_pattern(phrase: str) -> re.Pattern:
    return re.compile(rf"(?<![\w-]){re.escape(phrase)}(?![\w-])", re.IGNORECASE)


def synonym(text: str, rules: RuleSet, rng: random.Random) -> str:
    """Swap one word or phrase for a synonym (longest phrases are tried first among matches)."""
    matches = [k for k in rules.synonyms if _word_pattern(k).search(text)]
    if not matches:
        return text
    key = rng.choice(matches)
    return _word_pattern(key).sub(rng.choice(rules.synonyms[key]), text, count=1)


def reorder(text: str, rules: RuleSet, rng: random.Random) -> str:
    """Move a trailing locative phrase to the front: "add reverb on track 2" -> "on track 2, add reverb"."""
    preps = "|".join(map(re.escape, rules.prepositions))
    candidates = [m for m in re.finditer(rf"\s(({preps})\s(?:the\s)?(?:track|bar|channel|clip|bus|master|\w+ track)\b"
                                         rf"[^,?!]*)$", text, re.IGNORECASE)]
    if not candidates:
        return text
    match = candidates[0]
    head = text[: match.start()].strip()
    if len(head.split()) < 2:
        return text
    return f"{match.group(1)}, {head}"


def polite(text: str, rules: RuleSet, rng: random.Random) -> str:
    """Add a politeness prefix or suffix."""
    if rng.random() < 0.5:
        return rng.choice(rules.prefixes) + text
    return text.rstrip("?!.") + rng.choice(rules.suffixes)


def filler(text: str, rules: RuleSet, rng: random.Random) -> str:
    """Insert a filler word ("um", "just", "like") between two words."""
    words = text.split()
    position = rng.randint(0, max(0, len(words) - 1))
    words.insert(position, rng.choice(rules.fillers))
    return " ".join(words)


def typo(text: str, rules: RuleSet, rng: random.Random) -> str:
    """One keyboard typo (swap, drop, double or neighbouring key) in a word of four letters or more."""
    words = text.split(" ")
    candidates = [i for i, w in enumerate(words) if len(w) >= 4 and w.isalpha()]
    if not candidates:
        return text
    i = rng.choice(candidates)
    word = words[i]
    j = rng.randint(1, len(word) - 2)
    kind = rng.choice(("swap", "drop", "double", "neighbour"))
    if kind == "swap":
        word = word[:j] + word[j + 1] + word[j] + word[j + 2:]
    elif kind == "drop":
        word = word[:j] + word[j + 1:]
    elif kind == "double":
        word = word[:j] + word[j] + word[j:]
    else:
        near = KEYBOARD_NEIGHBOURS.get(word[j].lower(), word[j])
        word = word[:j] + rng.choice(near) + word[j + 1:]
    words[i] = word
    return " ".join(words)


def numbers_as_words(text: str, rules: RuleSet, rng: random.Random) -> str:
    """Write standalone numbers as words ("track 3" -> "track three")."""
    return re.sub(r"(?<![\w./:#-])(\d+)(?![\w./:%-])", lambda m: rules.numbers.get(m.group(1), m.group(1)), text)


def casing(text: str, rules: RuleSet, rng: random.Random) -> str:
    """Change the casing: all lower, sentence case, or (rarely) all caps; sometimes drop end punctuation."""
    choice = rng.random()
    if choice < 0.5:
        text = text.lower()
    elif choice < 0.85:
        text = text[:1].upper() + text[1:]
    else:
        text = text.upper()
    return text.rstrip("?!.") if rng.random() < 0.5 else text


RULES: dict[str, Callable[[str, RuleSet, random.Random], str]] = {
    "synonym": synonym, "reorder": reorder, "politeness": polite, "filler": filler, "typo": typo,
    "numbers": numbers_as_words, "casing": casing,
}


def paraphrase_rule(text: str, rules: RuleSet, rng: random.Random, *, min_ops: int = 2, max_ops: int = 4,
                    tries: int = 5) -> tuple[str, list[str]]:
    """A paraphrase of ``text`` by ``min_ops``..``max_ops`` random rules; returns it and the rules applied.

    Casing, when drawn, is applied last so that it covers the words other rules added.
    """
    result, applied = text, []
    for _ in range(tries):
        names = rng.sample(sorted(RULES), rng.randint(min_ops, min(max_ops, len(RULES))))
        names.sort(key=lambda n: n == "casing")
        result = text
        for name in names:
            result = RULES[name](result, rules, rng)
        result = re.sub(r"\s+", " ", result).strip()
        applied = names
        if result.lower() != text.lower():
            break
    return result, applied


@dataclass
class LlmClient:
    """An OpenAI-compatible chat endpoint with an on-disk answer cache; it never raises.

    Parameters
    ----------
    url : str
        Base URL (``.../v1``); ``/chat/completions`` is appended.
    model : str
        Model name sent in the request.
    api_key : str, optional
        Bearer token; None sends no Authorization header (local servers).
    cache_dir : str
        Folder of cached answers, one JSON file per hash of (model, prompt).
    timeout_s : float
        Per-request timeout.
    max_failures : int
        After this many consecutive failures the client stops calling (a dead
        endpoint must not cost one timeout per example).
    """

    url: str
    model: str
    api_key: str | None = None
    cache_dir: str = "data/cache/router_llm"
    timeout_s: float = 20.0
    max_failures: int = 5
    stats: dict[str, int] = field(default_factory=lambda: {"calls": 0, "cache_hits": 0, "failures": 0})
    _consecutive_failures: int = 0

    @classmethod
    def from_params(cls, cfg: dict[str, Any], environ: dict[str, str] | None = None) -> "LlmClient | None":
        """The client that ``cfg`` (``router.llm``) asks for, or None when it is off.

        ``url`` and ``model`` come from params unless the environment variables
        named by ``url_env`` / ``model_env`` are set; the key only from ``api_key_env``.
        """
        environ = dict(os.environ if environ is None else environ)
        if not cfg.get("enabled", False):
            return None
        url = environ.get(cfg.get("url_env", ""), "") or cfg.get("url", "")
        model = environ.get(cfg.get("model_env", ""), "") or cfg.get("model", "")
        if not url or not model:
            raise ConfigError("router.llm.enabled is true but no url/model is set (params router.llm.url/model "
                              f"or environment {cfg.get('url_env')}/{cfg.get('model_env')})")
        return cls(url=url, model=model, api_key=environ.get(cfg.get("api_key_env", ""), "") or None,
                   cache_dir=cfg.get("cache_dir", "data/cache/router_llm"), timeout_s=float(cfg.get("timeout_s", 20)),
                   max_failures=int(cfg.get("max_failures", 5)))

    def _cache_path(self, prompt: str) -> Path:
        key = hashlib.sha256(json.dumps([self.model, prompt]).encode()).hexdigest()
        return Path(self.cache_dir) / key[:2] / f"{key}.json"

    def chat(self, prompt: str) -> str | None:
        """The endpoint's answer to ``prompt``, from the cache when present; None on any failure."""
        cached = self._cache_path(prompt)
        if cached.exists():
            try:
                self.stats["cache_hits"] += 1
                return json.loads(cached.read_text())["answer"]
            except (ValueError, KeyError, OSError):
                cached.unlink(missing_ok=True)
        if self._consecutive_failures >= self.max_failures:
            self.stats["failures"] += 1
            return None
        body = json.dumps({"model": self.model, "temperature": 0.7,
                           "messages": [{"role": "user", "content": prompt}]}).encode()
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        request = urllib.request.Request(self.url.rstrip("/") + "/chat/completions", data=body, headers=headers)
        self.stats["calls"] += 1
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                answer = json.loads(response.read())["choices"][0]["message"]["content"]
            if not isinstance(answer, str) or not answer.strip():
                raise ValueError("empty answer")
        except (urllib.error.URLError, OSError, ValueError, KeyError, IndexError, TypeError):
            self.stats["failures"] += 1
            self._consecutive_failures += 1
            return None
        self._consecutive_failures = 0
        cached.parent.mkdir(parents=True, exist_ok=True)
        write_text(cached, json.dumps({"prompt": prompt, "answer": answer}))
        return answer.strip()


PARAPHRASE_PROMPT = (
    "Rewrite this request to a music-production assistant the way another musician might type it. Keep its "
    "meaning and every detail (track numbers, bars, keys, chords, effects). Answer with the rewritten request "
    "only, on one line.\n\nRequest: {text}"
)


def llm_paraphrase(client: LlmClient, text: str) -> str | None:
    """The LLM's paraphrase of ``text``, or None when the call failed or the answer is unusable."""
    answer = client.chat(PARAPHRASE_PROMPT.format(text=text))
    if answer is None:
        return None
    answer = answer.strip().strip('"').splitlines()[0].strip() if answer.strip() else ""
    if not answer or len(answer) > 4 * len(text) + 80 or answer.lower() == text.lower():
        return None
    return answer


def augment(df: pd.DataFrame, rules: RuleSet, *, per_category: int, seed: int, min_ops: int = 2, max_ops: int = 4,
            client: LlmClient | None = None) -> tuple[pd.DataFrame, dict[str, Any]]:
    """``df`` plus paraphrases of ``per_category`` examples drawn from each category.

    Paraphrases keep the labels, category, operation, confidence and template id
    of their source row (so the split keeps them with their template). A
    paraphrase that repeats an existing text is dropped.

    Returns
    -------
    (table, stats): the augmented table and counts per category and rule.
    """
    rng = random.Random(seed)
    existing = set(df["question"].str.lower())
    new_rows: list[dict[str, Any]] = []
    stats: dict[str, Any] = {"per_category": {}, "rules": {name: 0 for name in RULES}, "llm_used": 0,
                             "llm_fallbacks": 0, "duplicates_dropped": 0}
    originals = df[df["source"] != "paraphrase"]
    for category in CATEGORIES:
        pool = originals[originals["category"] == category]
        picks = rng.sample(range(len(pool)), min(per_category, len(pool)))
        made = 0
        for index in sorted(picks):
            row = pool.iloc[index].to_dict()
            text, source = None, "paraphrase"
            if client is not None:
                text = llm_paraphrase(client, row["question"])
                if text is None:
                    stats["llm_fallbacks"] += 1
                else:
                    source = "llm_paraphrase"
                    stats["llm_used"] += 1
            if text is None:
                text, applied = paraphrase_rule(row["question"], rules, rng, min_ops=min_ops, max_ops=max_ops)
                for name in applied:
                    stats["rules"][name] += 1
            if text.lower() in existing:
                stats["duplicates_dropped"] += 1
                continue
            existing.add(text.lower())
            new_rows.append({**row, "question": text, "source": source})
            made += 1
        stats["per_category"][category] = made
    stats["paraphrases"] = len(new_rows)
    stats["examples"] = len(df) + len(new_rows)
    if client is not None:
        stats["llm"] = dict(client.stats)
    out = pd.concat([df, frame(new_rows)], ignore_index=True) if new_rows else df.reset_index(drop=True)
    return out, stats
