"""One seeding module: every purpose distinct, no two purposes hash the same key, the recorded
derivations unchanged (so outputs stay byte-identical), and no module derives seeds on its own."""

from __future__ import annotations

import ast
import hashlib
import re
from pathlib import Path

import numpy as np
import pytest

from augmill.tasks import seeding
from augmill.tasks.generative.params import AdversarialParams, StyleParams
from augmill.tasks.ingest import sample_id_for

ROOT = Path(__file__).resolve().parents[1]


def _synthesize_methods() -> list[str]:
    """The names synthesize orders sources under (its pick_sources tag)."""
    style = [f"style_{m}" for m in StyleParams.model_fields["method"].annotation.__args__]
    return [*AdversarialParams.model_fields["method"].annotation.__args__, *style]


def test_synthesize_methods_do_not_reuse_another_rank_tag():
    tags = {p.tag for p in seeding.PURPOSES.values() if p.derivation == "rank"}
    assert not tags & set(_synthesize_methods())


def _by(derivation):
    return {name: p for name, p in seeding.PURPOSES.items() if p.derivation == derivation}


@pytest.mark.parametrize("derivation", ["rank", "keyed", "stream"])
def test_tags_are_distinct_within_a_derivation(derivation):
    tags = [p.tag for p in _by(derivation).values() if p.tag != ""]
    assert len(tags) == len(set(tags))


def test_stream_tags_are_numbers_and_text_tags_have_no_colon_inside():
    assert all(isinstance(p.tag, int) for p in _by("stream").values())
    for p in list(_by("rank").values()) + list(_by("keyed").values()):
        assert isinstance(p.tag, str)
        assert p.tag == "" or not p.tag.endswith(":")


def test_no_two_purposes_hash_the_same_key():
    """Untagged legacy keys (sample ids, content hashes, clip numbers) never contain ':' and never
    look like each other; every tagged key does contain ':'. So across purposes the hashed texts
    differ for any seed, checked here over real ids."""
    ids = [sample_id_for(f"cats/img_{i}.png") for i in range(50)] + [sample_id_for("a:b/c d.wav")]
    shas = [hashlib.sha256(str(i).encode()).hexdigest() for i in range(50)]
    assert all(":" not in s and "-" in s for s in ids)
    assert all(re.fullmatch(r"[0-9a-f]{64}", s) for s in shas)
    seed = 7
    texts: dict[str, set[int]] = {}
    keys = {"split": shas, "remainder_variants": ids, "demo_clip": [str(i) for i in range(50)],
            "review": ids, "preview": ids, "gallery": ids, "report": [f"gallery:{s}" for s in ids]}
    for name, values in keys.items():
        texts[name] = {seeding.rank(seed, name, v) for v in values}
    for method in _synthesize_methods():
        texts[f"synthesize:{method}"] = {seeding.synthesize_source_rank(seed, method, s) for s in ids}
    names = list(texts)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            assert not texts[a] & texts[b], (a, b)
    # jitter_order ranks with an operator's own seed, not the run seed: a different input altogether
    keyed = {name: {seeding.keyed_seed(seed, name, k, 0) for k in (ids if name != "class_rows" else ["a", "b"])}
             for name in seeding.PURPOSES if seeding.PURPOSES[name].derivation == "keyed"}
    keyed["synthetic_from_source"] = {seeding.keyed_seed(seed, "synthetic_from_source", f"vae:{s}", 0) for s in ids}
    keyed["train"] = {seeding.keyed_seed(seed, "train", k) for k in ("vae", "gan", "surrogate", "adain")}
    keyed["synthetic"] = {seeding.keyed_seed(seed, "synthetic", f"vae:{k}", 0) for k in ("a", "b")}
    names = list(keyed)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            assert not keyed[a] & keyed[b], (a, b)


def test_streams_differ_between_purposes():
    firsts = {name: tuple(seeding.stream(3, name, *([0] if name in ("shapes_demo", "evaluate_rows", "evaluate_model")
                                                     else [])).generate_state(4))
              for name in _by("stream")}
    assert len(set(firsts.values())) == len(firsts)


def test_recorded_derivations_are_unchanged():
    """The formulas the outputs in dvc.lock were made with, written out independently."""
    def h(text):
        return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")

    seed, sid = 42, "cat-0123456789"
    assert seeding.rank(seed, "remainder_variants", sid) == h(f"{seed}:{sid}")
    assert seeding.rank(seed, "review", sid) == h(f"{seed}:review:{sid}")
    assert seeding.rank(seed, "report", f"gallery:{sid}") == h(f"{seed}:report:gallery:{sid}")
    old = np.random.SeedSequence([seed, h(sid), 3]).generate_state(1, np.uint64)[0] >> np.uint64(1)
    assert seeding.sample_seed(seed, sid, 3) == int(old)
    old = np.random.SeedSequence([seed, h("synthesize:train:vae"), 0]).generate_state(1, np.uint64)[0] >> np.uint64(1)
    assert seeding.keyed_seed(seed, "train", "vae") == int(old)
    assert seeding.keyed_seed(seed, "class_rows", "b", 2) == seeding.keyed_seed(seed, "augment_sample", "class:b", 2)
    assert seeding.stream_int(seed, "evaluate_model", 4) == int(np.random.SeedSequence([seed, 4, 0xC11]).generate_state(1)[0])
    assert (seeding.generator(seed, "shapes_demo", 2).integers(1 << 30)
            == np.random.default_rng(np.random.SeedSequence([seed, 19, 2])).integers(1 << 30))


def test_a_purpose_is_used_only_for_its_derivation():
    with pytest.raises(ValueError, match="review"):
        seeding.keyed_seed(1, "review", "x")
    with pytest.raises(KeyError):
        seeding.rank(1, "no_such_purpose", "x")


# Fixed generators that are not the run's: they must be the same in every run.
_FIXED_GENERATORS = {"tasks/modalities/text/measures.py", "tasks/modalities/audio/final.py"}


def test_no_module_derives_seeds_outside_the_seeding_module():
    offenders = []
    for path in sorted((ROOT / "tasks").rglob("*.py")) + sorted((ROOT / "flows").rglob("*.py")):
        relative = path.relative_to(ROOT).as_posix()
        if relative == "tasks/seeding.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if name in ("SeedSequence", "stable_hash", "RandomState", "seed"):
                offenders.append(f"{relative}:{node.lineno} {name}")
            literal = node.args and isinstance(node.args[0], ast.Constant)
            if name == "default_rng" and literal and relative not in _FIXED_GENERATORS:
                offenders.append(f"{relative}:{node.lineno} default_rng(constant)")
    assert offenders == []
