"""params.yaml -> one validated Params object, the only place a knob is defined.

Everything is checked before any work starts: an unknown key, a wrong type or an
out-of-range value stops the run with a message naming the key and what is allowed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from augmill.tasks.generative.params import SynthesizeParams
from augmill.tasks.modalities.audio.params import AudioParams
from augmill.tasks.modalities.tabular.params import TabularParams
from augmill.tasks.modalities.text.params import TextParams
from augmill.tasks.params_base import Section

PARAMS_FILE = Path("params.yaml")
MODALITY_SECTIONS = (TextParams, AudioParams, TabularParams)


class ParamsError(ValueError):
    """params.yaml (or a --set override) is invalid; nothing has run."""




class SplitFractions(Section):
    train: float = Field(0.7, gt=0, lt=1)
    val: float = Field(0.15, ge=0, lt=1)
    test: float = Field(0.15, ge=0, lt=1)
    # true: rows the input puts in train are split again by these fractions (val and test drawn
    # from train, stratified, seeded): for inputs whose only split is train. `augmill init` sets it.
    resplit_train: bool = False

    @model_validator(mode="after")
    def _sum_to_one(self) -> SplitFractions:
        total = self.train + self.val + self.test
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"train + val + test must be 1.0, got {total:.4f}")
        return self


class DataParams(Section):
    modality: Literal["image", "text", "audio", "tabular"] = "image"
    raw_dir: str = "data/raw"
    # Optional CSV with columns path,label[,split]; paths relative to raw_dir.
    manifest_csv: str | None = None
    # Used only when the input has no train/val/test folders or split column.
    split: SplitFractions = SplitFractions()
    # Decompression-bomb guard, applied per file (Pillow's global limit is left alone).
    # At most Pillow's own hard ceiling (2 x its default limit), which it enforces while opening.
    max_image_pixels: int = Field(40_000_000, ge=1, le=178_956_970)
    # Images with targets inside them (#19): none (classification), coco (annotations/*.json beside
    # images/), yolo (images/<split>/, labels/<split>/, data.yaml), voc (Annotations/*.xml, JPEGImages/,
    # ImageSets/Main/<split>.txt), masks (images/ and masks/ with the same stems, pixel = class id,
    # 0 the background; classes.txt names them). data/final is written in the same format.
    targets: Literal["none", "coco", "yolo", "voc", "masks"] = "none"


class PrepareParams(Section):
    # Which bundled demo the `prepare` stage writes into data/raw (see tasks/demos/);
    # "none" when data.raw_dir points at your own dataset: the demo stage then writes nothing.
    dataset: str = "digits"
    # Cap on images per class taken from the demo source (null: all ~180), for quick runs.
    max_per_class: int | None = Field(None, ge=4)
    image_size: int = Field(32, ge=8, le=256)
    # Train split of the demo: the most frequent class keeps all its images, the
    # rarest keeps this fraction, the others in between (a linear ramp).
    imbalance: float = Field(0.2, gt=0, le=1)
    # Share of each class held out for val and test before the train split is thinned.
    val_fraction: float = Field(0.15, ge=0, lt=0.5)
    test_fraction: float = Field(0.25, gt=0, lt=0.5)


class ExploreParams(Section):
    # Perceptual-hash Hamming distance (of 64 bits) at or below which two images are near duplicates.
    near_duplicate_distance: int = Field(4, ge=0, le=32)
    max_listed_pairs: int = Field(50, ge=0)


class BiasParams(Section):
    policy: Literal["rebalance", "report", "fail"] = "rebalance"
    # Largest allowed ratio of the biggest to the smallest train class under policy "fail".
    max_imbalance: float = Field(10.0, ge=1)
    # Likely label errors in train (tasks/label_issues.py): report (listed, never augmented, kept),
    # quarantine (to reports/quarantine.csv, reason label_issue) or fail (the run stops).
    label_issues: Literal["report", "quarantine", "fail"] = "report"
    # Folds of the out-of-fold predicted probabilities (fewer when the smallest class is smaller).
    label_check_folds: int = Field(5, ge=2, le=20)


class AugmentParams(Section):
    # The train split grows to this multiple of its size (1.0: no new samples).
    factor: float = Field(2.0, ge=1, le=50)
    max_variants_per_source: int = Field(10, ge=1, le=1000)
    image_format: Literal["keep", "png", "jpeg", "webp"] = "keep"
    jpeg_quality: int = Field(95, ge=1, le=100)
    # data.targets: an object a geometric operator cut is dropped (and the drop recorded in the
    # variant's ops) below this share of its source still visible, or below this area in pixels.
    min_visibility: float = Field(0.25, ge=0, le=1)
    min_area: float = Field(4.0, ge=0)
    # Ordered operators [{name, p, ...ranges}], or a preset {preset: randaugment, n, m} | {preset: trivialaugment},
    # or "auto": the augment stage runs tune's search on the validation split and uses its choice
    # (reports/policy_choice.json), which may be no augmentation at all.
    policy: list[dict[str, Any]] | dict[str, Any] | Literal["auto"]

    @field_validator("policy", mode="before")
    @classmethod
    def _policy_is_a_list_or_a_preset(cls, value: Any) -> Any:
        if value == "auto":
            return value
        if isinstance(value, list) and not value:
            raise ValueError("should have at least 1 operator, or be a preset such as {preset: randaugment, n: 2, m: 9}")
        if not isinstance(value, list | dict):
            raise ValueError("should be a list of operators, a preset such as {preset: trivialaugment}, or auto")
        return value


class ExecutionParams(Section):
    """How to run, not what to make: no stage lists this section in dvc.yaml,
    because outputs are byte-identical whatever these are."""

    workers: int = Field(1, ge=1, le=256)
    shard_size: int = Field(256, ge=1)
    # A Dask scheduler ("tcp://host:8786") to run the augment shards on; workers must see
    # the project folder at the same absolute path (shared file system). null: local processes.
    dask_address: str | None = None
    # Reuse per-sample results of earlier runs (.augmill/cache): incremental runs, same bytes.
    cache: bool = True


class ValidateParams(Section):
    # Image variants against their source aligned by the recorded geometric ops (README: validate).
    min_content_kept: float = Field(0.4, ge=0, le=1)
    max_fill_fraction: float = Field(0.3, ge=0, le=1)
    min_photometric_similarity: float = Field(0.5, ge=-1, le=1)
    min_difference: float = Field(1.0, ge=0)
    min_std: float = Field(2.0, ge=0)
    max_saturated_fraction: float = Field(0.98, ge=0, le=1)
    min_size: int = Field(1, ge=1)
    max_size: int = Field(8192, ge=1)
    # The stage fails when more than this share of augmented samples is quarantined.
    max_rejection_rate: float = Field(0.2, ge=0, le=1)
    gallery_sources: int = Field(24, ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> ValidateParams:
        if self.min_size > self.max_size:
            raise ValueError("min_size must not exceed max_size")
        return self


class EvaluateParams(Section):
    """The baseline model trained on the original and on the merged train split, scored on test."""

    # Repeats; each trains both models on its own seeded, stratified subsample of the train sources.
    seeds: int = Field(5, ge=1, le=100)
    # Share of each class's train sources drawn per repeat (with their variants for the augmented model);
    # below 1, so the repeats differ and the spread says how much of a difference is noise.
    subsample: float = Field(0.8, gt=0, le=1)
    # Inverse regularisation strength and iteration cap of the logistic regression.
    C: float = Field(1.0, gt=0)
    max_iter: int = Field(2000, ge=10)
    # The metric that decides the verdict: "better" / "worse" only when its confidence interval of
    # (augmented - baseline) lies wholly above / below 0 (tasks/stats.py), else "no measurable difference".
    metric: Literal["accuracy", "macro_f1", "balanced_accuracy"] = "macro_f1"
    # Level of that interval (a paired bootstrap over the test samples and the repeats).
    confidence: float = Field(0.95, ge=0.5, lt=1)
    # A drop up to this much is not a regression: one needs the whole interval below -tolerance.
    tolerance: float = Field(0.0, ge=0, le=1)
    # Fail the evaluate stage (dvc repro and augmill run stop with an error) on a regression.
    fail_on_regression: bool = False
    # The model evaluate and tune train: "linear" (logistic regression, the fast default) or "cnn" (images and audio:
    # a small CNN on the same downscaled pixels, PyTorch on the CPU, which can feel geometric invariance).
    model: Literal["linear", "cnn"] = "linear"
    cnn_epochs: int = Field(30, ge=1, le=1000)
    # With augment.policy: auto, a version whose verdict is "worse" fails the stage unless this is true
    # (an explicit opt-in: a policy chosen by the machine never ships a regression silently).
    allow_worse: bool = False


class TuneParams(Section):
    """`augmill tune`: the policy search on the validation split (tasks/tune.py)."""

    # Stop starting candidates after this long; the ones left are reported as not run.
    time_budget_seconds: float = Field(600.0, gt=0)
    # At most this many candidates, no augmentation and the current policy included (in their listed order).
    max_candidates: int = Field(20, ge=2, le=200)
    # Paired repeats per candidate, and how many of them every candidate gets before clear losers are dropped.
    repeats: int = Field(5, ge=2, le=100)
    screen_repeats: int = Field(2, ge=2, le=100)
    # The policy whose ablations and magnitude grid are searched when augment.policy is auto (there is no
    # "current" policy then); null: only no augmentation and the presets (images).
    base_policy: list[dict[str, Any]] | dict[str, Any] | None = None
    # How the magnitude of a list policy is searched: "grid" (x0.5, x1.5, x2) or "optuna" (TPE over the
    # scale, seeded; the trials fill max_candidates; needs the optional `tune` extra: pip install optuna).
    search: Literal["grid", "optuna"] = "grid"

    @model_validator(mode="after")
    def _screen_within_repeats(self) -> TuneParams:
        if self.screen_repeats > self.repeats:
            raise ValueError(f"screen_repeats ({self.screen_repeats}) must not exceed repeats ({self.repeats})")
        return self


class ReviewParams(Section):
    # Variants shown per operator in the report's review gallery (a seeded choice).
    gallery_per_operator: int = Field(12, ge=0, le=500)


# minute hour day-of-month month day-of-week, as Prefect's cron schedules read them.
_CRON_FIELDS = (("minute", 0, 59, ()), ("hour", 0, 23, ()), ("day of month", 1, 31, ()),
                ("month", 1, 12, ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")),
                ("day of week", 0, 7, ("sun", "mon", "tue", "wed", "thu", "fri", "sat")))
_CRON_MACROS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")


def check_cron(expression: str) -> str:
    """A five-field cron expression (or a macro such as @daily), checked here so that a typo
    stops `augmill check` instead of the deployment, without importing Prefect (seconds)."""
    if expression.strip() in _CRON_MACROS:
        return expression.strip()
    fields = expression.split()
    if len(fields) != 5:
        raise ValueError(f"{expression!r}: expected 5 fields (minute hour day-of-month month day-of-week), "
                         f"e.g. '0 3 * * *' (03:00 every day), or one of {list(_CRON_MACROS)}")
    for text, (name, low, high, names) in zip(fields, _CRON_FIELDS, strict=True):
        for item in text.split(","):
            body, has_step, step = item.partition("/")
            if has_step and not (step.isdigit() and int(step) >= 1):
                raise ValueError(f"{expression!r}: {name} step {step!r} must be a whole number >= 1")
            if body == "*":
                continue
            for value in body.split("-", 1):
                number = names.index(value.lower()) + low if value.lower() in names else (int(value) if value.isdigit() else None)
                if number is None or not low <= number <= high:
                    raise ValueError(f"{expression!r}: {name} {value!r} must be {low}-{high}"
                                     + (f" or a name ({names[0]}...{names[-1]})" if names else ""))
    return " ".join(fields)


class ScheduleParams(Section):
    """The scheduled run (`augmill serve`, prefect.yaml): when, and how it records a dataset version.
    No stage lists this section in dvc.yaml: it changes no output."""

    cron: str = "0 3 * * *"
    # Every N seconds instead of the cron (`augmill serve` only; prefect.yaml keeps its cron):
    # for a schedule that must fire soon, e.g. to try it out. Runs that come due while one is
    # running wait for it (the deployment runs one at a time).
    interval_seconds: int | None = Field(None, ge=1, le=366 * 86_400)
    timezone: str = "UTC"          # IANA name, e.g. Europe/Paris: the cron is read in this zone
    commit: bool = True            # git commit dvc.lock and the git-tracked reports when they changed
    tag_versions: bool = False     # also tag that commit augmill-<UTC date>-<flow run name>
    push: bool = False             # dvc push the data to the remote before committing
    remote: str | None = None      # the DVC remote to push to; null: the default remote (dvc remote add -d)
    # A failed attempt (busy workspace, unreachable remote, a lost worker...) is retried after a
    # delay, each time from the restored previous version.
    retries: int = Field(2, ge=0, le=10)
    retry_delay_seconds: int = Field(60, ge=0, le=86_400)

    @field_validator("cron")
    @classmethod
    def _cron(cls, expression: str) -> str:
        return check_cron(expression)

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, name: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {name!r}; use an IANA name such as UTC or Europe/Paris") from None
        return name

    @model_validator(mode="after")
    def _tag_needs_commit(self) -> ScheduleParams:
        if self.tag_versions and not self.commit:
            raise ValueError("tag_versions: true needs commit: true (a tag names a commit)")
        return self


class Params(Section):
    seed: int = Field(ge=0, lt=2**63)
    data: DataParams = DataParams()
    prepare: PrepareParams = PrepareParams()
    explore: ExploreParams = ExploreParams()
    bias: BiasParams = BiasParams()
    synthesize: SynthesizeParams = SynthesizeParams()
    augment: AugmentParams
    execution: ExecutionParams = ExecutionParams()
    validate_: ValidateParams = Field(ValidateParams(), alias="validate")
    evaluate: EvaluateParams = EvaluateParams()
    tune: TuneParams = TuneParams()
    review: ReviewParams = ReviewParams()
    schedule: ScheduleParams = ScheduleParams()
    # Modality sections: only the one named by data.modality is used.
    text: TextParams = TextParams()
    audio: AudioParams = AudioParams()
    tabular: TabularParams = TabularParams()
