"""Style transfer of a train image towards one style image, offline.

statistics (the default): Reinhard et al. (2001) colour transfer. RGB images go to the
decorrelated l-alpha-beta space (via LMS, log10), each channel's mean and standard
deviation are moved to the style image's, and back; greyscale images get their
intensity mean and standard deviation matched. No weights, no training, instant and
exactly reproducible, so it runs by default.

adain: AdaIN (Huang & Belongie, 2017) on a small convolutional encoder/decoder. The
usual AdaIN uses a VGG encoder pretrained on ImageNet, which cannot be downloaded here,
so the network is trained in the pipeline as an autoencoder on the train images (or
loaded from a local weights file the user gives). The content's encoder features get
the style's per-channel mean and standard deviation and are decoded. With an encoder
trained on a few hundred images, "style" means low-level statistics (contrast, stroke
weight, colour), not painterly texture.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from augmill.tasks.generative.nets import TrainConfig, TrainingLog, deterministic, run_epochs, torch

# Reinhard, Ashikhmin, Gooch & Shirley, "Color Transfer between Images" (2001).
_RGB_TO_LMS = np.array([[0.3811, 0.5783, 0.0402], [0.1967, 0.7244, 0.0782], [0.0241, 0.1288, 0.8444]])
_LMS_TO_LAB = np.diag([1 / np.sqrt(3), 1 / np.sqrt(6), 1 / np.sqrt(2)]) @ np.array([[1, 1, 1], [1, 1, -2], [1, -1, 0]])
_FLOOR = 1 / 255  # log10 of 0 is undefined: black is lifted to the smallest 8-bit step


def to_lab(rgb: np.ndarray) -> np.ndarray:
    """(h, w, 3) RGB in [0, 1] -> Reinhard's l-alpha-beta."""
    lms = np.maximum(rgb.reshape(-1, 3) @ _RGB_TO_LMS.T, _FLOOR)
    return (np.log10(lms) @ _LMS_TO_LAB.T).reshape(rgb.shape)


def from_lab(lab: np.ndarray) -> np.ndarray:
    lms = 10 ** (lab.reshape(-1, 3) @ np.linalg.inv(_LMS_TO_LAB).T)
    return (lms @ np.linalg.inv(_RGB_TO_LMS).T).reshape(lab.shape)


def channel_statistics(image: Image.Image) -> dict:
    """Mean and standard deviation per channel in the space the transfer works in."""
    values = _working_values(image)
    return {"mean": values.reshape(-1, values.shape[-1]).mean(axis=0).round(6).tolist(),
            "std": values.reshape(-1, values.shape[-1]).std(axis=0).round(6).tolist()}


def _working_values(image: Image.Image) -> np.ndarray:
    pixels = np.asarray(image.convert("L" if image.mode == "L" else "RGB"), dtype=np.float64) / 255.0
    return pixels[..., None] if image.mode == "L" else to_lab(pixels)


def statistics_transfer(content: Image.Image, style: Image.Image, strength: float = 1.0) -> Image.Image:
    """The content image with the style image's channel statistics (in the content's mode:
    L stays L; RGB and RGBA work in l-alpha-beta, alpha kept as it is)."""
    source = _working_values(content)
    target = _working_values(style.convert("L") if content.mode == "L" else style.convert("RGB"))
    flat_source, flat_target = source.reshape(-1, source.shape[-1]), target.reshape(-1, target.shape[-1])
    mean_s, std_s = flat_source.mean(axis=0), flat_source.std(axis=0)
    mean_t, std_t = flat_target.mean(axis=0), flat_target.std(axis=0)
    # strength interpolates the statistics, not the pixels: 0.5 lands half way in mean and spread.
    mean_goal = (1 - strength) * mean_s + strength * mean_t
    std_goal = (1 - strength) * std_s + strength * std_t
    moved = (source - mean_s) / np.where(std_s > 0, std_s, 1.0) * std_goal + mean_goal
    if content.mode == "L":
        return Image.fromarray(_to_uint8(moved[..., 0]), "L")
    rgb = Image.fromarray(_to_uint8(from_lab(moved)), "RGB")
    if content.mode == "RGBA":
        rgb.putalpha(content.getchannel("A"))
    return rgb


def _to_uint8(values: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(values * 255.0), 0, 255).astype(np.uint8)


# ---- AdaIN -------------------------------------------------------------------------


def build_adain(channels: int, width: int = 16):
    t = torch()
    nn = t.nn

    class AdaINNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.channels = channels
            self.encoder = nn.Sequential(nn.Conv2d(channels, width, 3, padding=1), nn.ReLU(),
                                         nn.Conv2d(width, 2 * width, 3, stride=2, padding=1), nn.ReLU())
            self.decoder = nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"),
                                         nn.Conv2d(2 * width, width, 3, padding=1), nn.ReLU(),
                                         nn.Conv2d(width, channels, 3, padding=1))

        def forward(self, images):
            return t.sigmoid(self.decoder(self.encoder(images)))

        def transfer(self, content, style, strength: float):
            features, style_features = self.encoder(content), self.encoder(style)
            mean_c, std_c = _moments(features)
            mean_s, std_s = _moments(style_features)
            adapted = (features - mean_c) / std_c * std_s + mean_s
            return t.sigmoid(self.decoder(strength * adapted + (1 - strength) * features))

    return AdaINNet()


def _moments(features):
    mean = features.mean(dim=(2, 3), keepdim=True)
    std = (features.var(dim=(2, 3), keepdim=True, unbiased=False) + 1e-5).sqrt()
    return mean, std


def train_adain(x: np.ndarray, channels: int, side: int, epochs: int, seed: int):
    """An autoencoder on the train images (n, channels * side * side) in [0, 1]."""
    config = TrainConfig(epochs=epochs, time_budget_seconds=float("inf"), batch_size=32, learning_rate=2e-3,
                         latent_dim=0, hidden=0)
    with deterministic(seed) as t:
        model = build_adain(channels)
        images = t.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).view(-1, channels, side, side)
        optimiser = t.optim.Adam(model.parameters(), lr=config.learning_rate)
        shuffle = t.Generator().manual_seed(seed % 2**63)

        def step(batch) -> dict:
            loss = t.nn.functional.mse_loss(model(images[batch]), images[batch])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            return {"mse": loss.item()}

        model.train()
        log: TrainingLog = run_epochs(step, len(x), config, shuffle)
        model.eval()
    return model, log


def adain_transfer(model, content: Image.Image, style: Image.Image, side: int, strength: float) -> Image.Image:
    """Content and style at side x side (the network's working size), in the network's mode."""
    t = torch()
    mode = "L" if model.channels == 1 else "RGB"

    def tensor(image):
        pixels = np.asarray(image.convert(mode).resize((side, side), Image.Resampling.BOX), dtype=np.float32) / 255.0
        return t.from_numpy(pixels[None, None] if mode == "L" else pixels.transpose(2, 0, 1)[None].copy())

    with deterministic(0), t.no_grad():
        out = model.transfer(tensor(content), tensor(style), strength)[0].numpy()
    pixels = _to_uint8(out[0] if mode == "L" else out.transpose(1, 2, 0))
    return Image.fromarray(pixels, mode)
