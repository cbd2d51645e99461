"""validate's part for synthetic samples: the quality gates on the synthesize stage's
output, as accepted / quarantined rows with reasons, plus the gates' figures for
reports/validation.json. No PyTorch needed.

Which gates apply depends on how a sample was made:
- generated (vae, gan): fidelity (C2ST, per batch and per sample), feature distance,
  label fidelity and privacy: they must look real, be of their class, and copy nobody;
- adversarial (fgsm, pgd): the L-infinity bound only. They are perturbations of one train
  sample by design (privacy does not apply) and their point is to move the surrogate's
  prediction (label fidelity would quarantine exactly the ones that work);
- style transfer: label fidelity (the content must survive the new statistics).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from augmill.tasks.generative import ADVERSARIAL, GENERATORS, STYLES, SYNTHETIC_DIR, SYNTHETIC_MANIFEST, SYNTHETIC_VALIDATED
from augmill.tasks.generative import gates as g
from augmill.tasks.generative.data import RealData, encode_rows, read_real
from augmill.tasks.generative.encoding import ImageCodec
from augmill.tasks.io import read_parquet, write_parquet
from augmill.tasks.params import Params

STATUS_COLUMNS = ["status", "reason_code", "reason"]


class TooManySyntheticRejected(RuntimeError):
    """More synthetic samples failed the gates than synthesize.gates.max_rejection_rate allows."""


def method_of(ops: str) -> str:
    return json.loads(ops)[0]["name"]


def check_synthetic(params: Params) -> dict | None:
    """Write data/interim/synthetic_validated.parquet (empty when synthesize is off, without
    reading anything) and return the gates' summary, or None when synthesize is off."""
    if not params.synthesize.enabled:
        write_parquet(pd.DataFrame(columns=["sample_id", "label", "origin", *STATUS_COLUMNS]), SYNTHETIC_VALIDATED)
        return None
    synthetic = read_parquet(SYNTHETIC_MANIFEST, "synthetic manifest (stage synthesize)")
    validated, summary = judge(synthetic, params)
    write_parquet(validated, SYNTHETIC_VALIDATED)
    return summary


def enforce_rejection_rate(summary: dict | None) -> None:
    if summary and summary["rejection_rate"] > summary["max_rejection_rate"]:
        raise TooManySyntheticRejected(
            f"validate: {summary['quarantined']} of {summary['samples']} synthetic samples ({summary['rejection_rate']:.1%}) "
            f"failed the quality gates, more than synthesize.gates.max_rejection_rate={summary['max_rejection_rate']:.1%}. "
            f"Reasons: {summary['by_reason']}. See the 'synthetic' section of reports/validation.json; train longer "
            "(synthesize.epochs), try the other synthesize.generator, or lower synthesize.share.")


def _where(row, is_image: bool) -> str:
    return f"{SYNTHETIC_DIR / row['path']}" if is_image else f"synthetic row {row['sample_id']}"


def _read_synthetic(synthetic: pd.DataFrame, real: RealData, params: Params) -> tuple[np.ndarray, list[str]]:
    """Vectors of the synthetic samples, and per sample '' or why it could not be read."""
    if not isinstance(real.codec, ImageCodec):
        return encode_rows(synthetic, real.codec, params), [""] * len(synthetic)
    from augmill.tasks.imaging import UnreadableImage, load_image

    vectors, problems = [], []
    for relative in synthetic["path"]:
        try:
            vectors.append(real.codec.encode(load_image(SYNTHETIC_DIR / relative, params.data.max_image_pixels).image))
            problems.append("")
        except (UnreadableImage, OSError) as error:
            vectors.append(np.zeros(real.codec.width, np.float32))
            problems.append(str(error))
    return (np.stack(vectors) if vectors else np.empty((0, real.codec.width), np.float32)), problems


@dataclass
class Reference:
    """The real samples the gates compare with, encoded once."""

    real: RealData
    train_x: np.ndarray
    train_labels: np.ndarray
    held_out_x: np.ndarray  # real val samples (test when there is no val): the judge's own accuracy
    held_out_labels: np.ndarray
    seed: int

    @classmethod
    def build(cls, params: Params) -> Reference:
        real = read_real(params)
        ok = real.raw[real.raw["status"] == "ok"]
        held_out = ok[ok["split"] == "val"] if (ok["split"] == "val").any() else ok[ok["split"] == "test"]
        held_out = held_out[held_out["label"].astype(str).isin(real.classes)]
        return cls(real, encode_rows(real.train, real.codec, params), real.train["label"].astype(str).to_numpy(),
                   encode_rows(held_out, real.codec, params), held_out["label"].astype(str).to_numpy(),
                   params.seed % 2**32)

    def label_gate(self, x: np.ndarray, labels: np.ndarray, gp) -> g.GateResult:
        return g.label_fidelity_gate(self.train_x, self.train_labels, x, labels, min_agreement=gp.min_label_agreement,
                                     seed=self.seed, held_out=self.held_out_x, held_out_labels=self.held_out_labels)


def generated_gates(ref: Reference, x: np.ndarray, labels: np.ndarray, params: Params) -> list[g.GateResult]:
    """Fidelity (C2ST, outliers, feature distance), label fidelity and privacy. Privacy looks
    at every real sample (a copy of a test sample in train would be a leak), not only train."""
    gp, real = params.synthesize.gates, ref.real
    ok = real.raw[real.raw["status"] == "ok"]
    others = ok[~ok["sample_id"].isin(real.train["sample_id"])]
    all_x = np.vstack([ref.train_x, encode_rows(others, real.codec, params)])
    names = [f"{r.sample_id} ({r.split})" for r in pd.concat([real.train, others]).itertuples()]
    return [
        g.fidelity_gate(ref.train_x, ref.train_labels, x, labels, max_c2st_accuracy=gp.max_c2st_accuracy,
                        max_detect_probability=gp.max_detect_probability, pca_components=gp.pca_components,
                        seed=ref.seed),
        g.outlier_gate(ref.train_x, x, max_ratio=gp.max_outlier_ratio),
        g.feature_distance_gate(ref.train_x, ref.train_labels, x, labels, max_ratio=gp.max_feature_distance_ratio,
                                pca_components=gp.pca_components, seed=ref.seed),
        ref.label_gate(x, labels, gp),
        g.privacy_gate(ref.train_x, x, reference_quantile=gp.privacy_reference_quantile, min_ratio=gp.min_privacy_ratio,
                       real_all=all_x, real_names=names),
    ]


def adversarial_figures(rows: pd.DataFrame, bound: g.GateResult) -> dict:
    """How many examples moved the surrogate's prediction (recorded by synthesize in ops)."""
    records = [json.loads(ops)[0]["params"] for ops in rows["ops"]]
    flipped = sum(r["prediction_before"] != r["prediction_after"] for r in records)
    wrong = sum(r["prediction_after"] != label for r, label in zip(records, rows["label"].astype(str), strict=True))
    return {"epsilon": bound.figures, "samples": len(rows), "method": sorted(set(rows["ops"].map(method_of))),
            "surrogate_sha256": sorted({r["surrogate_sha256"] for r in records}),
            "flipped_surrogate_prediction": flipped, "flip_rate": round(flipped / len(rows), 4),
            "surrogate_wrong_after": wrong}


def judge(synthetic: pd.DataFrame, params: Params) -> tuple[pd.DataFrame, dict]:
    """Each synthetic row accepted or quarantined (status, reason_code, reason), and the figures."""
    gp = params.synthesize.gates
    ref = Reference.build(params)
    n = len(synthetic)
    methods = synthetic["ops"].map(method_of).to_numpy() if n else np.array([], dtype=object)
    vectors, unreadable = _read_synthetic(synthetic, ref.real, params)
    readable = np.array([p == "" for p in unreadable], dtype=bool)
    labels = synthetic["label"].astype(str).to_numpy()
    passed = readable.copy()
    codes = ["" if ok else "unreadable_output" for ok in readable]
    reasons = [[] if ok else [f"unreadable output: {p}"] for ok, p in zip(readable, unreadable, strict=True)]
    figures: dict = {}

    def apply(results: list[g.GateResult], index: np.ndarray) -> None:
        ok, first, why = g.combine(results, len(index))
        for position, i in enumerate(index):
            if not ok[position]:
                passed[i] = False
                codes[i] = codes[i] or first[position]
                reasons[i].append(why[position])

    generated = np.flatnonzero(np.isin(methods, GENERATORS) & readable)
    if len(generated):
        results = generated_gates(ref, vectors[generated], labels[generated], params)
        apply(results, generated)
        figures["generated"] = {r.name: r.figures for r in results} | {"samples": len(generated)}
    attacked = np.flatnonzero(np.isin(methods, ADVERSARIAL) & readable)
    if len(attacked):
        bound = bound_gate(synthetic.iloc[attacked], ref.real.raw, params, params.synthesize.adversarial.epsilon)
        apply([bound], attacked)
        figures["adversarial"] = adversarial_figures(synthetic.iloc[attacked], bound)
    styled = np.flatnonzero(np.isin(methods, STYLES) & readable)
    if len(styled):
        result = ref.label_gate(vectors[styled], labels[styled], gp)
        apply([result], styled)
        figures["style"] = {"label_fidelity": result.figures, "samples": len(styled)}

    is_image = isinstance(ref.real.codec, ImageCodec)
    where = [_where(row, is_image) for row in synthetic.to_dict("records")]
    validated = synthetic.assign(
        status=np.where(passed, "accepted", "quarantined"), reason_code=codes,
        reason=[f"{w}: {'; '.join(r)}" if r else "" for w, r in zip(where, reasons, strict=True)])
    quarantined = int((~passed).sum())
    summary = {"samples": n, "accepted": n - quarantined, "quarantined": quarantined,
               "rejection_rate": round(quarantined / n, 4) if n else 0.0, "max_rejection_rate": gp.max_rejection_rate,
               "by_method": {str(m): int(c) for m, c in zip(*np.unique(methods, return_counts=True), strict=True)},
               "by_reason": {str(c): int(k) for c, k in
                             zip(*np.unique([c for c in codes if c], return_counts=True), strict=True)}} | figures
    return validated, summary


def bound_gate(rows: pd.DataFrame, raw: pd.DataFrame, params: Params, epsilon: float) -> g.GateResult:
    """The adversarial L-infinity bound, checked on the saved files at the source's own
    resolution and in the output's mode."""
    from augmill.tasks.imaging import load_image

    source_paths = dict(zip(raw["sample_id"], raw["path"], strict=False))
    raw_dir = Path(params.data.raw_dir)
    linf = []
    for row in rows.itertuples(index=False):
        image = load_image(SYNTHETIC_DIR / row.path, params.data.max_image_pixels).image
        source = load_image(raw_dir / source_paths[row.source_id], params.data.max_image_pixels).image.convert(image.mode)
        a, b = np.asarray(source, dtype=np.float64) / 255, np.asarray(image, dtype=np.float64) / 255
        linf.append(float(np.max(np.abs(a - b))) if a.shape == b.shape else np.inf)
    distances = np.array(linf)[:, None]
    return g.epsilon_gate(np.zeros_like(distances), distances, epsilon)
