"""A class-conditional variational autoencoder (MLP), for flattened images and for
encoded table rows alike (see encoding.py).

Encoder: [x, one-hot label] -> hidden -> hidden/2 -> (mu, log variance) of the latent.
Decoder: [z, one-hot label] -> hidden/2 -> hidden -> raw outputs, activated per segment.
A new sample of class c is the decoder's output for z ~ N(0, I) drawn from the sample's
own seeded generator: the mean of p(x | z, c) for pixels and numbers, and per category
column a draw from its probabilities.
"""

from __future__ import annotations

import numpy as np

from tasks.generative.encoding import Segment
from tasks.generative.nets import (
    TrainConfig,
    TrainingLog,
    activate,
    deterministic,
    mlp,
    numpy_normal,
    reconstruction_loss,
    run_epochs,
    torch,
)

NAME = "vae"


def build(width: int, n_classes: int, config: TrainConfig):
    t = torch()

    class ConditionalVAE(t.nn.Module):
        def __init__(self):
            super().__init__()
            half = max(config.hidden // 2, config.latent_dim)
            self.n_classes = n_classes
            self.encoder = mlp([width + n_classes, config.hidden, half])
            self.to_mu = t.nn.Linear(half, config.latent_dim)
            self.to_log_var = t.nn.Linear(half, config.latent_dim)
            self.decoder = mlp([config.latent_dim + n_classes, half, config.hidden, width])

        def one_hot(self, labels):
            return t.nn.functional.one_hot(labels, self.n_classes).float()

        def encode(self, x, labels):
            h = t.relu(self.encoder(t.cat([x, self.one_hot(labels)], dim=1)))
            return self.to_mu(h), self.to_log_var(h)

        def decode(self, z, labels):
            return self.decoder(t.cat([z, self.one_hot(labels)], dim=1))

    return ConditionalVAE()


def train(x: np.ndarray, labels: np.ndarray, n_classes: int, segments: tuple[Segment, ...], config: TrainConfig,
          seed: int):
    """Fit on (x, class indices); return (model in eval mode, TrainingLog)."""
    with deterministic(seed) as t:
        model = build(x.shape[1], n_classes, config)
        data, targets = t.from_numpy(np.ascontiguousarray(x, dtype=np.float32)), t.from_numpy(labels.astype(np.int64))
        optimiser = t.optim.Adam(model.parameters(), lr=config.learning_rate)
        shuffle = t.Generator().manual_seed(seed % 2**63)
        noise = t.Generator().manual_seed((seed + 1) % 2**63)

        def step(batch) -> dict:
            xb, yb = data[batch], targets[batch]
            mu, log_var = model.encode(xb, yb)
            z = mu + t.exp(0.5 * log_var) * t.randn(mu.shape, generator=noise)
            reconstruction = reconstruction_loss(model.decode(z, yb), xb, segments).mean()
            kl = (-0.5 * (1 + log_var - mu**2 - log_var.exp()).sum(dim=1)).mean()
            loss = reconstruction + kl
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            return {"reconstruction": reconstruction.item(), "kl": kl.item()}

        model.train()
        log: TrainingLog = run_epochs(step, len(x), config, shuffle)
        model.eval()
    return model, log


def sample(model, class_index: int, seed: int, latent_dim: int, segments: tuple[Segment, ...]) -> np.ndarray:
    """One new vector of class class_index from the sample's own seed (computed alone, so it
    can be replayed alone and does not depend on what else is sampled)."""
    t = torch()
    z = t.from_numpy(numpy_normal(seed, latent_dim))[None]
    with t.no_grad():
        raw = model.decode(z, t.tensor([class_index]))
        return activate(raw, segments)[0].numpy().astype(np.float64)
