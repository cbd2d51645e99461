"""The torch models of tasks/generative: VAE and GAN on digits and on a table (trained a
few epochs: these tests check determinism and contracts, not quality; the quality
figures are in docs/generative.md), adversarial examples and style transfer."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

torch = pytest.importorskip("torch")

from augmill.tasks.demos.digits import digits_images  # noqa: E402
from augmill.tasks.generative import synthesizer  # noqa: E402
from augmill.tasks.generative.adversarial import Attack, attack_many, train_surrogate  # noqa: E402
from augmill.tasks.generative.encoding import ImageCodec, TableCodec  # noqa: E402
from augmill.tasks.generative.nets import TrainConfig, weights_bytes  # noqa: E402
from augmill.tasks.generative.style import adain_transfer, channel_statistics, statistics_transfer, train_adain  # noqa: E402

SMALL = TrainConfig(epochs=3, time_budget_seconds=60, batch_size=32, learning_rate=3e-3, latent_dim=8, hidden=64)


@pytest.fixture(scope="module")
def digits():
    images, labels = digits_images(32)
    codec = ImageCodec(32, "L")
    pick = np.random.default_rng(0).permutation(len(images))[:400]
    x = codec.encode_many([images[i] for i in pick])
    return codec, x, np.asarray(labels)[pick], [images[i] for i in pick]


def fit(kind, digits, seed, config=SMALL):
    codec, x, y, _ = digits
    return synthesizer.fit(kind, x[:240], y[:240], [str(c) for c in range(10)], codec.segments, config, seed, image=True)


@pytest.mark.parametrize("kind", ["vae", "gan"])
def test_same_seed_same_bytes_other_seed_other_model(kind, digits, tmp_path):
    first, second, other = fit(kind, digits, 11), fit(kind, digits, 11), fit(kind, digits, 12)
    assert weights_bytes(first.model) == weights_bytes(second.model)
    assert weights_bytes(first.model) != weights_bytes(other.model)
    requests = [(c, 1000 + c) for c in range(10)] * 2
    samples = first.sample_many(requests)
    assert samples.tobytes() == second.sample_many(requests).tobytes()
    assert samples.shape == (20, 32 * 32) and samples.min() >= 0 and samples.max() <= 1
    # The same request gives the same sample; another seed, another sample.
    assert np.array_equal(samples[0], samples[10]) and not np.array_equal(samples[0], samples[1])
    # The saved weights and the card rebuild the same generator: samples replay from lineage.
    sha = first.save(tmp_path / "model.pt")
    loaded, loaded_sha = synthesizer.load(first.card(), tmp_path / "model.pt")
    assert loaded_sha == sha
    assert loaded.sample_many(requests).tobytes() == samples.tobytes()
    assert first.card()["training"]["epochs_run"] == 3
    # Sampling leaves no trace in the caller's torch state.
    assert torch.get_num_threads() >= 1 and not torch.are_deterministic_algorithms_enabled()


def test_a_sample_does_not_depend_on_what_else_is_sampled(digits):
    model = fit("vae", digits, 5)
    alone = model.sample_many([(3, 77)])
    among = model.sample_many([(1, 1), (3, 77), (9, 2)])
    assert alone[0].tobytes() == among[1].tobytes()


def test_time_budget_stops_training_and_says_so(digits):
    config = TrainConfig(epochs=500, time_budget_seconds=0.01, batch_size=32, learning_rate=1e-3, latent_dim=8, hidden=32)
    model = fit("vae", digits, 1, config)
    assert model.log.stopped_by_time_budget and model.log.epochs_run < 500


def test_vae_learns_the_class_condition(digits):
    """A little training already moves samples towards their class: the mean sample of class c
    is closer to the real class-c mean than to the other classes' means, for most classes."""
    codec, x, y, _ = digits
    config = TrainConfig(epochs=25, time_budget_seconds=60, batch_size=32, learning_rate=3e-3, latent_dim=8, hidden=128)
    model = synthesizer.fit("vae", x, y, [str(c) for c in range(10)], codec.segments, config, 3, image=True)
    real_means = np.stack([x[y == c].mean(axis=0) for c in range(10)])
    right = 0
    for c in range(10):
        samples = model.sample_many([(c, s) for s in range(20)])
        right += int(np.argmin(np.linalg.norm(real_means - samples.mean(axis=0), axis=1)) == c)
    assert right >= 8


@pytest.mark.parametrize("kind", ["vae", "gan"])
def test_table_generators_make_rows_in_the_table_types(kind):
    from sklearn.datasets import load_breast_cancer

    frame = load_breast_cancer(as_frame=True).data.iloc[:, :6].head(200).copy()
    frame["grade"] = (frame.iloc[:, 0] > frame.iloc[:, 0].median()).map({True: "high", False: "low"})
    labels = np.arange(200) % 2
    codec = TableCodec.from_numeric_frame(frame)
    x = codec.encode(frame)
    config = TrainConfig(epochs=5, time_budget_seconds=60, batch_size=32, learning_rate=3e-3, latent_dim=4, hidden=32)
    model = synthesizer.fit(kind, x, labels, ["a", "b"], codec.segments, config, 9, image=False)
    vectors = model.sample_many([(i % 2, i) for i in range(30)])
    again = model.sample_many([(i % 2, i) for i in range(30)])
    assert vectors.tobytes() == again.tobytes()
    rows = codec.decode(vectors, [np.random.default_rng(i) for i in range(30)])
    assert list(rows.columns) == list(frame.columns) and (rows.dtypes == frame.dtypes).all()
    numeric = frame.columns[:6]
    assert (rows[numeric] >= frame[numeric].min()).all().all() and (rows[numeric] <= frame[numeric].max()).all().all()
    assert set(rows["grade"]) <= {"high", "low"}
    # The one-hot segment is a probability distribution per row.
    block = vectors[:, codec.segments[1].start:codec.segments[1].stop]
    assert np.allclose(block.sum(axis=1), 1, atol=1e-5)


# ---- adversarial --------------------------------------------------------------------


@pytest.mark.parametrize("method", ["fgsm", "pgd"])
def test_adversarial_examples_stay_within_epsilon_and_flip_some_predictions(method, digits):
    codec, x, y, images = digits
    model, log = train_surrogate(x[:300], y[:300], 10, 1, 32, "logistic", 15, seed=4)
    assert log.epochs_run == 15
    epsilon = 8 / 255
    attack = Attack(method, epsilon, steps=10, step_size=2 / 255)
    items = [(np.asarray(images[i])[None], int(y[i]), i) for i in range(300, 400)]
    results = attack_many(model, items, attack)
    steps = [np.abs(adv.astype(int) - pixels.astype(int)).max() for (pixels, _, _), (adv, _, _) in zip(items, results,
                                                                                                       strict=True)]
    assert max(steps) == 8 and min(steps) >= 1  # the whole budget is used, never more
    flipped = sum(before != after for _, before, after in results)
    wrong_before = sum(before != label for (_, label, _), (_, before, _) in zip(items, results, strict=True))
    wrong_after = sum(after != label for (_, label, _), (_, _, after) in zip(items, results, strict=True))
    assert flipped >= 3 and wrong_after > wrong_before
    assert attack_many(model, items[:5], attack)[0][0].tobytes() == results[0][0].tobytes()  # deterministic


def test_the_surrogate_takes_images_of_any_size(digits):
    codec, x, y, images = digits
    model, _ = train_surrogate(x[:100], y[:100], 10, 1, 32, "mlp", 2, seed=1)
    big = np.asarray(images[0].resize((64, 64)))[None]
    adversarial, _, _ = attack_many(model, [(big, int(y[0]), 1)], Attack("fgsm", 4 / 255))[0]
    assert adversarial.shape == big.shape and np.abs(adversarial.astype(int) - big.astype(int)).max() == 4


# ---- style --------------------------------------------------------------------------


def gradient_image(mode: str, low: int, high: int, seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    base = np.linspace(low, high, 48)[None, :] + rng.normal(0, 6, size=(48, 48))
    if mode == "L":
        return Image.fromarray(np.clip(base, 0, 255).astype(np.uint8), "L")
    channels = [np.clip(base * f, 0, 255) for f in (1.0, 0.7, 0.4)]
    return Image.fromarray(np.stack(channels, axis=2).astype(np.uint8), "RGB")


@pytest.mark.parametrize("mode", ["L", "RGB"])
def test_statistics_transfer_matches_the_style_statistics(mode):
    content = gradient_image(mode, 60, 140, 1)
    style = gradient_image(mode, 90, 220, 2)
    if mode == "RGB":
        style = Image.fromarray(np.asarray(style)[..., ::-1].copy(), "RGB")  # a bluish style for a reddish content
    out = statistics_transfer(content, style)
    target, before, after = channel_statistics(style), channel_statistics(content), channel_statistics(out)
    for channel in range(len(target["mean"])):
        # Within 8-bit rounding (and, for RGB, the round trip through l-alpha-beta).
        tolerance = 0.01 if mode == "L" else 0.03
        assert after["mean"][channel] == pytest.approx(target["mean"][channel], abs=tolerance)
        assert after["std"][channel] == pytest.approx(target["std"][channel], abs=tolerance)
        assert abs(before["mean"][channel] - target["mean"][channel]) > 3 * tolerance or channel > 0
    assert out.size == content.size and out.mode == content.mode
    assert np.array_equal(np.asarray(statistics_transfer(content, style, strength=0.0)), np.asarray(content))


def test_statistics_transfer_keeps_alpha():
    content = gradient_image("RGB", 60, 140, 1).convert("RGBA")
    content.putalpha(Image.fromarray(np.full((48, 48), 77, np.uint8)))
    out = statistics_transfer(content, gradient_image("RGB", 90, 200, 2))
    assert out.mode == "RGBA" and np.all(np.asarray(out)[..., 3] == 77)


def test_adain_moves_the_output_towards_the_style(digits):
    codec, x, _, images = digits
    model, log = train_adain(x[:200], 1, 32, epochs=3, seed=2)
    again, _ = train_adain(x[:200], 1, 32, epochs=3, seed=2)
    assert weights_bytes(model) == weights_bytes(again)
    content = images[0]
    bright = Image.fromarray(np.full((32, 32), 200, np.uint8), "L")
    bright.paste(Image.fromarray(np.full((16, 16), 250, np.uint8), "L"), (8, 8))
    kept = adain_transfer(model, content, bright, 32, strength=0.0)
    styled = adain_transfer(model, content, bright, 32, strength=1.0)
    assert styled.size == (32, 32) and styled.mode == "L"
    assert np.asarray(styled, float).mean() > np.asarray(kept, float).mean() + 20
    assert np.asarray(adain_transfer(model, content, bright, 32, 1.0)).tobytes() == np.asarray(styled).tobytes()
