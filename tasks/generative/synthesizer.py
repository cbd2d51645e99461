"""One trained class-conditional generator (VAE or GAN) behind one interface: fit on
encoded train samples, save as a weights file whose sha256 is its identity, sample one
vector per (class, seed).

For images the GAN works in the whitened PCA coefficients of the real train images
(the basis is saved with its weights): a small MLP GAN trained on a few hundred images
in pixel space leaves per-pixel speckle, while in that space its output stays on the
span of real images. The VAE works on pixels directly. Tables: both on the encoded row.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from augmill.tasks.generative import gan, vae
from augmill.tasks.generative.encoding import Segment
from augmill.tasks.generative.nets import TrainConfig, TrainingLog, deterministic, load_weights, save_weights, torch

MODELS = {"vae": vae, "gan": gan}
DEFAULT_EPOCHS = {"vae": 150, "gan": 600}
DEFAULT_LEARNING_RATE = {"vae": 3e-3, "gan": 2e-4}
PCA_COMPONENTS = 64


@dataclass(frozen=True)
class LinearSpace:
    """Whitened PCA coordinates: x ~ mean + (w * scale) @ components."""

    mean: np.ndarray
    components: np.ndarray
    scale: np.ndarray

    @classmethod
    def fit(cls, x: np.ndarray, k: int) -> LinearSpace:
        x = np.asarray(x, dtype=np.float64)
        mean = x.mean(axis=0)
        _, singular, vt = np.linalg.svd(x - mean, full_matrices=False)
        k = max(1, min(k, len(x) - 1, x.shape[1]))
        # Fix each component's sign (SVD may return either): largest coordinate positive.
        signs = np.sign(vt[np.arange(k), np.argmax(np.abs(vt[:k]), axis=1)])
        scale = np.maximum(singular[:k] / np.sqrt(max(len(x) - 1, 1)), 1e-8)
        return cls(mean, vt[:k] * signs[:, None], scale)

    def to_space(self, x: np.ndarray) -> np.ndarray:
        return ((np.asarray(x, dtype=np.float64) - self.mean) @ self.components.T / self.scale).astype(np.float32)

    def from_space(self, w: np.ndarray) -> np.ndarray:
        return (np.asarray(w, dtype=np.float64) * self.scale) @ self.components + self.mean


@dataclass
class Synthesizer:
    kind: str
    model: object
    classes: list[str]
    segments: tuple[Segment, ...]  # of the vectors it returns (the codec's)
    config: TrainConfig
    space: LinearSpace | None = None
    log: TrainingLog | None = None

    @property
    def model_segments(self) -> tuple[Segment, ...]:
        return (Segment("real", 0, len(self.space.scale)),) if self.space is not None else self.segments

    def sample(self, class_index: int, seed: int) -> np.ndarray:
        """Call inside deterministic(): one vector in the codec's space."""
        vector = MODELS[self.kind].sample(self.model, class_index, seed, self.config.latent_dim, self.model_segments)
        if self.space is not None:
            vector = np.clip(self.space.from_space(vector[None])[0], 0.0, 1.0)
        return vector

    def sample_many(self, requests: list[tuple[int, int]]) -> np.ndarray:
        """(class index, seed) -> vectors; each computed alone, single-threaded."""
        with deterministic(0):
            return np.stack([self.sample(c, s) for c, s in requests]) if requests else np.empty((0, 0))

    def card(self) -> dict:
        """What it takes to rebuild the model around its weights file, and how training went."""
        return {"generator": self.kind, "classes": self.classes, "latent_dim": self.config.latent_dim,
                "hidden": self.config.hidden, "epochs": self.config.epochs, "batch_size": self.config.batch_size,
                "learning_rate": self.config.learning_rate,
                "segments": [[s.kind, s.start, s.stop] for s in self.segments],
                "pca_components": None if self.space is None else len(self.space.scale),
                "training": self.log.as_dict() if self.log else None}

    def save(self, path: Path) -> str:
        module = self.model
        if self.space is not None:
            t = torch()
            module = t.nn.ModuleDict({"model": self.model, "space": _space_module(self.space)})
        return save_weights(module, path)


def _space_module(space: LinearSpace):
    t = torch()
    holder = t.nn.Module()
    for name in ("mean", "components", "scale"):
        holder.register_buffer(name, t.from_numpy(np.ascontiguousarray(getattr(space, name))))
    return holder


def fit(kind: str, x: np.ndarray, class_indices: np.ndarray, classes: list[str], segments: tuple[Segment, ...],
        config: TrainConfig, seed: int, image: bool) -> Synthesizer:
    if kind not in MODELS:
        raise ValueError(f"synthesize.generator: {kind!r} is not one of {sorted(MODELS)}")
    space = LinearSpace.fit(x, PCA_COMPONENTS) if (kind == "gan" and image) else None
    data = space.to_space(x) if space is not None else x
    synthesizer = Synthesizer(kind, None, classes, segments, config, space)
    synthesizer.model, synthesizer.log = MODELS[kind].train(data, class_indices, len(classes), synthesizer.model_segments,
                                                            config, seed)
    return synthesizer


def load(card: dict, path: Path) -> tuple[Synthesizer, str]:
    """Rebuild a saved synthesizer from its card and weights file; returns it and the file's sha256."""
    config = TrainConfig(card["epochs"], 0.0, card["batch_size"], card["learning_rate"], card["latent_dim"], card["hidden"])
    segments = tuple(Segment(k, a, b) for k, a, b in card["segments"])
    kind, k = card["generator"], card["pca_components"]
    width = segments[-1].stop if k is None else k
    model = MODELS[kind].build(width, len(card["classes"]), config)
    if k is None:
        sha = load_weights(model, path)
        return Synthesizer(kind, model.eval(), card["classes"], segments, config), sha
    t = torch()
    placeholder = LinearSpace(np.zeros(segments[-1].stop), np.zeros((k, segments[-1].stop)), np.ones(k))
    holder = t.nn.ModuleDict({"model": model, "space": _space_module(placeholder)})
    sha = load_weights(holder, path)
    space = LinearSpace(*(getattr(holder["space"], n).numpy().astype(np.float64) for n in ("mean", "components", "scale")))
    return Synthesizer(kind, model.eval(), card["classes"], segments, config, space), sha
