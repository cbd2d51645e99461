"""The text review page: each source text beside its variants, every edit marked
(inserted or replacing words highlighted, removed words struck through)."""

from __future__ import annotations

import difflib
import json
from pathlib import Path

import pandas as pd
from jinja2 import Environment, PackageLoader, select_autoescape

from augmill.tasks.io import write_bytes_atomic
from augmill.tasks.modalities.text.measures import similarity
from augmill.tasks.modalities.text.tokens import tokens
from augmill.tasks.params import Params
from augmill.tasks.review_pages import gallery_sources

_templates = Environment(loader=PackageLoader("augmill.tasks", "templates"), autoescape=select_autoescape(["html", "j2"]))
MAX_TOKENS = 3000  # beyond this a text is cut for display (the diff is quadratic in the worst case)


def diff_segments(source: str, variant: str) -> list[tuple[str, str]]:
    """(kind, text) pieces of the variant: "same", "ins" (new or replacing) or "del" (removed)."""
    a, b = tokens(source)[:MAX_TOKENS], tokens(variant)[:MAX_TOKENS]
    segments = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if op == "equal":
            segments.append(("same", "".join(b[j1:j2])))
            continue
        removed, added = "".join(a[i1:i2]), "".join(b[j1:j2])
        if removed.strip():
            segments.append(("del", removed))
        if added.strip():
            segments.append(("ins", added))
        elif added:
            segments.append(("same", added))
    return segments


def describe_text_ops(ops_json: str) -> list[str]:
    """Each operator with how much it did: "random_swap: 2 swaps", "sentence_shuffle: order 2, 1, 3"."""
    described = []
    for op in json.loads(ops_json):
        (key, value), = op["params"].items()
        if key == "order" and len(value) > 1:
            described.append(f"{op['name']}: order " + ", ".join(str(i + 1) for i in value))
        elif len(value) <= (1 if key == "order" else 0):  # it fired, but found nothing to change (one sentence, ...)
            described.append(f"{op['name']}: nothing to change")
        else:
            described.append(f"{op['name']}: {len(value)} {key if len(value) != 1 else key.rstrip('s')}")
    return described


def render_text_gallery(validated: pd.DataFrame, raw: pd.DataFrame, params: Params, path: Path) -> None:
    raw = raw.set_index("sample_id")
    groups = []
    for source_id in gallery_sources(validated, params.validate_.gallery_sources, params.seed):
        variants = validated[validated["source_id"] == source_id].sort_values("sample_id")
        source = raw["text"].get(source_id)
        groups.append({
            "source_id": source_id, "label": variants["label"].iloc[0], "source_text": source,
            "where": raw["path"].get(source_id, ""),
            "variants": [{"sample_id": v.sample_id, "status": v.status, "reason": v.reason,
                          "ops": describe_text_ops(v.ops),
                          "similarity": similarity(source, v.text) if source and isinstance(v.text, str) else None,
                          "segments": diff_segments(source or "", v.text if isinstance(v.text, str) else "")}
                         for v in variants.itertuples()],
        })
    counts = validated["status"].value_counts()
    page = _templates.get_template("text_gallery.html.j2").render(
        groups=groups, accepted=int(counts.get("accepted", 0)), quarantined=int(counts.get("quarantined", 0)),
        total_sources=int(validated["source_id"].nunique()))
    write_bytes_atomic(path, page.encode("utf-8"))
