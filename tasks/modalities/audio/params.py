"""params.yaml section `audio:`: the knobs of the audio modality (read when data.modality is audio)."""

from typing import Literal

from pydantic import Field, model_validator

from augmill.tasks.params_base import ModalitySection


class AudioParams(ModalitySection):
    NAME = "audio"
    # Output: every augmented recording is written at this rate (Hz), resampled with a
    # polyphase (band-limited) filter, in this format and sample type.
    sample_rate: int = Field(16000, ge=4000, le=192000)
    # mono: channels are averaged; stereo: a mono source is duplicated, more than 2 channels
    # are refused at explore; keep: as many channels as the source.
    channels: Literal["mono", "stereo", "keep"] = "mono"
    format: Literal["wav", "flac"] = "wav"
    subtype: Literal["PCM_16", "PCM_24", "FLOAT"] = "PCM_16"
    # A variant whose peak passes this level is scaled down to it (recorded as a peak_limit
    # op in its lineage): nothing is ever clipped silently.
    peak_limit_dbfs: float = Field(-1.0, ge=-20, le=0)
    # merge: false keeps originals byte for byte (at their own rate, layout and format); true
    # writes every final recording at sample_rate, channels, format and subtype, and records
    # that as a `conform` op in its lineage (docs/audio.md: the trade-off).
    conform_final: bool = False

    # explore: recordings outside these bounds are quarantined with a reason.
    min_duration_s: float = Field(0.05, gt=0)
    max_duration_s: float = Field(600.0, gt=0)
    # 20 ms frames quieter than this count as silence (silence_fraction).
    silence_threshold_dbfs: float = Field(-50.0, ge=-120, le=0)

    # bias: a train class whose mean RMS level is this many dB from the median class's,
    # or whose mean duration is this many times longer or shorter, is flagged.
    loudness_bias_db: float = Field(6.0, gt=0)
    duration_bias_ratio: float = Field(1.5, gt=1)
    # A train class (or a held-out split, against train) with at least this share of its
    # recordings at a sample rate or channel count that the others have under 5 % of the time.
    rate_bias_share: float = Field(0.5, gt=0, le=1)

    # validate: per-variant bounds (the GX suite expectations/audio_augmented.json).
    min_duration_ratio: float = Field(0.5, gt=0)   # variant duration / source duration
    max_duration_ratio: float = Field(2.0, gt=0)
    min_rms_dbfs: float = Field(-60.0, ge=-120, le=0)  # quieter: a silent variant
    max_silence_fraction: float = Field(0.95, ge=0, le=1)
    # Correlation of the long-term log-mel spectrum with the source's, within the band below:
    # under it the recording is destroyed (noise, wrong content).
    min_spectral_similarity: float = Field(0.5, ge=-1, le=1)
    similarity_min_hz: float = Field(80.0, ge=0)
    similarity_max_hz: float = Field(7600.0, gt=0)
    # Measured SNR of added noise may differ from the configured range by this much (dB).
    snr_tolerance_db: float = Field(1.0, ge=0, le=20)
    # Seconds of each recording played and drawn on the review page.
    gallery_clip_s: float = Field(3.0, gt=0, le=30)

    @model_validator(mode="after")
    def _consistent(self) -> "AudioParams":
        if self.format == "flac" and self.subtype == "FLOAT":
            raise ValueError("subtype FLOAT cannot be written as flac; use PCM_16 or PCM_24, or format wav")
        if self.min_duration_s >= self.max_duration_s:
            raise ValueError("min_duration_s must be below max_duration_s")
        if self.min_duration_ratio > self.max_duration_ratio:
            raise ValueError("min_duration_ratio must not exceed max_duration_ratio")
        if self.similarity_min_hz >= self.similarity_max_hz:
            raise ValueError("similarity_min_hz must be below similarity_max_hz")
        return self



# Which stages read each knob (the `params` stage hands each its share: a change re-runs only those).
AudioParams.READ_BY = {
    "sample_rate":             ("explore", "bias", "augment", "validate", "merge", "evaluate"),
    "channels":                ("explore", "augment", "validate", "merge", "evaluate"),
    "format":                  ("augment", "merge"),
    "subtype":                 ("augment", "merge"),
    "peak_limit_dbfs":         ("augment",),
    "conform_final":           ("merge",),
    "min_duration_s":          ("explore",),
    "max_duration_s":          ("explore",),
    "silence_threshold_dbfs":  ("explore", "validate"),
    "loudness_bias_db":        ("bias",),
    "duration_bias_ratio":     ("bias",),
    "rate_bias_share":         ("bias",),
    "min_duration_ratio":      ("validate",),
    "max_duration_ratio":      ("validate",),
    "min_rms_dbfs":            ("validate",),
    "max_silence_fraction":    ("explore", "validate"),
    "min_spectral_similarity": ("validate",),
    "similarity_min_hz":       ("validate",),
    "similarity_max_hz":       ("validate",),
    "snr_tolerance_db":        ("validate",),
    "gallery_clip_s":          ("bias", "validate", "evaluate"),
}
