"""MixUp and CutMix (tasks.ops.mixing): two train sources, a soft label, exact replay."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from augmill.tasks.evaluate import soft_label_rows
from augmill.tasks.ops.base import OperatorConfigError
from augmill.tasks.ops.mixing import MIXERS, CutMix, MixUp, NoPartner, partner_drawer, soft_label
from augmill.tasks.ops.policy import build_policy, replay, run_policy


def _image(seed: int, size=(40, 30), mode="RGB") -> Image.Image:
    channels = {"L": (), "RGB": (3,), "RGBA": (4,)}[mode]
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], *channels), dtype=np.uint8)
    return Image.fromarray(pixels, mode)


POOL = {"a": ("cat", _image(1)), "b": ("dog", _image(2)), "c": ("dog", _image(3, size=(20, 50)))}


def _drawer(exclude: str):
    return partner_drawer([(k, v[0]) for k, v in sorted(POOL.items())], lambda sid: POOL[sid][1], exclude)


@pytest.mark.parametrize("name", sorted(MIXERS))
@pytest.mark.parametrize("mode", ["L", "RGB", "RGBA"])
def test_a_mixer_is_deterministic_keeps_mode_and_size_and_replays_from_its_record(name, mode):
    source = POOL["a"][1].convert(mode)
    policy = build_policy([{"name": name, "p": 1.0}], "image")
    first, records = run_policy(policy, np.random.default_rng(7), source, _drawer("a"))
    again, _ = run_policy(policy, np.random.default_rng(7), source, _drawer("a"))
    assert first.tobytes() == again.tobytes()
    assert (first.mode, first.size) == (source.mode, source.size)
    assert [r["name"] for r in records] == [name]
    params = json.loads(json.dumps(records))[0]["params"]  # as the manifest stores it
    assert params["partner"] in {"b", "c"} and params["partner_label"] == "dog"
    assert 0.0 <= params["weight"] <= 1.0
    replayed = replay(source, json.loads(json.dumps(records)), "image", lambda sid: POOL[sid][1])
    assert replayed.tobytes() == first.tobytes()


def test_mixup_weights_are_exact_at_the_ends_and_linear_between():
    source, partner = POOL["a"][1], POOL["b"][1]
    op = MixUp()
    assert op.apply(source, partner_image=partner, weight=1.0).tobytes() == source.tobytes()
    assert op.apply(source, partner_image=partner, weight=0.0).tobytes() == partner.tobytes()
    half = np.asarray(op.apply(source, partner_image=partner, weight=0.5), dtype=float)
    expected = (np.asarray(source, dtype=float) + np.asarray(partner, dtype=float)) / 2
    assert np.abs(half - expected).max() <= 0.5


def test_cutmix_pastes_the_partner_in_its_box_only_and_its_weight_is_the_share_left():
    source, partner = POOL["a"][1], POOL["b"][1]
    op = CutMix(alpha=1.0)
    for seed in range(20):
        params = op.sample(np.random.default_rng(seed), source)
        x0, y0, x1, y1 = params["box"]
        out = np.asarray(op.apply(source, partner_image=partner, **params))
        inside = np.zeros(out.shape[:2], bool)
        inside[y0:y1, x0:x1] = True
        assert (out[inside] == np.asarray(partner)[inside]).all()
        assert (out[~inside] == np.asarray(source)[~inside]).all()
        assert params["weight"] == pytest.approx(1 - inside.mean(), abs=1e-4)


def test_the_partner_is_never_the_source_and_comes_from_the_pool_only():
    draw = _drawer("b")
    drawn = {draw(np.random.default_rng(seed))[0] for seed in range(50)}
    assert drawn == {"a", "c"}
    lonely = partner_drawer([("a", "cat")], lambda sid: POOL[sid][1], exclude="a")
    item, records = run_policy(build_policy([{"name": "mixup"}, {"name": "hflip", "p": 0.0}], "image"),
                               np.random.default_rng(0), POOL["a"][1], lonely)
    assert all(r["name"] != "mixup" for r in records)  # no other train source: nothing mixed


def test_a_mixer_without_partners_says_where_it_runs():
    with pytest.raises(NoPartner, match="mixes two train sources"):
        run_policy(build_policy([{"name": "cutmix"}], "image"), np.random.default_rng(0), POOL["a"][1])
    with pytest.raises(NoPartner, match="load_partner"):
        replay(POOL["a"][1], [{"name": "mixup", "params": {"partner": "b", "partner_label": "dog", "weight": 0.5}}],
               "image")


@pytest.mark.parametrize("alpha", [0, -1, "big"])
def test_a_bad_alpha_is_refused_naming_the_entry(alpha):
    with pytest.raises(OperatorConfigError, match=r"augment.policy\[0\].*mixup.alpha"):
        build_policy([{"name": "mixup", "alpha": alpha}], "image")


def test_soft_labels_compose_and_sum_to_one():
    mix = {"name": "mixup", "params": {"partner": "b", "partner_label": "dog", "weight": 0.7}}
    cut = {"name": "cutmix", "params": {"partner": "c", "partner_label": "bird", "weight": 0.5, "box": [0, 0, 1, 1]}}
    assert json.loads(soft_label(json.dumps([mix]), "cat")) == {"cat": 0.7, "dog": 0.3}
    assert json.loads(soft_label([{"name": "rotate", "params": {}}, mix, cut], "cat")) == {
        "bird": 0.5, "cat": 0.35, "dog": 0.15}
    assert json.loads(soft_label([mix], "dog")) == {"dog": 1.0}
    assert soft_label("[]", "cat") is None and soft_label([{"name": "rotate", "params": {}}], "cat") is None


def test_evaluate_trains_on_each_label_of_a_soft_row_at_its_weight():
    x = np.arange(6.0).reshape(3, 2)
    y = np.array(["cat", "dog", "cat"])
    soft = np.array([None, '{"cat": 0.25, "dog": 0.75}', None], dtype=object)
    rows, labels, weights = soft_label_rows(x, y, soft, weighted=True)
    assert labels.tolist() == ["cat", "cat", "dog", "cat"]
    assert weights.tolist() == [1.0, 0.25, 0.75, 1.0]
    assert (rows[1] == x[1]).all() and (rows[2] == x[1]).all()
    rows, labels, weights = soft_label_rows(x, y, soft, weighted=False)  # the CNN: the heaviest label
    assert labels.tolist() == ["cat", "dog", "cat"] and weights is None
    assert soft_label_rows(x, y, np.array([None] * 3, dtype=object), weighted=True)[2] is None


def test_the_on_the_fly_transform_refuses_a_mixer_naming_it():
    from augmill.tasks.loaders import LoaderError, PolicyTransform

    with pytest.raises(LoaderError, match=r"\['cutmix'\] mix two train sources"):
        PolicyTransform([{"name": "rotate"}, {"name": "cutmix"}], "image")


def test_a_reviewer_can_reject_every_mix_by_its_operator():
    import pandas as pd

    from augmill.tasks.review import DecisionsError, check_targets, modality_operators

    variants = pd.DataFrame({"sample_id": ["x-aug000"]})
    check_targets(pd.DataFrame([{"target": "op:cutmix", "line": 2}]), variants, modality_operators("image"))
    with pytest.raises(DecisionsError, match="'op:cutmixx': unknown operator"):
        check_targets(pd.DataFrame([{"target": "op:cutmixx", "line": 2}]), variants, modality_operators("image"))
