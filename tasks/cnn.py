"""A small CNN for the evaluate model (``evaluate.model: cnn``, images): it can feel what a
linear model on pixels cannot, that a digit moved or turned a little is the same digit.

Input: the image modality's baseline features (greyscale, downscaled to a square side,
flattened), reshaped back to that square. Two 3x3 convolutions (16 and 32 channels, ReLU,
2x2 max-pooling) and a linear layer; Adam, cross-entropy, ``evaluate.cnn_epochs`` epochs in
mini-batches of 64. PyTorch on the CPU (the `generative` extra), one thread, weights
initialised and batches shuffled from the given seed: the same inputs give the same
predictions, bit for bit, on a machine. No global random state is left changed.
"""

from __future__ import annotations

import math

import numpy as np

BATCH = 64
LEARNING_RATE = 3e-3


class SmallCNN:
    """scikit-learn's fit / predict, so evaluate and tune use it as they use the linear model."""

    def __init__(self, epochs: int, seed: int):
        self.epochs, self.seed = epochs, seed

    def _network(self, side: int, classes: int):
        from torch import nn

        pooled = side // 4
        return nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Flatten(), nn.Linear(32 * pooled * pooled, classes))

    def _images(self, x: np.ndarray):
        import torch

        side = math.isqrt(x.shape[1])
        if side * side != x.shape[1] or side < 4:
            raise ValueError(f"evaluate.model cnn: features of width {x.shape[1]} are not a square image of side >= 4")
        scaled = (np.asarray(x, dtype=np.float32) - self.mean_) / self.std_
        return torch.from_numpy(scaled.reshape(-1, 1, side, side)), side

    def fit(self, x: np.ndarray, y: np.ndarray) -> SmallCNN:
        import torch

        self.classes_, codes = np.unique(np.asarray(y).astype(str), return_inverse=True)
        self.mean_, self.std_ = float(np.mean(x)), float(np.std(x)) or 1.0
        images, side = self._images(x)
        targets = torch.from_numpy(codes.astype(np.int64))
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # one thread: reproducible sums, and no contention with other work
        try:
            with torch.random.fork_rng(devices=[]):  # the global generator is restored afterwards
                torch.manual_seed(self.seed)
                self.network_ = self._network(side, len(self.classes_))
                optimiser = torch.optim.Adam(self.network_.parameters(), lr=LEARNING_RATE)
                order = np.random.default_rng(self.seed)
                loss = torch.nn.CrossEntropyLoss()
                self.network_.train()
                for _ in range(self.epochs):
                    permutation = torch.from_numpy(order.permutation(len(images)))
                    for start in range(0, len(images), BATCH):
                        batch = permutation[start:start + BATCH]
                        optimiser.zero_grad()
                        loss(self.network_(images[batch]), targets[batch]).backward()
                        optimiser.step()
        finally:
            torch.set_num_threads(threads)
        return self

    def _logits(self, x: np.ndarray) -> np.ndarray:
        import torch

        images, _ = self._images(x)
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            self.network_.eval()
            with torch.no_grad():
                return self.network_(images).numpy()
        finally:
            torch.set_num_threads(threads)

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.classes_[self._logits(x).argmax(axis=1)]

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """P(class | image), columns in ``classes_`` order (the bias stage's label check asks for them)."""
        logits = self._logits(x).astype(np.float64)
        exponentials = np.exp(logits - logits.max(axis=1, keepdims=True))
        return exponentials / exponentials.sum(axis=1, keepdims=True)
