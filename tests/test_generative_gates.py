"""The quality gates for synthetic samples (tasks/generative/gates.py), without PyTorch.

"Generators" here are constructed on purpose: one that memorises (returns training
samples), one that returns noise, one that swaps labels, and held-out real samples as
the stand-in for a perfect generator, which the gates must let through."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer, load_digits

from augmill.tasks.generative import gates
from augmill.tasks.generative.encoding import ImageCodec, TableCodec

GATES = {"max_c2st_accuracy": 0.85, "max_detect_probability": 0.9, "pca_components": 20, "seed": 7}


@pytest.fixture(scope="module")
def digits():
    """Digits as 8x8 vectors in [0, 1], split into a train half and a held-out half per class."""
    data = load_digits()
    x, y = data.data / 16.0, data.target.astype(str)
    rng = np.random.default_rng(0)
    order = rng.permutation(len(x))
    train, held_out = order[: len(x) // 2], order[len(x) // 2:]
    return x[train], y[train], x[held_out], y[held_out]


def all_gates(real, real_labels, synthetic, synthetic_labels, held_out=None, held_out_labels=None):
    return {
        "fidelity": gates.fidelity_gate(real, real_labels, synthetic, synthetic_labels, **GATES),
        "distance": gates.feature_distance_gate(real, real_labels, synthetic, synthetic_labels, max_ratio=4.0,
                                                pca_components=20, seed=7),
        "label": gates.label_fidelity_gate(real, real_labels, synthetic, synthetic_labels, min_agreement=0.7, seed=7,
                                           held_out=held_out, held_out_labels=held_out_labels),
        "privacy": gates.privacy_gate(real, synthetic, reference_quantile=0.05, min_ratio=0.5),
    }


# ---- the two generators the issue names -----------------------------------------------


def test_a_memorising_generator_is_caught_by_the_privacy_gate(digits):
    x, y, _, _ = digits
    rng = np.random.default_rng(1)
    copied = rng.choice(len(x), size=300, replace=False)
    results = all_gates(x, y, x[copied], y[copied])
    privacy = results["privacy"]
    assert not privacy.passed.any()
    assert set(privacy.codes) == {"gate_privacy"}
    assert privacy.figures["exact_copies"] == 300 and privacy.figures["near_copies"] == 300
    assert "near copy of real sample" in privacy.reasons[0]
    # Copies look perfectly real and are of the right class: only the privacy gate can catch them.
    assert results["fidelity"].figures["c2st_accuracy"] < 0.7 and results["fidelity"].passed.all()
    assert results["label"].passed.mean() > 0.95


def test_a_memorising_generator_that_adds_a_little_noise_is_still_caught(digits):
    x, y, _, _ = digits
    rng = np.random.default_rng(2)
    copied = rng.choice(len(x), size=200, replace=False)
    reference = gates.privacy_gate(x, x[:0], reference_quantile=0.05, min_ratio=0.5).figures["reference_distance"]
    # Each copy moved by a tenth of the reference spacing: still a near copy.
    noise = rng.normal(size=(200, x.shape[1]))
    noise *= 0.1 * reference / np.linalg.norm(noise, axis=1, keepdims=True)
    result = gates.privacy_gate(x, x[copied] + noise, reference_quantile=0.05, min_ratio=0.5)
    assert not result.passed.any()
    assert result.figures["exact_copies"] == 0
    ratios = result.figures["distance_ratio"]
    assert 0.09 < ratios["min"] and ratios["max"] < 0.11


def test_a_noise_generator_is_caught_by_the_fidelity_gate(digits):
    x, y, _, _ = digits
    rng = np.random.default_rng(3)
    labels = rng.choice(np.unique(y), size=300)
    results = all_gates(x, y, rng.uniform(0, 1, size=(300, x.shape[1])), labels)
    fidelity = results["fidelity"]
    assert fidelity.figures["c2st_accuracy"] > 0.95
    assert fidelity.figures["batch_passed"] is False
    assert not fidelity.passed.any() and set(fidelity.codes) == {"gate_fidelity_batch"}
    assert "max_c2st_accuracy=0.85" in fidelity.reasons[0]
    assert results["distance"].figures["ratio"] > 10 and not results["distance"].passed.any()
    # Noise is no copy of anyone: privacy alone would have let it through.
    assert results["privacy"].passed.all()


# ---- a perfect generator: real samples the gates have not seen -----------------------------


def test_held_out_real_samples_pass_every_gate(digits):
    x, y, held_x, held_y = digits
    results = all_gates(x, y, held_x[:400], held_y[:400], held_x[400:], held_y[400:])
    assert results["fidelity"].figures["c2st_accuracy"] < 0.65
    assert results["fidelity"].passed.mean() > 0.98
    assert results["distance"].figures["ratio"] < 2.5 and results["distance"].passed.all()
    assert results["label"].figures["agreement"] > 0.9
    assert results["label"].figures["judge_accuracy_on_held_out_real"] > 0.9
    assert results["privacy"].passed.mean() > 0.9


def test_the_two_sample_test_ignores_the_class_mix(digits):
    """A plan that asks only for rare classes must not look 'fake' because of its class mix."""
    x, y, held_x, held_y = digits
    two_classes = np.isin(held_y, ["3", "8"])
    result = gates.fidelity_gate(x, y, held_x[two_classes], held_y[two_classes], **GATES)
    assert result.figures["real_samples"] == int(np.isin(y, ["3", "8"]).sum())  # only the batch's classes
    assert result.figures["c2st_accuracy"] < 0.7
    assert set(result.figures["c2st_accuracy_by_class"]) == {"3", "8"}


def test_single_noise_samples_in_a_good_batch_are_caught_one_by_one(digits):
    """The two-sample test learns from the batch as a whole and misses a few outliers in a good
    batch; the outlier gate catches each of them, and lets the real-looking ones through."""
    x, y, held_x, held_y = digits
    rng = np.random.default_rng(4)
    batch = np.vstack([held_x[:300], rng.uniform(0, 1, size=(6, x.shape[1]))])
    labels = np.concatenate([held_y[:300], held_y[:6]])
    assert gates.fidelity_gate(x, y, batch, labels, **GATES).figures["batch_passed"] is True
    result = gates.outlier_gate(x, batch, max_ratio=1.25)
    assert not result.passed[-6:].any() and set(np.array(result.codes)[-6:]) == {"gate_fidelity_outlier"}
    assert result.passed[:300].mean() > 0.98
    assert "largest real-to-real nearest-neighbour distance" in result.reasons[-1]


def test_a_batch_with_many_fakes_flags_them_by_their_detect_probability(digits):
    x, y, held_x, held_y = digits
    rng = np.random.default_rng(5)
    batch = np.vstack([held_x[:300], rng.uniform(0, 1, size=(60, x.shape[1]))])
    labels = np.concatenate([held_y[:300], held_y[:60]])
    result = gates.fidelity_gate(x, y, batch, labels, **GATES)
    assert result.figures["batch_passed"] is True  # 1 in 6 fake: the batch as a whole is close to real
    assert np.mean(np.array(result.codes)[-60:] == "gate_fidelity_detectable") > 0.6
    assert result.passed[:300].mean() > 0.98
    assert result.figures["real_share_above_detect_probability"] < 0.05


def test_swapped_labels_are_caught_by_the_label_gate(digits):
    x, y, held_x, held_y = digits
    wrong = np.array([str((int(label) + 1) % 10) for label in held_y[:200]])
    result = gates.label_fidelity_gate(x, y, held_x[:200], wrong, min_agreement=0.7, seed=7)
    assert result.figures["agreement"] < 0.1 and result.figures["passed"] is False
    assert (~result.passed).sum() > 180 and "gate_label" in result.codes
    reason = result.reasons[int(np.flatnonzero(~result.passed)[0])]
    assert reason.startswith("label fidelity: a classifier trained on real samples predicts '")


# ---- the pieces ---------------------------------------------------------------------


def test_frechet_distance_of_known_gaussians():
    rng = np.random.default_rng(5)
    a = rng.normal(size=(20000, 3))
    b = rng.normal(size=(20000, 3)) * 2 + np.array([1.0, 0, 0])
    # ||mu||^2 + 3 * (1 + 4 - 2 * 2) = 1 + 3
    assert gates.frechet_distance(a, b) == pytest.approx(4.0, abs=0.15)
    assert gates.frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    uniform = np.ones(len(a))
    assert gates.frechet_distance(a, b, uniform, uniform * 3) == pytest.approx(gates.frechet_distance(a, b))


def test_the_feature_distance_weights_real_samples_to_the_batch_class_mix(digits):
    """Held-out samples of one class compared with all real classes would look far away;
    against the real samples of that class they must not."""
    x, y, held_x, held_y = digits
    ones = held_y == "1"
    result = gates.feature_distance_gate(x, y, held_x[ones], held_y[ones], max_ratio=4.0, pca_components=10, seed=7)
    assert result.figures["ratio"] < 3


def test_too_few_samples_pass_with_a_note_instead_of_a_verdict(digits):
    x, y, _, _ = digits
    result = gates.fidelity_gate(x, y, x[:1], y[:1], **GATES)
    assert result.passed.all() and result.figures["c2st_accuracy"] is None and "too few" in result.figures["note"]


def test_epsilon_gate():
    sources = np.zeros((3, 4))
    perturbed = np.array([[8 / 255, 0, 0, 0], [0, -8 / 255, 0, 0], [0, 0, 9 / 255, 0]])
    result = gates.epsilon_gate(sources, perturbed, 8 / 255)
    assert result.passed.tolist() == [True, True, False]
    assert result.codes == ["", "", "gate_epsilon"] and result.figures["outside_bound"] == 1


def test_combine_keeps_the_first_code_and_every_reason():
    a = gates.GateResult("a", {}, np.array([True, False, False]), ["", "gate_a", "gate_a"], ["", "a1", "a2"])
    b = gates.GateResult("b", {}, np.array([False, True, False]), ["gate_b", "", "gate_b"], ["b0", "", "b2"])
    passed, codes, reasons = gates.combine([a, b], 3)
    assert passed.tolist() == [False, False, False]
    assert codes == ["gate_b", "gate_a", "gate_a"] and reasons == ["b0", "a1", "a2; b2"]


# ---- encodings -----------------------------------------------------------------------


def test_image_codec_round_trip():
    from PIL import Image

    rng = np.random.default_rng(6)
    for mode in ("L", "RGB"):
        pixels = rng.integers(0, 256, size=(32, 32) if mode == "L" else (32, 32, 3), dtype=np.uint8)
        image = Image.fromarray(pixels, mode)
        codec = ImageCodec(32, mode)
        vector = codec.encode(image)
        assert vector.shape == (codec.width,) and vector.min() >= 0 and vector.max() <= 1
        assert np.array_equal(np.asarray(codec.decode(vector)), pixels)
    assert ImageCodec.mode_for(["L", "L"]) == "L" and ImageCodec.mode_for(["L", "RGBA"]) == "RGB"


def test_table_codec_on_a_plain_dataframe():
    frame = pd.DataFrame({"size": [1.5, 2.5, 3.5, 4.5], "count": [1, 2, 3, 4], "colour": ["red", "blue", "red", "green"]})
    codec = TableCodec.from_numeric_frame(frame)
    vectors = codec.encode(frame)
    assert vectors.shape == (4, 2 + 3)
    assert [s.kind for s in codec.segments] == ["real", "onehot"]
    assert np.allclose(vectors[:, :2].mean(axis=0), 0, atol=1e-6)
    back = codec.decode(vectors)
    pd.testing.assert_frame_equal(back, frame)
    # Out-of-range numbers are clipped to the real range, whole-number columns rounded.
    wild = vectors.copy()
    wild[0, 0], wild[0, 1] = 50.0, 0.3
    decoded = codec.decode(wild)
    assert decoded.loc[0, "size"] == 4.5 and decoded.loc[0, "count"] in (2, 3)
    # With per-row generators, categories are drawn from the one-hot probabilities.
    soft = vectors.copy()
    soft[:, 2:] = [0.0, 0.0, 1.0]
    rngs = [np.random.default_rng(i) for i in range(4)]
    assert (codec.decode(soft, rngs)["colour"] == "red").all()


def test_gates_on_a_table_catch_copies_and_noise():
    data = load_breast_cancer(as_frame=True)
    table = data.data
    labels = np.where(data.target == 0, "malignant", "benign")
    codec = TableCodec.from_numeric_frame(table.iloc[:300])
    real, real_labels = codec.encode(table.iloc[:300]), labels[:300]
    held = codec.encode(table.iloc[300:])
    copies = gates.privacy_gate(real, real[:50], reference_quantile=0.05, min_ratio=0.5)
    assert not copies.passed.any()
    held_out = gates.privacy_gate(real, held, reference_quantile=0.05, min_ratio=0.5)
    assert held_out.passed.mean() > 0.9
    noise = np.random.default_rng(8).normal(size=(100, real.shape[1])) * 3
    fidelity = gates.fidelity_gate(real, real_labels, noise, np.array(["malignant"] * 100), **GATES)
    assert not fidelity.passed.any()
    honest = gates.fidelity_gate(real, real_labels, held, labels[300:], **GATES)
    assert honest.figures["c2st_accuracy"] < 0.7 and honest.passed.mean() > 0.95


# ---- params and the plan ------------------------------------------------------------


def params_with(synthesize: dict, **sections):
    """params.yaml with changes, validated as `augmill check` does (the section alone when
    another modality is named: its operators and files are beside the point here)."""
    import yaml

    from augmill.tasks.params import Params
    from augmill.tasks.params_load import parse_params
    from tests.project import REPO

    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    raw["synthesize"] = {**raw["synthesize"], **synthesize}
    raw.update(sections)
    return Params.model_validate(raw) if sections else parse_params(raw)


@pytest.mark.parametrize(("synthesize", "message"), [
    ({"share": 0.8, "adversarial": {"share": 0.3}}, "synthesize: Value error, share + adversarial.share"),
    ({"style": {"share": 0.2}}, "style.style_image: required when style.share > 0"),
    ({"generator": "diffusion"}, "synthesize.generator"),
    ({"epochs": 0}, "synthesize.epochs"),
    ({"gates": {"max_c2st_accuracy": 0.4}}, "synthesize.gates.max_c2st_accuracy"),
    ({"adversarial": {"epsilon": 0.5}}, "synthesize.adversarial.epsilon"),
    ({"shares": 0.5}, "synthesize.shares: unknown key"),
])
def test_bad_synthesize_params_are_refused_naming_the_key(synthesize, message):
    from augmill.tasks.params import ParamsError

    with pytest.raises(ParamsError) as error:
        params_with(synthesize)
    assert message.split(": Value error")[0] in str(error.value)
    assert message.split("Value error, ")[-1] in str(error.value)


def test_generators_refuse_modalities_they_cannot_serve():
    from augmill.tasks.generative.data import UnsupportedModality, check_modality

    with pytest.raises(UnsupportedModality, match="the text modality has no generators"):
        check_modality(params_with({"enabled": True}, data={"modality": "text"}))
    with pytest.raises(UnsupportedModality, match="synthesize.adversarial.share: adversarial examples .* are for images"):
        check_modality(params_with({"enabled": True, "adversarial": {"share": 0.2}}, data={"modality": "tabular"}))


def test_planned_counts_split_each_class_without_exceeding_the_plan():
    from augmill.tasks.synthesize import planned_counts

    params = params_with({"share": 0.5, "adversarial": {"share": 0.25}, "style": {"share": 0.25, "style_image": "x.png"}})
    plan = {"classes": {"a": {"new": 5}, "b": {"new": 0}, "c": {"new": 7}}}
    counts = planned_counts(plan, ["a", "b", "c"], params)
    assert counts == {"generator": {"a": 3, "b": 0, "c": 4}, "adversarial": {"a": 1, "b": 0, "c": 1},
                      "style": {"a": 1, "b": 0, "c": 2}}
    alone = planned_counts(plan, ["a", "b", "c"], params_with({"generator": "none", "adversarial": {"share": 0.1}}))
    assert alone["generator"] == {"a": 0, "b": 0, "c": 0} and alone["adversarial"] == {"a": 1, "b": 0, "c": 1}
