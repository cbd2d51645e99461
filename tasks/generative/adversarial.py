"""Adversarial examples: train images nudged, within an L-infinity budget epsilon, so
that a surrogate classifier trained on the original train split is more likely to
misclassify them (FGSM: one signed-gradient step; PGD: a few projected steps from a
random start inside the budget). Used as extra training data they make a model less
sensitive to such nudges (adversarial training).

The surrogate is a torch logistic regression or a small MLP on the image downscaled
(area average, differentiable) to side x side, so it accepts any image size and the
perturbation is computed at the image's own resolution. Its weights file's sha256 is
its identity in every example's lineage. Perturbations are rounded towards zero to
whole 8-bit steps, so the saved image is within epsilon of its source exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from augmill.tasks.generative.nets import TrainConfig, TrainingLog, deterministic, run_epochs, torch


def build_surrogate(kind: str, channels: int, side: int, n_classes: int, hidden: int = 128):
    t = torch()

    class Surrogate(t.nn.Module):
        def __init__(self):
            super().__init__()
            self.side = side
            width = channels * side * side
            layers = [t.nn.Linear(width, n_classes)] if kind == "logistic" else \
                [t.nn.Linear(width, hidden), t.nn.ReLU(), t.nn.Linear(hidden, n_classes)]
            self.net = t.nn.Sequential(*layers)

        def forward(self, images):  # (batch, channels, height, width) in [0, 1]
            if images.shape[-2:] != (self.side, self.side):
                images = t.nn.functional.adaptive_avg_pool2d(images, (self.side, self.side))
            return self.net(images.flatten(1))

    return Surrogate()


def train_surrogate(x: np.ndarray, class_indices: np.ndarray, n_classes: int, channels: int, side: int, kind: str,
                    epochs: int, seed: int):
    """x: (n, channels * side * side) in [0, 1]. Returns (model in eval mode, TrainingLog)."""
    config = TrainConfig(epochs=epochs, time_budget_seconds=float("inf"), batch_size=64, learning_rate=1e-3,
                         latent_dim=0, hidden=128)
    with deterministic(seed) as t:
        model = build_surrogate(kind, channels, side, n_classes)
        images = t.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).view(-1, channels, side, side)
        targets = t.from_numpy(class_indices.astype(np.int64))
        optimiser = t.optim.Adam(model.parameters(), lr=config.learning_rate, weight_decay=1e-4)
        shuffle = t.Generator().manual_seed(seed % 2**63)

        def step(batch) -> dict:
            loss = t.nn.functional.cross_entropy(model(images[batch]), targets[batch])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            return {"cross_entropy": loss.item()}

        model.train()
        log: TrainingLog = run_epochs(step, len(x), config, shuffle)
        model.eval()
    return model, log


@dataclass(frozen=True)
class Attack:
    method: str  # "fgsm" or "pgd"
    epsilon: float
    steps: int = 1
    step_size: float = 0.0

    def record(self) -> dict:
        params = {"epsilon": round(self.epsilon, 8)}
        if self.method == "pgd":
            params |= {"steps": self.steps, "step_size": round(self.step_size, 8)}
        return params


def predict(model, pixels: np.ndarray) -> int:
    """The surrogate's class index for one (channels, height, width) uint8 array."""
    t = torch()
    with t.no_grad():
        return int(model(t.from_numpy(pixels.astype(np.float32) / 255.0)[None]).argmax(dim=1)[0])


def perturb(model, pixels: np.ndarray, class_index: int, attack: Attack, seed: int) -> np.ndarray:
    """pixels: (channels, height, width) uint8. Returns the adversarial uint8 array, each value
    within floor(epsilon * 255) steps of the source. Call inside deterministic()."""
    t = torch()
    source = t.from_numpy(pixels.astype(np.float32) / 255.0)[None]
    target = t.tensor([class_index])
    budget = np.floor(attack.epsilon * 255 + 1e-6) / 255  # what 8-bit steps can hold
    if attack.method == "fgsm":
        current, steps, size = source.clone(), 1, budget
    else:
        rng = np.random.default_rng(seed)
        start = rng.uniform(-budget, budget, size=pixels.shape).astype(np.float32)
        current = (source + t.from_numpy(start)[None]).clamp(0, 1)
        steps, size = attack.steps, attack.step_size
    for _ in range(steps):
        current = current.detach().requires_grad_(True)
        loss = t.nn.functional.cross_entropy(model(current), target)
        (gradient,) = t.autograd.grad(loss, current)
        current = current.detach() + size * gradient.sign()
        current = (source + (current - source).clamp(-budget, budget)).clamp(0, 1)
    delta = np.trunc(np.round((current[0].numpy().astype(np.float64) - pixels / 255.0) * 255.0, 6))
    return np.clip(pixels.astype(np.int64) + delta.astype(np.int64), 0, 255).astype(np.uint8)


def attack_many(model, items: list[tuple[np.ndarray, int, int]], attack: Attack) -> list[tuple[np.ndarray, int, int]]:
    """(pixels, class index, seed) -> (adversarial pixels, prediction before, prediction after)."""
    results = []
    with deterministic(0):
        for pixels, class_index, seed in items:
            adversarial = perturb(model, pixels, class_index, attack, seed)
            results.append((adversarial, predict(model, pixels), predict(model, adversarial)))
    return results
