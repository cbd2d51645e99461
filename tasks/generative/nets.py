"""What the torch models share: the lazy import, a deterministic context, the output
heads per segment kind, the training loop with an epoch count and a time budget, and
saving weights as a file whose sha256 identifies the model.

PyTorch is an optional extra (`pip install -e '.[generative]'`); nothing outside
tasks/generative imports this module, and only when a torch method actually runs.
"""

from __future__ import annotations

import contextlib
import io
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from augmill.tasks.generative.encoding import Segment
from augmill.tasks.io import sha256_bytes, write_bytes_atomic


class TorchMissing(RuntimeError):
    """A torch-based method was asked for, and PyTorch is not installed."""


def torch():
    try:
        import torch as module
    except ModuleNotFoundError:
        raise TorchMissing("synthesize: this method needs PyTorch, an optional extra: pip install -e '.[generative]' "
                           "(pins the CPU build torch==2.13.0); or set synthesize.enabled: false") from None
    return module


@contextlib.contextmanager
def deterministic(seed: int):
    """Seeded, single-threaded, deterministic kernels, without leaking into the caller's
    torch state: the global generator is forked and every setting is restored."""
    t = torch()
    threads, was_deterministic = t.get_num_threads(), t.are_deterministic_algorithms_enabled()
    with t.random.fork_rng(devices=[]):
        t.manual_seed(seed % 2**63)
        t.set_num_threads(1)  # reductions in one fixed order: the same bytes on any machine
        t.use_deterministic_algorithms(True)
        try:
            yield t
        finally:
            t.use_deterministic_algorithms(was_deterministic)
            t.set_num_threads(threads)


def activate(raw, segments: tuple[Segment, ...]):
    """Raw network outputs -> values of the vector's kinds: pixels in [0, 1], numbers as
    they are, and per category column a probability distribution."""
    t = torch()
    parts = []
    for segment in segments:
        block = raw[:, segment.start:segment.stop]
        if segment.kind == "unit":
            parts.append(t.sigmoid(block))
        elif segment.kind == "onehot":
            parts.append(t.softmax(block, dim=1))
        else:
            parts.append(block)
    return t.cat(parts, dim=1)


def reconstruction_loss(raw, target, segments: tuple[Segment, ...]):
    """Per-sample negative log-likelihood of target under the raw outputs, summed over the
    vector: Bernoulli for pixels, unit Gaussian for standardised numbers, categorical for
    one-hot columns (an all-zero block, a missing category, costs nothing)."""
    t = torch()
    functional = t.nn.functional
    total = t.zeros(len(raw))
    for segment in segments:
        r, x = raw[:, segment.start:segment.stop], target[:, segment.start:segment.stop]
        if segment.kind == "unit":
            total = total + functional.binary_cross_entropy_with_logits(r, x, reduction="none").sum(dim=1)
        elif segment.kind == "onehot":
            total = total - (x * t.log_softmax(r, dim=1)).sum(dim=1)
        else:
            total = total + 0.5 * ((r - x) ** 2).sum(dim=1)
    return total


def mlp(sizes: list[int], negative_slope: float = 0.0):
    """Linear layers with (leaky) ReLU between them, none after the last."""
    t = torch()
    layers = []
    for i, (a, b) in enumerate(zip(sizes, sizes[1:], strict=False)):
        layers.append(t.nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(t.nn.LeakyReLU(negative_slope) if negative_slope else t.nn.ReLU())
    return t.nn.Sequential(*layers)


@dataclass(frozen=True)
class TrainConfig:
    epochs: int
    time_budget_seconds: float
    batch_size: int
    learning_rate: float
    latent_dim: int
    hidden: int


@dataclass
class TrainingLog:
    epochs_run: int = 0
    stopped_by_time_budget: bool = False
    seconds: float = 0.0
    losses: list = None  # per epoch: a dict of mean losses

    def as_dict(self) -> dict:
        """What went into outputs: no wall-clock time, so the same training gives the same bytes."""
        return {"epochs_run": self.epochs_run, "stopped_by_time_budget": self.stopped_by_time_budget,
                "final_losses": self.losses[-1] if self.losses else {}, "losses_every_10_epochs": self.losses[::10]}


def run_epochs(step, n_samples: int, config: TrainConfig, shuffle_generator) -> TrainingLog:
    """Call step(batch_indices) -> {loss name: value} over shuffled mini-batches, for
    config.epochs epochs or until the time budget is spent (checked between epochs)."""
    t = torch()
    log = TrainingLog(losses=[])
    started = time.perf_counter()
    for _ in range(config.epochs):
        order = t.randperm(n_samples, generator=shuffle_generator)
        sums: dict[str, float] = {}
        batches = 0
        for first in range(0, n_samples, config.batch_size):
            batch = order[first:first + config.batch_size]
            if len(batch) < 2 and batches:  # a batch of one adds noise, not information
                continue
            for name, value in step(batch).items():
                sums[name] = sums.get(name, 0.0) + float(value)
            batches += 1
        log.losses.append({name: round(value / max(batches, 1), 5) for name, value in sums.items()})
        log.epochs_run += 1
        if time.perf_counter() - started > config.time_budget_seconds and log.epochs_run < config.epochs:
            log.stopped_by_time_budget = True
            break
    log.seconds = time.perf_counter() - started
    return log


def weights_bytes(module) -> bytes:
    """The module's state dict as torch.save bytes (no timestamps: same weights, same bytes)."""
    t = torch()
    buffer = io.BytesIO()
    t.save({name: value.detach().clone() for name, value in module.state_dict().items()}, buffer)
    return buffer.getvalue()


def save_weights(module, path: Path) -> str:
    """Write the weights atomically; return their sha256, the model's identity in lineage."""
    data = weights_bytes(module)
    write_bytes_atomic(path, data)
    return sha256_bytes(data)


def load_weights(module, path: Path) -> str:
    """Load a state dict written by save_weights (or given by the user); return its sha256."""
    t = torch()
    data = Path(path).read_bytes()
    state = t.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    module.load_state_dict(state)
    return sha256_bytes(data)


def numpy_normal(seed: int, size: int) -> np.ndarray:
    """A sample's latent noise from its own generator (numpy, so it is the same on any torch build)."""
    return np.random.default_rng(seed).standard_normal(size).astype(np.float32)
