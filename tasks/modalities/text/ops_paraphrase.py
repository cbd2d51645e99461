"""``paraphrase``: rewrite a text with a sequence-to-sequence model from a LOCAL folder
(a paraphraser, or a back-translation pair's first leg; any ``AutoModelForSeq2SeqLM``
that Hugging Face transformers saves with ``save_pretrained``).

    augment.policy: [{name: paraphrase, p: 0.3, model: models/t5-paraphrase, prefix: "paraphrase: "}]

Nothing is downloaded: the folder is read with ``local_files_only=True`` and HF_HUB_OFFLINE
set, and a folder that is not a saved model is refused at build time, naming the key.
Decoding is greedy (or beam search with ``num_beams``), on one CPU thread: deterministic,
with no generator state to seed. The record names the folder and a sha256 of its files, so
lineage says which weights wrote the text and replay refuses a folder that has changed.
A model that writes nothing leaves the text as it was (a text never becomes empty).

It needs transformers (``pip install -e '.[hf]'``); it is an EXTRA operator (tasks.ops.
policy): the one-item contract suite cannot run it without a model folder, so
tests/test_ops_text_paraphrase.py runs that contract with a tiny random model.
"""

from __future__ import annotations

import functools
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from augmill.tasks.ops.base import Operator, OperatorConfigError
from augmill.tasks.ops.registry import register_extra


def model_digest(folder: str) -> str:
    """sha256 over the folder's files (relative names and bytes), cached by their sizes and times."""
    root = Path(folder)
    files = sorted(p for p in root.rglob("*") if p.is_file())
    stamp = tuple((p.relative_to(root).as_posix(), p.stat().st_size, p.stat().st_mtime_ns) for p in files)
    return _digest(str(root), stamp)


@functools.lru_cache(maxsize=8)
def _digest(root: str, stamp: tuple) -> str:
    digest = hashlib.sha256()
    for name, _, _ in stamp:
        digest.update(name.encode() + b"\0" + hashlib.sha256((Path(root) / name).read_bytes()).digest())
    return digest.hexdigest()


@functools.lru_cache(maxsize=2)
def _loaded(folder: str, digest: str):
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # belt and braces: local_files_only already forbids the hub
    try:
        from transformers import AutoModelForSeq2SeqLM, AutoTokenizer
    except ImportError:
        raise ImportError("paraphrase needs transformers: pip install -e '.[hf]'") from None
    tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    model = AutoModelForSeq2SeqLM.from_pretrained(folder, local_files_only=True)
    model.eval()
    return tokenizer, model


def paraphrased(text: str, folder: str, digest: str, prefix: str, max_new_tokens: int, num_beams: int) -> str:
    import torch

    tokenizer, model = _loaded(folder, digest)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # one thread: the same sums in the same order on any machine
    try:
        inputs = tokenizer(prefix + text, return_tensors="pt", truncation=True,
                           max_length=getattr(tokenizer, "model_max_length", 512) if
                           getattr(tokenizer, "model_max_length", 0) < 10**6 else 512)
        with torch.no_grad():
            output = model.generate(**inputs, do_sample=False, num_beams=num_beams, max_new_tokens=max_new_tokens)
    finally:
        torch.set_num_threads(threads)
    return tokenizer.decode(output[0], skip_special_tokens=True).strip()


@register_extra
@dataclass(frozen=True)
class Paraphrase(Operator):
    name = "paraphrase"
    modality = "text"
    model: str = ""  # a local folder written by save_pretrained (model and tokenizer)
    prefix: str = ""  # put before the text, e.g. "paraphrase: " for T5-style models
    max_new_tokens: int = 128
    num_beams: int = 1

    def validate(self) -> None:
        if not self.model or not (Path(self.model) / "config.json").is_file():
            raise OperatorConfigError(f"{self.name}.model must be a local folder with a saved model (config.json): "
                                      f"got {self.model!r}; nothing is downloaded")
        for field, low in (("max_new_tokens", 1), ("num_beams", 1)):
            value = getattr(self, field)
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise OperatorConfigError(f"{self.name}.{field} must be an integer >= {low}, got {value!r}")
        if not isinstance(self.prefix, str):
            raise OperatorConfigError(f"{self.name}.prefix must be a string, got {self.prefix!r}")

    def sample(self, rng: np.random.Generator, item: str) -> dict[str, Any]:
        # Nothing drawn: greedy decoding is the whole rewrite; the record pins the weights.
        return {"model": self.model, "model_sha256": model_digest(self.model), "prefix": self.prefix,
                "max_new_tokens": self.max_new_tokens, "num_beams": self.num_beams}

    def apply(self, item: str, *, model: str, model_sha256: str, prefix: str, max_new_tokens: int,
              num_beams: int) -> str:
        actual = model_digest(model)
        if actual != model_sha256:
            raise ValueError(f"paraphrase: the model folder {model} changed since the op was recorded "
                             f"(sha256 {actual[:12]}, recorded {model_sha256[:12]})")
        return paraphrased(item, model, actual, prefix, max_new_tokens, num_beams) or item
