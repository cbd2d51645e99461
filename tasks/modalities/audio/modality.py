"""The audio modality: how recordings are read, profiled, checked for loudness and
duration bias, augmented, measured, shown for review and written to data/final/.
Stage logic shared by every modality lives in the stage modules; signal
processing is in audio_signal, file formats in audio_io."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from augmill.tasks import paths
from augmill.tasks.cache import code_version, key_of, library_versions
from augmill.tasks.feature_memo import memoized_file_rows
from augmill.tasks.ingest import copy_into_final, read_file_dataset
from augmill.tasks.io import safe_name, sha256_bytes, write_bytes_atomic
from augmill.tasks.modalities.audio.io import SUFFIXES, decode, encode, extension, read_measured
from augmill.tasks.modalities.audio.mix import mix_bias, mixes
from augmill.tasks.modalities.audio.ops import OPERATOR_KINDS
from augmill.tasks.modalities.audio.signal import (
    Clip,
    conform,
    log_mel_patch,
    mfcc_summary,
    peak_dbfs,
    power,
    rms_dbfs,
    silence_fraction,
    spectral_similarity,
)
from augmill.tasks.ops.policy import build_policy, replay, run_policy
from augmill.tasks.params import Params
from augmill.tasks.progress import progress_bar
from augmill.tasks.samples import UnusableSample
from augmill.tasks.seeding import sample_seed

# The distributions whose versions shape this modality's bytes: part of every memo key (tasks.cache).
LIBRARIES = ("soundfile", "numpy", "scipy")
SUITE_FILE = paths.EXPECTATIONS / "audio_augmented.json"
AUGMENTED_COLUMNS = ["path", "duration_s", "sample_rate", "channels", "format", "subtype", "peak_dbfs", "limited"]
FEATURE_COLUMNS = ["duration_ratio", "measured_peak_dbfs", "rms_dbfs", "silence_fraction", "spectral_similarity", "snr_db"]
FINAL_COLUMNS = ["path", "duration_s", "sample_rate", "channels"]
NOISE_OP = "add_noise"
LIMIT_OP = "peak_limit"


def load_source(path: Path, audio) -> Clip:
    """A source recording as the operators see it: at the target rate, channel policy applied.
    Replaying a row's ops on this gives its variant exactly."""
    return conform(decode(path)[0], audio.sample_rate, audio.channels)


# ---- explore ---------------------------------------------------------------

def read_raw(params: Params) -> tuple[pd.DataFrame, dict]:
    return read_file_dataset(params.data.raw_dir, params.data.manifest_csv, lambda path: read_measured(path, params.audio),
                             params.data.split.model_dump(), params.seed, "reading recordings")


def _stats(values: pd.Series) -> dict:
    values = pd.to_numeric(values, errors="coerce").dropna()
    if values.empty:
        return {}
    return {"min": round(float(values.min()), 3), "median": round(float(values.median()), 3),
            "mean": round(float(values.mean()), 3), "max": round(float(values.max()), 3)}


def _counts(values: pd.Series) -> dict[str, int]:
    return {str(k): int(v) for k, v in values.value_counts().sort_index().items()}


def profile(ok: pd.DataFrame, params: Params) -> dict:
    audio, limit = params.audio, params.explore.max_listed_pairs
    duration = pd.to_numeric(ok["duration_s"])
    silent = ok[pd.to_numeric(ok["silence_fraction"]) > audio.max_silence_fraction]
    clipped = ok[pd.to_numeric(ok["clipped_fraction"]) > 0].sort_values("clipped_fraction", ascending=False)
    lossy = ok["lossy"].fillna(False).astype(bool)
    return {
        "total_duration_s": round(float(duration.sum()), 2),
        "duration_s": _stats(duration),
        "duration_s_by_class": {str(k): _stats(g["duration_s"]) for k, g in ok.groupby("label")},
        "sample_rates": _counts(ok["sample_rate"]),
        "channels": _counts(ok["channels"]),
        # Per split and per class: a split or class recorded differently is a mismatch or a shortcut (bias).
        "mixes": mixes(ok),
        "formats": _counts(ok["format"]),
        # Decoded from a lossy codec (MP3, Vorbis, Opus, ADPCM, u/A-law): its artefacts are in the data.
        "lossy": {"samples": int(lossy.sum()), "by_format": _counts(ok.loc[lossy, "format"] + "/" + ok.loc[lossy, "subtype"]),
                  "examples": sorted(ok.loc[lossy, "sample_id"])[:limit]},
        "subtypes": _counts(ok["subtype"]),
        "bit_depths": _counts(ok["bit_depth"].astype("Int64")),
        "rms_dbfs": _stats(ok["rms_dbfs"]),
        "peak_dbfs": _stats(ok["peak_dbfs"]),
        "silence_fraction": _stats(ok["silence_fraction"]),
        "mostly_silent": {"max_silence_fraction": audio.max_silence_fraction, "samples": len(silent),
                          "examples": sorted(silent["sample_id"])[:limit]},
        "clipping": {"samples_with_clipped_samples": len(clipped),
                     "examples": [{"sample_id": r.sample_id, "clipped_fraction": float(r.clipped_fraction)}
                                  for r in clipped.head(limit).itertuples()]},
        "target": {"sample_rate": audio.sample_rate, "channels": audio.channels,
                   "samples_to_resample": int((pd.to_numeric(ok["sample_rate"]) != audio.sample_rate).sum())},
    }


# ---- bias --------------------------------------------------------------------

def bias_extra(ok: pd.DataFrame, params: Params) -> dict:
    """Loudness and duration per class in the train split, and the classes that stand out from
    the median class by more than the thresholds: a model learns such a shortcut instead of the
    content (the median, so that one outlier class does not make the others look odd too)."""
    audio = params.audio
    train = ok[ok["split"] == "train"]
    frame = pd.DataFrame({"label": train["label"].astype(str), "duration": pd.to_numeric(train["duration_s"]),
                          "rms": pd.to_numeric(train["rms_dbfs"]), "peak": pd.to_numeric(train["peak_dbfs"])})
    means = frame.groupby("label", sort=True).agg(samples=("rms", "size"), duration=("duration", "mean"),
                                                  rms=("rms", "mean"), peak=("peak", "mean"))
    typical_rms, typical_duration = float(means["rms"].median()), float(means["duration"].median())
    per_class, loud, long = {}, [], []
    for label, row in means.iterrows():
        difference = round(float(row["rms"] - typical_rms), 2)
        ratio = round(float(row["duration"] / typical_duration), 3) if typical_duration > 0 else 1.0
        per_class[label] = {"samples": int(row["samples"]), "duration_s_mean": round(float(row["duration"]), 3),
                            "rms_dbfs_mean": round(float(row["rms"]), 2), "peak_dbfs_mean": round(float(row["peak"]), 2),
                            "rms_difference_db": difference, "duration_ratio": ratio}
        if abs(difference) > audio.loudness_bias_db:
            loud.append({"label": label, "rms_difference_db": difference})
        if not 1 / audio.duration_bias_ratio <= ratio <= audio.duration_bias_ratio:
            long.append({"label": label, "duration_ratio": ratio})
    advice = []
    if loud:
        advice.append("classes differ in loudness: add a gain op with a wide range to augment.policy, "
                      "or normalise the recordings, so the model cannot tell classes by level")
    if long:
        advice.append("classes differ in duration: trim silence or add time_stretch/speed, so the model "
                      "cannot tell classes by length")
    recording = mix_bias(ok, audio.rate_bias_share)
    if recording["sample_rate"]["flagged_classes"]:
        advice.append("classes were recorded at their own sample rates: resampling adds no bandwidth, so set "
                      "audio.sample_rate at or below the lowest rate (every recording then has the same band), "
                      "or record those classes at the others' rate, so the model cannot tell classes by bandwidth")
    if recording["channels"]["flagged_classes"]:
        advice.append("classes were recorded with their own channel layout: keep audio.channels at mono, "
                      "so the model cannot tell classes by channels")
    if recording["sample_rate"]["flagged_splits"] or recording["channels"]["flagged_splits"]:
        advice.append("a held-out split was recorded unlike train (rate or channels): its scores measure that "
                      "mismatch too; audio.conform_final: true gives data/final one rate and layout, and "
                      "audio.sample_rate at or below the lowest rate gives every split the same band")
    return {"split": "train", "compared_with": "the median of the class means",
            "median_rms_dbfs": round(typical_rms, 2), "median_duration_s": round(typical_duration, 3),
            "per_class": per_class, "loudness": {"threshold_db": audio.loudness_bias_db, "flagged": loud},
            "duration": {"threshold_ratio": audio.duration_bias_ratio, "flagged": long},
            "recording": recording, "advice": advice}


# ---- augment -----------------------------------------------------------------

def limit_peak(clip: Clip, records: list[dict], rng: np.random.Generator, peak_limit_dbfs: float) -> tuple[Clip, bool]:
    """Scale a variant down to the peak limit if it passes it, and record that in its ops."""
    if peak_dbfs(clip.samples) <= peak_limit_dbfs:
        return clip, False
    limiter = build_policy([{"name": LIMIT_OP, "peak_dbfs": peak_limit_dbfs}], "audio", "audio.peak_limit_dbfs")[0]
    limit_params = limiter.sample(rng, clip)
    records.append({"name": LIMIT_OP, "params": limit_params})
    return limiter.apply(clip, **limit_params), True


def make_variant(source: Clip, source_id: str, variant: int, policy, params: Params) -> tuple[Clip, list[dict], int, bool]:
    """Variant number `variant` of a source, from its own generator, limited if it would clip:
    (clip, ops records, seed, whether the limiter acted)."""
    seed = sample_seed(params.seed, source_id, variant)
    rng = np.random.default_rng(seed)
    clip, records = run_policy(policy, rng, source)
    clip, limited = limit_peak(clip, records, rng, params.audio.peak_limit_dbfs)
    return clip, records, seed, limited


def augment_shard(shard, params: Params, output_dir: Path = paths.AUGMENTED_DIR) -> list[dict]:
    """Make every variant of every source in the shard; write each file atomically."""
    audio = params.audio
    policy = build_policy(params.augment.policy, "audio")
    raw_dir = Path(params.data.raw_dir)
    rows = []
    for source in shard.sources:
        clip_source = load_source(raw_dir / source["path"], audio)
        # variant_ids: the incremental run asks only for the variants its memo lacks.
        for variant in source.get("variant_ids", range(int(source["variants"]))):
            clip, records, seed, limited = make_variant(clip_source, source["source_id"], variant, policy, params)
            try:
                data = encode(clip, audio.format, audio.subtype)
            except ValueError as error:  # only a bug in an operator can get here
                raise RuntimeError(f"augment: variant {variant} of {source['path']} (ops {records}): {error}") from None
            sample_id = f"{source['source_id']}-aug{variant:03d}"
            relative = f"{safe_name(source['label'])}/{sample_id}{extension(audio.format)}"
            write_bytes_atomic(output_dir / relative, data)
            rows.append({"sample_id": sample_id, "source_id": source["source_id"], "label": source["label"],
                         "ops": json.dumps(records, sort_keys=True), "seed": seed, "variant": variant,
                         "sha256": sha256_bytes(data), "path": relative, "duration_s": round(clip.duration_s, 4),
                         "sample_rate": clip.rate, "channels": clip.channels, "format": audio.format,
                         "subtype": audio.subtype, "peak_dbfs": round(peak_dbfs(clip.samples), 2), "limited": limited})
    return rows


# ---- validate ------------------------------------------------------------------

def measured_snr(source: Clip, ops: list[dict], variant: Clip) -> float | None:
    """SNR of the noise in the variant as stored: the variant against the same ops replayed
    without the noise. Exact when the noise comes after the time and pitch operators
    (ops after it that are linear - gain, limit, shift, cut, speed - scale both alike)."""
    clean = replay(source, [op for op in ops if op["name"] != NOISE_OP], "audio")
    if clean.samples.shape != variant.samples.shape:
        return None
    noise = power(variant.samples.astype(np.float64) - clean.samples)
    signal = power(clean.samples)
    if signal == 0:
        return -200.0
    return round(float(10 * np.log10(signal / noise)), 3) if noise > 0 else 200.0


def aligned_source(source: Clip, ops: list[dict]) -> Clip:
    """The source with the variant's recorded time and frequency ops alone (shift, cut,
    speed, stretch, pitch; see OPERATOR_KINDS): compared with the variant, only what the
    signal ops (noise, gain, limiting) did to the sound remains."""
    return replay(source, [op for op in ops if OPERATOR_KINDS[op["name"]] == "geometric"], "audio")


def features(augmented: pd.DataFrame, sources: pd.DataFrame, params: Params) -> pd.DataFrame:
    """One row of measurements per augmented recording, compared with its source."""
    audio, raw_dir = params.audio, Path(params.data.raw_dir)
    source_paths = dict(zip(sources["sample_id"], sources["path"], strict=False))
    source_channels = dict(zip(sources["sample_id"], sources["channels"], strict=False))
    expected = {"mono": lambda sid: 1, "stereo": lambda sid: 2, "keep": lambda sid: source_channels.get(sid)}[audio.channels]
    rows, cached = [], (None, None)
    with progress_bar("validate: measuring", len(augmented)) as advance:
        for row in augmented.itertuples(index=False):
            measured = {"sample_id": row.sample_id, "source_id": row.source_id, "label": row.label,
                        "source_exists": row.source_id in source_paths, "sample_rate": None, "channels": None,
                        "channels_as_configured": None, "non_finite": None, "unreadable": "",
                        **dict.fromkeys(FEATURE_COLUMNS)}
            try:
                clip, _ = decode(paths.AUGMENTED_DIR / row.path, allow_non_finite=True)
                finite = bool(np.isfinite(clip.samples).all())
                measured.update(sample_rate=clip.rate, channels=clip.channels, non_finite=not finite,
                                channels_as_configured=clip.channels == expected(row.source_id))
                if finite:
                    measured.update(measured_peak_dbfs=round(peak_dbfs(clip.samples), 2),
                                    rms_dbfs=round(rms_dbfs(clip.samples), 2),
                                    silence_fraction=silence_fraction(clip.samples, clip.rate, audio.silence_threshold_dbfs))
                if finite and measured["source_exists"]:
                    if cached[0] != row.source_id:
                        cached = (row.source_id, load_source(raw_dir / source_paths[row.source_id], audio))
                    source = cached[1]
                    ops = json.loads(row.ops)
                    measured["duration_ratio"] = round(clip.frames / source.frames, 4)
                    if clip.rate == source.rate:
                        measured["spectral_similarity"] = spectral_similarity(aligned_source(source, ops), clip,
                                                                              audio.similarity_min_hz, audio.similarity_max_hz)
                    if any(op["name"] == NOISE_OP for op in ops):
                        measured["snr_db"] = measured_snr(source, ops, clip)
            except (UnusableSample, OSError, ValueError) as error:  # quarantined with the reason, never dropped
                measured["unreadable"] = getattr(error, "message", None) or f"{type(error).__name__}: {error}"
            rows.append(measured)
            advance()
    frame = pd.DataFrame(rows)
    frame[FEATURE_COLUMNS] = frame[FEATURE_COLUMNS].apply(pd.to_numeric).astype(float)
    return frame


def noise_range(params: Params) -> tuple[float, float] | None:
    """The widest snr_db range of the add_noise entries of augment.policy, if any."""
    from augmill.tasks.policy_choice import applied_policy

    policy = applied_policy(params)
    noise_ops = [op for op in (build_policy(policy, "audio") if policy else []) if op.name == NOISE_OP]
    if not noise_ops:
        return None
    return min(op.snr_db[0] for op in noise_ops), max(op.snr_db[1] for op in noise_ops)


def suite_parameters(labels: list[str], params: Params) -> dict:
    audio = params.audio
    snr = noise_range(params) or (-1000.0, 1000.0)  # no noise op: snr_db is null everywhere and never checked
    return {"labels": labels, "sample_rates": [audio.sample_rate], "max_peak_dbfs": 0.0,
            "min_duration_ratio": audio.min_duration_ratio, "max_duration_ratio": audio.max_duration_ratio,
            "min_rms_dbfs": audio.min_rms_dbfs, "max_silence_fraction": audio.max_silence_fraction,
            "min_spectral_similarity": audio.min_spectral_similarity,
            "min_snr_db": snr[0] - audio.snr_tolerance_db, "max_snr_db": snr[1] + audio.snr_tolerance_db}


def render_gallery(validated: pd.DataFrame, raw: pd.DataFrame, params: Params, path: Path) -> None:
    from augmill.tasks.modalities.audio.gallery import render_audio_gallery

    render_audio_gallery(validated, raw, params, path)


# ---- merge -------------------------------------------------------------------

def finalize(originals: pd.DataFrame, accepted: pd.DataFrame, params: Params) -> pd.DataFrame:
    """Originals and accepted variants into data/final/split/label/, each named by its sample_id.
    Originals are byte copies (at their own rate and format) unless audio.conform_final, which
    writes them at the variants' rate, layout and format, with a conform op in their lineage."""
    def suffix(path: str) -> str:
        return Path(path).suffix.lower() if Path(path).suffix.lower() in SUFFIXES else ""

    if params.audio.conform_final:
        from augmill.tasks.modalities.audio.final import conform_into_final

        copied = copy_into_final(originals.iloc[:0], accepted, Path(params.data.raw_dir), suffix)
        frame = pd.concat([conform_into_final(originals, params), copied], ignore_index=True)
    else:
        frame = copy_into_final(originals, accepted, Path(params.data.raw_dir), suffix)
    frame["duration_s"] = pd.to_numeric(frame["duration_s"]).astype(float)
    frame[["sample_rate", "channels"]] = frame[["sample_rate", "channels"]].apply(pd.to_numeric).astype("Int64")
    return frame


# ---- evaluate, report, preview ----------------------------------------------------

BASELINE_DESCRIPTION = "mean and std over time of 13 MFCCs and 40 log-mel bands, mono at audio.sample_rate"
CNN_INPUT = "a 32x32 log-mel picture of the first 1.5 s (32 bands, 32 time steps)"  # evaluate.model: cnn
HISTOGRAM_COLUMNS = ["duration_s", "rms_dbfs", "peak_dbfs", "silence_fraction", "sample_rate"]

def baseline_features(frame: pd.DataFrame, params: Params, folder: Path = paths.FINAL) -> np.ndarray:
    """Per manifest row (path relative to ``folder``: data/final, or data.raw_dir for the label
    check): mean and std over time of 13 MFCCs and 40 log-mel bands, at the target rate in
    mono: (rows, 106) float64."""
    rate = params.audio.sample_rate
    if params.evaluate.model == "cnn":  # the CNN's input instead: a 32x32 log-mel picture (CNN_INPUT)
        salt = key_of("audio cnn", rate, library_versions(*LIBRARIES), code_version("modalities/audio/*.py", "feature_memo.py"))
        return memoized_file_rows(folder, frame, salt, lambda path: log_mel_patch(conform(decode(path)[0], rate, "mono")),
                                  32 * 32, np.float64, params.execution.cache)
    # Memoized per file (execution.cache): an incremental run decodes only the new recordings.
    salt = key_of("audio baseline", rate, library_versions(*LIBRARIES), code_version("modalities/audio/*.py", "feature_memo.py"))
    return memoized_file_rows(folder, frame, salt, lambda path: mfcc_summary(conform(decode(path)[0], rate, "mono")),
                              106, np.float64, params.execution.cache)


def report_thumbnail(path: Path, params: Params) -> str | None:
    """The mel spectrogram of the recording at path as a PNG data: URI, for the report's gallery."""
    from augmill.tasks.modalities.audio.gallery import card

    return card(path, params)["spectrogram"]


def preview(samples: pd.DataFrame, params: Params, output_stem: Path) -> Path:
    """Spectrograms of each chosen source beside its first variant (as the augment stage makes
    it: same generator, same limiter), with the ops that fired; drawn into output_stem.png."""
    from augmill.tasks.modalities.audio.gallery import spectrogram
    from augmill.tasks.preview import PreviewTile, draw_grid
    from augmill.tasks.review_pages import describe_ops

    policy = build_policy(params.augment.policy, "audio")
    tiles = []
    for source in samples.itertuples(index=False):
        clip = load_source(Path(params.data.raw_dir) / source.path, params.audio)
        variant, records, _, _ = make_variant(clip, source.source_id, 0, policy, params)
        # Flipped: the grid draws row 0 at the top, and 0 Hz belongs at the bottom.
        tiles.append(PreviewTile(f"{source.label} · {source.source_id}", spectrogram(clip)[::-1], spectrogram(variant)[::-1],
                                 describe_ops(json.dumps(records))))
    path = output_stem.with_suffix(".png")
    draw_grid(tiles, f"augment.policy preview: mel spectrograms, source | variant 0, {len(tiles)} train samples", path)
    return path
