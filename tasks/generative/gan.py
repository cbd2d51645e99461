"""A class-conditional GAN (MLPs), for flattened images and encoded table rows.

Generator: [z, one-hot label] -> hidden -> hidden -> raw outputs, activated per segment
(pixels through a sigmoid, numbers as they are, category columns through a softmax).
Discriminator: [x, one-hot label] -> hidden -> hidden/2 -> one logit.
Non-saturating loss, one-sided label smoothing (real = 0.9) and Adam with beta1 = 0.5,
the usual choices that keep a small GAN from collapsing on a few hundred samples.
"""

from __future__ import annotations

import numpy as np

from augmill.tasks.generative.encoding import Segment
from augmill.tasks.generative.nets import TrainConfig, TrainingLog, activate, deterministic, mlp, numpy_normal, run_epochs, torch

NAME = "gan"
REAL_TARGET = 0.9


def build(width: int, n_classes: int, config: TrainConfig):
    t = torch()

    class ConditionalGAN(t.nn.Module):
        def __init__(self):
            super().__init__()
            self.n_classes = n_classes
            self.generator = mlp([config.latent_dim + n_classes, config.hidden, config.hidden, width], 0.2)
            self.discriminator = mlp([width + n_classes, config.hidden, max(config.hidden // 2, 8), 1], 0.2)

        def one_hot(self, labels):
            return t.nn.functional.one_hot(labels, self.n_classes).float()

        def generate(self, z, labels, segments):
            return activate(self.generator(t.cat([z, self.one_hot(labels)], dim=1)), segments)

        def judge(self, x, labels):
            return self.discriminator(t.cat([x, self.one_hot(labels)], dim=1))[:, 0]

    return ConditionalGAN()


def train(x: np.ndarray, labels: np.ndarray, n_classes: int, segments: tuple[Segment, ...], config: TrainConfig,
          seed: int):
    """Fit on (x, class indices); return (model in eval mode, TrainingLog)."""
    with deterministic(seed) as t:
        model = build(x.shape[1], n_classes, config)
        bce = t.nn.functional.binary_cross_entropy_with_logits
        data, targets = t.from_numpy(np.ascontiguousarray(x, dtype=np.float32)), t.from_numpy(labels.astype(np.int64))
        betas = (0.5, 0.999)
        optimise_g = t.optim.Adam(model.generator.parameters(), lr=config.learning_rate, betas=betas)
        optimise_d = t.optim.Adam(model.discriminator.parameters(), lr=config.learning_rate, betas=betas)
        shuffle = t.Generator().manual_seed(seed % 2**63)
        noise = t.Generator().manual_seed((seed + 1) % 2**63)

        def step(batch) -> dict:
            xb, yb = data[batch], targets[batch]
            z = t.randn((len(batch), config.latent_dim), generator=noise)
            fake = model.generate(z, yb, segments)
            real_logits, fake_logits = model.judge(xb, yb), model.judge(fake.detach(), yb)
            loss_d = bce(real_logits, t.full_like(real_logits, REAL_TARGET)) + bce(fake_logits, t.zeros_like(fake_logits))
            optimise_d.zero_grad()
            loss_d.backward()
            optimise_d.step()
            fooled = model.judge(fake, yb)
            loss_g = bce(fooled, t.ones_like(fooled))
            optimise_g.zero_grad()
            loss_g.backward()
            optimise_g.step()
            return {"discriminator": loss_d.item(), "generator": loss_g.item()}

        model.train()
        log: TrainingLog = run_epochs(step, len(x), config, shuffle)
        model.eval()
    return model, log


def sample(model, class_index: int, seed: int, latent_dim: int, segments: tuple[Segment, ...]) -> np.ndarray:
    """One new vector of class class_index from the sample's own seed."""
    t = torch()
    z = t.from_numpy(numpy_normal(seed, latent_dim))[None]
    with t.no_grad():
        return model.generate(z, t.tensor([class_index]), segments)[0].numpy().astype(np.float64)
