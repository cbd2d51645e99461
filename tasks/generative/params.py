"""params.yaml section `synthesize:`: the generative stage (VAE/GAN samples, adversarial
examples, style transfer) and the quality gates validate applies to its output.

Off by default, so the default pipeline needs neither PyTorch nor the training time.
Each method takes a share of every class's planned new samples (bias stage's plan);
the shares add up to at most 1.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from augmill.tasks.params_base import Section


class GateParams(Section):
    """Thresholds of the quality gates (tasks/generative/gates.py), applied in validate."""

    # Fidelity, batch: cross-validated accuracy of a logistic regression telling real train samples from
    # generated ones (class mix balanced, so 0.5 is chance). Above it, every generated sample is quarantined.
    max_c2st_accuracy: float = Field(0.85, ge=0.5, le=1)
    # Fidelity, per sample: a generated sample the same classifier calls synthetic with at least this
    # (out-of-fold) probability is quarantined; raised to what 5% of the real samples score, if higher.
    max_detect_probability: float = Field(0.9, gt=0.5, le=1)
    # Fidelity, batch: Frechet distance between real and generated features (PCA of the real train set),
    # divided by the distance between two random halves of the real train set. Above it: all quarantined.
    max_feature_distance_ratio: float = Field(4.0, gt=0)
    # Fidelity, per sample: farther from every real train sample than this x the largest real-to-real
    # nearest-neighbour distance is an outlier no real sample resembles (noise, a broken decode).
    max_outlier_ratio: float = Field(1.25, gt=0)
    # Components of the PCA the fidelity gates work in (capped by the number of real samples).
    pca_components: int = Field(20, ge=2, le=256)
    # Privacy: a sample closer to a real sample than min_privacy_ratio x (this quantile of the real train
    # samples' distances to their nearest other train sample) is a near copy and is quarantined.
    privacy_reference_quantile: float = Field(0.05, gt=0, lt=1)
    min_privacy_ratio: float = Field(0.5, ge=0, le=10)
    # Label fidelity: a classifier trained on the real train split must predict the conditional label
    # (generated and style-transferred samples); below this share of agreement the stage reports it.
    min_label_agreement: float = Field(0.7, ge=0, le=1)
    # validate fails when more than this share of the synthetic samples is quarantined.
    max_rejection_rate: float = Field(0.5, ge=0, le=1)


class AdversarialParams(Section):
    """Adversarial examples of train images against a surrogate classifier trained on the train split."""

    share: float = Field(0.0, ge=0, le=1)  # 0: off
    method: Literal["fgsm", "pgd"] = "pgd"
    # L-infinity bound on pixel values in [0, 1]; 8/255 is the usual "imperceptible" budget.
    epsilon: float = Field(8 / 255, gt=0, le=32 / 255)
    steps: int = Field(10, ge=1, le=100)  # PGD only
    step_size: float = Field(2 / 255, gt=0, le=32 / 255)  # PGD only
    surrogate: Literal["logistic", "mlp"] = "mlp"
    surrogate_epochs: int = Field(30, ge=1, le=1000)


class StyleParams(Section):
    """Style transfer of train images towards one style image."""

    share: float = Field(0.0, ge=0, le=1)  # 0: off
    # statistics: Reinhard-style matching of channel means/stds in a decorrelated colour space (default:
    # no weights, instant, deterministic). adain: a small encoder/decoder, trained here on the train split
    # (or loaded from `weights`), whose feature statistics are matched to the style image's (AdaIN).
    method: Literal["statistics", "adain"] = "statistics"
    # The style image, relative to the project root (required when share > 0).
    style_image: str | None = None
    strength: float = Field(1.0, ge=0, le=1)  # 0 keeps the source, 1 matches the style fully
    # adain: a local state-dict file for the network in tasks/generative/style.py; null trains one here.
    weights: str | None = None
    epochs: int = Field(20, ge=1, le=1000)  # adain training


class SynthesizeParams(Section):
    enabled: bool = False
    # The generative model trained on the train split; "none" with adversarial/style shares only.
    generator: Literal["vae", "gan", "none"] = "vae"
    # Share of each class's planned new samples (data/interim/plan.json) the generator makes. These come
    # on top of the augment stage's samples: lower augment.factor if the total should stay as planned.
    share: float = Field(0.5, ge=0, le=1)
    # null: the generator's default (vae 150, gan 600), measured on the digits demo (docs/generative.md).
    epochs: int | None = Field(None, ge=1, le=10_000)
    # Training stops after this many seconds even if epochs remain (recorded in the model card; then the
    # output is reproducible only by setting epochs to the epochs actually run).
    time_budget_seconds: float = Field(600.0, gt=0)
    batch_size: int = Field(64, ge=2, le=4096)
    learning_rate: float | None = Field(None, gt=0, le=1)  # null: vae 3e-3, gan 2e-4 (Adam)
    latent_dim: int = Field(16, ge=2, le=512)
    hidden: int = Field(256, ge=8, le=4096)
    # Images are generated at side x side pixels (the digits demo is 32x32), greyscale or RGB as the data.
    image_side: int = Field(32, ge=8, le=64)
    gates: GateParams = GateParams()
    adversarial: AdversarialParams = AdversarialParams()
    style: StyleParams = StyleParams()

    @model_validator(mode="after")
    def _consistent(self) -> SynthesizeParams:
        generator_share = self.share if self.generator != "none" else 0.0
        total = generator_share + self.adversarial.share + self.style.share
        if total > 1 + 1e-9:
            raise ValueError(f"share + adversarial.share + style.share is {total:.3f}; at most 1 of the planned new samples")
        if self.style.share > 0 and not self.style.style_image:
            raise ValueError("style.style_image: required when style.share > 0 (a file relative to the project root)")
        if self.adversarial.method == "pgd" and self.adversarial.step_size > self.adversarial.epsilon:
            raise ValueError("adversarial.step_size must not exceed adversarial.epsilon")
        return self
