"""The tabular modality: a CSV or Parquet table with a label column, where the
rare class gets synthetic rows (SMOTE family, Gaussian jitter, a Gaussian copula),
checked for fidelity and privacy before they join the training table.

One manifest row per table row: the common columns, then the table's feature
columns in their own dtypes (``path`` is ``file:line`` for CSV, ``file:row`` for
Parquet; ``sha256`` hashes the
row's feature values, so exact duplicates and cross-split copies are found by
the shared explore and bias code). The unit of augmentation is a class, since
the generators learn from all of a class's rows.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd

from augmill.tasks import paths
from augmill.tasks.io import read_json, read_parquet, sha256_bytes, write_data_csv, write_json
from augmill.tasks.modalities.tabular.read import TableError, read_table_manifest
from augmill.tasks.modalities.tabular.rows import feature_names, schema_of, synthetic_frame, train_rows
from augmill.tasks.modalities.tabular.schema import NUMERIC_KINDS, TableSchema
from augmill.tasks.params import Params

SUITE_TEMPLATE = paths.EXPECTATIONS / "tabular_synthetic.json"
# The template plus one set of expectations per feature column, built from the real train
# rows by ``features`` (the columns differ per dataset, so they cannot be written by hand).
# The distributions whose versions shape this modality's bytes: part of every memo key (tasks.cache).
LIBRARIES = ("numpy", "scipy", "pandas", "pyarrow", "scikit-learn", "imbalanced-learn")
SUITE_FILE = paths.INTERIM / "tabular_suite.json"
AUGMENTED_COLUMNS: list[str] = []  # the table's own columns: see augmented_columns()
FEATURE_COLUMNS = ["distance_to_closest_real", "privacy_distance_ratio", "class_fidelity"]
# A row's distance to the real rows and its class's fidelity depend on the whole set:
# validate measures all synthetic rows every run (and ``features`` writes SUITE_FILE).
FEATURES_PER_SAMPLE = False
FINAL_COLUMNS: list[str] = []  # the table's own columns: see final_columns()
SPLITS = ("train", "val", "test")


def check_params(params: Params) -> list[str]:
    """Keys a tabular run cannot do without (checked with the rest of params.yaml)."""
    if params.data.modality != "tabular":
        return []
    problems = []
    if params.tabular.files is None:
        problems.append("tabular.files: required when data.modality is tabular: the CSV or Parquet file(s) in data.raw_dir")
    if params.tabular.label_column is None:
        problems.append("tabular.label_column: required when data.modality is tabular: the column holding the class")
    return problems


def load_train_schema(params: Params) -> tuple[pd.DataFrame, TableSchema]:
    manifest = read_parquet(paths.RAW_MANIFEST, "raw manifest (stage explore)")
    return manifest, schema_of(train_rows(manifest), params)


def _policy(params: Params):
    from augmill.tasks.ops.policy import build_policy

    return build_policy(params.augment.policy, "tabular")


def check_generation(train: pd.DataFrame, schema: TableSchema, params: Params, labels=None) -> None:
    """Refuse, before any work, a policy that cannot make rows for this table: a generator
    that does not fit its column kinds, or a class with too few distinct rows for it.
    For augment.policy: auto, explore checks tune.base_policy (the search varies it), if any."""
    if params.augment.policy == "auto":
        if params.tune.base_policy is None:
            return
        params = params.model_copy(update={"augment": params.augment.model_copy(update={"policy": params.tune.base_policy})})
    policy = [op for op in _policy(params) if op.p > 0]
    if not policy:
        raise TableError("augment.policy: every generator has p 0; p is each generator's share of the new rows")
    for index, op in enumerate(policy):
        problem = op.fits(schema)
        if problem:
            raise TableError(f"augment.policy[{index}]: {problem}")
    distinct = train.drop_duplicates("sha256")
    counts = distinct.groupby("label").size()
    needs_second_class = [op.name for op in policy if op.name.startswith("smote")]
    if needs_second_class and len(counts) < 2:
        raise TableError(f"augment.policy: {needs_second_class[0]} needs a second class in the train split; it has only "
                         f"{list(counts.index)}")
    need = max(op.min_rows for op in policy)
    for label, count in counts.items():
        if (labels is None or label in labels) and count < need:
            where = ", ".join(distinct.loc[distinct["label"] == label, "path"].head(3))
            names = [op.name for op in policy if op.min_rows > count]
            raise TableError(
                f"class {label!r} has {count} distinct train row(s) ({where}); {names[0]} needs at least {need} rows "
                "of a class to make new ones. Add rows of this class, merge or remove the class, use "
                "gaussian_jitter in augment.policy, or set augment.factor: 1 (no new rows)")


# ---- explore ---------------------------------------------------------------------


def read_raw(params: Params) -> tuple[pd.DataFrame, dict]:
    frame, features, notes = read_table_manifest(params)
    ok, train = frame[frame["status"] == "ok"], train_rows(frame)
    if params.augment.factor > 1 and len(train):  # (an empty train split: the bias stage says so)
        check_generation(train, schema_of(train, params, features), params)
    return frame, {"root": params.data.raw_dir, "layout": "table", "files": [f for f, _ in params.tabular.file_splits()],
                   "label_column": params.tabular.label_column, "feature_columns": features, "notes": notes,
                   "readable_rows": len(ok)}


def profile(ok: pd.DataFrame, params: Params) -> dict:
    from augmill.tasks.modalities.tabular.profile import table_profile

    names = feature_names(ok)
    return table_profile(ok, schema_of(ok, params, names), schema_of(train_rows(ok), params, names))


def bias_extra(ok: pd.DataFrame, params: Params) -> dict:
    from augmill.tasks.modalities.tabular.profile import sensitive_groups
    from augmill.tasks.samples import BiasCheckFailed

    train = train_rows(ok)
    report = sensitive_groups(train, schema_of(train, params), params.tabular.sensitive)
    if report.get("flags") and params.bias.policy == "fail":
        raise BiasCheckFailed("bias.policy=fail: sensitive groups flagged:\n  " + "\n  ".join(report["flags"]))
    return {"sensitive": report} if report else {}


# ---- augment --------------------------------------------------------------------


def class_key(label: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9]+", "_", label).strip("_")[:24] or "class"
    return f"syn-{slug}-{sha256_bytes(label.encode('utf-8', 'surrogatepass'))[:6]}"


def make_shards(sources: pd.DataFrame, params: Params) -> list:
    """One shard per class that gets new rows, holding the class's train rows (ids and how
    many new rows each was planned); the worker reads their values from the raw manifest.
    Checks first that the policy can serve every such class (before any work)."""
    from augmill.tasks.samples import Shard

    wanted = sources.groupby("label", sort=True)["variants"].sum()
    labels = [label for label, count in wanted.items() if count > 0]
    if labels:
        check_generation(sources, schema_of(sources, params), params, labels=set(labels))
    keep = ["sample_id", "label", "variants"]
    return [Shard(index, tuple(sources[sources["label"] == label][keep].sort_values("sample_id").to_dict("records")))
            for index, label in enumerate(labels)]


def augmented_columns(sources: pd.DataFrame, params: Params) -> list[str]:
    return feature_names(sources)


def member(values: pd.Series, ids) -> np.ndarray:
    """values.isin(ids), without pandas' slow path for Arrow strings against a large set."""
    wanted = set(ids)
    return np.fromiter((v in wanted for v in values.to_numpy(dtype=object)), dtype=bool, count=len(values))


def class_table(train: pd.DataFrame, label: str, schema: TableSchema, own_ids=None, other_ids=None):
    """What the generators learn from for one class: its distinct train rows (the first
    of each set of exact duplicates, by sample_id) and the other classes' train rows."""
    import warnings

    from augmill.tasks.modalities.tabular.ops import ClassTable

    train = train.sort_values("sample_id")
    own = train[train["label"] == label] if own_ids is None else train[member(train["sample_id"], own_ids)]
    others = train[train["label"] != label] if other_ids is None else train[member(train["sample_id"], other_ids)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-missing column has no spread
        spread = np.nanstd(schema.numeric_matrix(train), axis=0) if schema.numeric else np.empty(0)
    return ClassTable(label, own.drop_duplicates("sha256").reset_index(drop=True), others.reset_index(drop=True),
                      schema, spread)


def augment_shard(shard, params: Params) -> list[dict]:
    """The new rows of one class: its count split over the policy's generators by their p."""
    from augmill.tasks.modalities.tabular.ops import split_among
    from augmill.tasks.seeding import keyed_seed

    manifest, schema = load_train_schema(params)
    label = shard.sources[0]["label"]
    # The other classes' usable train rows (SMOTE's neighbour metric may need them): not the
    # train rows bias held out as copies of val/test rows, as augment's own sources are not.
    held_out = {entry["sample_id"] for entry in read_json(paths.PLAN)["excluded"]}
    train = train_rows(manifest)
    others = train.loc[(train["label"] != label).to_numpy() & ~member(train["sample_id"], held_out), "sample_id"]
    table = class_table(train, label, schema, [s["sample_id"] for s in shard.sources], others)
    policy = _policy(params)
    counts = split_among(sum(int(s["variants"]) for s in shard.sources), [op.p for op in policy])
    made = []
    for index, (op, count) in enumerate(zip(policy, counts, strict=True)):
        if count == 0:
            continue
        seed = keyed_seed(params.seed, "class_rows", str(label), index)
        generated = op.generate(table, count, seed)
        hashes = schema.row_hashes(generated.frame)
        values = generated.frame.to_dict("records")
        for i in range(count):
            made.append({"sample_id": f"{class_key(label)}-{op.name}{index}-{i:06d}", "source_id": generated.sources[i],
                         "label": label, "origin": "synthetic", "seed": generated.seeds[i], "variant": i,
                         "ops": json.dumps([{"name": op.name, "params": generated.params[i]}], sort_keys=True),
                         "sha256": hashes[i], **values[i]})
    return made


# ---- validate -------------------------------------------------------------------


def ops_parents(ops_json: str, source_id: str) -> list[str]:
    records = json.loads(ops_json)
    parents = [p for record in records for p in record["params"].get("parents", [])]
    return parents or [source_id]


def _gx_column(series: pd.Series) -> pd.Series:
    """Numpy-native values for Great Expectations, which misreads pandas extension dtypes."""
    if isinstance(series.dtype, pd.api.extensions.ExtensionDtype) and not pd.api.types.is_datetime64_any_dtype(series.dtype):
        if pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(series.dtype):
            return series.astype("float64")
        return series.astype(object).where(series.notna(), None)
    return series


def features(augmented: pd.DataFrame, sources: pd.DataFrame, params: Params) -> pd.DataFrame:
    """Per synthetic row: its feature values (for the suite's type, range, set and not-null
    checks), whether its parents are real train rows of its class, whether its whole-number
    columns are whole, its distance to the closest real row, and its class's fidelity."""
    from augmill.tasks.modalities.tabular.quality import fidelity_by_class, privacy_distances

    train = train_rows(sources)
    schema = schema_of(train, params)
    synthetic = synthetic_frame(augmented, schema)
    write_suite(schema, len(train))
    own = {label: set(group["sample_id"]) for label, group in train.groupby("label")}
    parents_exist = [all(p in own.get(label, ()) for p in ops_parents(ops, source))
                     for ops, source, label in augmented[["ops", "source_id", "label"]].itertuples(index=False)]
    whole = np.ones(len(synthetic), dtype=bool)
    for spec in schema.columns:
        if spec.kind == "integer":
            values = pd.to_numeric(synthetic[spec.name], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
            whole &= np.isnan(values) | (np.mod(values, 1.0) == 0)
    privacy = privacy_distances(schema, sources.drop_duplicates("sha256"), synthetic, params.tabular.privacy.reference_quantile)
    fidelity = fidelity_by_class(schema, train, synthetic.assign(label=augmented["label"].to_numpy()))
    frame = pd.DataFrame({"sample_id": augmented["sample_id"].to_numpy(), "source_id": augmented["source_id"].to_numpy(),
                          "label": augmented["label"].to_numpy(), "parents_exist": parents_exist, "integers_whole": whole})
    for name in schema.names:
        frame[name] = _gx_column(synthetic[name].reset_index(drop=True))
    frame["distance_to_closest_real"] = np.round(privacy.closest, 6)
    frame["privacy_distance_ratio"] = np.round(np.minimum(privacy.ratios(), 1e6), 4)
    frame["class_fidelity"] = [fidelity.get(str(label), {}).get("score") for label in frame["label"]]
    frame["unreadable"] = ""
    return frame


def _type_names(spec) -> list[str]:
    if spec.kind == "datetime":
        return [f"datetime64[{unit}]" for unit in ("s", "ms", "us", "ns")]
    if spec.kind in NUMERIC_KINDS:
        return ["float", "float32", "float64", "int", "int32", "int64"]
    if spec.kind == "boolean":
        return ["bool", "bool_"]
    names = {type(v).__name__ for v in spec.categories}
    names |= {"int64"} if "int" in names else set()
    names |= {"float64"} if "float" in names else set()
    return sorted(names)


def column_expectations(schema: TableSchema) -> list[dict]:
    """Per feature column, from the real train rows: its type, its range (numbers) or
    category set, and not-null when the train rows never lack it."""
    expectations = []
    for spec in schema.columns:
        checks = [("expect_column_values_to_be_in_type_list", {"type_list": _type_names(spec)})]
        if spec.kind in ("numeric", "integer") and spec.low is not None:
            bounds = (int(spec.low), int(spec.high)) if spec.kind == "integer" else (spec.low, spec.high)
            checks.append(("expect_column_values_to_be_between", {"min_value": bounds[0], "max_value": bounds[1]}))
        elif spec.kind not in NUMERIC_KINDS:
            checks.append(("expect_column_values_to_be_in_set", {"value_set": list(spec.categories)}))
        if not spec.nullable:
            checks.append(("expect_column_values_to_not_be_null", {}))
        expectations += [{"type": kind, "kwargs": {"column": spec.name, **kwargs}} for kind, kwargs in checks]
    return expectations


def write_suite(schema: TableSchema, train_rows_count: int) -> None:
    from augmill.tasks.gx_validation import load_suite

    suite = load_suite(SUITE_TEMPLATE)
    suite["meta"] = dict(suite.get("meta", {}), built_from=f"{train_rows_count} real train rows",
                         feature_columns=schema.names)
    suite["expectations"] = suite["expectations"] + column_expectations(schema)
    write_json(SUITE_FILE, suite)


def suite_parameters(labels: list[str], params: Params) -> dict:
    return {"labels": labels, "min_distance_ratio": params.tabular.privacy.min_distance_ratio,
            "min_fidelity": params.tabular.fidelity.min_score}


def quality_report(features_frame: pd.DataFrame, params: Params) -> dict:
    """Fidelity per class and the privacy figures, for reports/validation.json and the gallery."""
    from augmill.tasks.modalities.tabular.quality import fidelity_by_class, privacy_distances

    manifest, schema = load_train_schema(params)
    real = manifest[manifest["status"] == "ok"].drop_duplicates("sha256")
    synthetic = synthetic_frame(features_frame, schema).assign(label=features_frame["label"].to_numpy())
    privacy = privacy_distances(schema, real, synthetic.iloc[:0], params.tabular.privacy.reference_quantile)
    ratio = features_frame["privacy_distance_ratio"].to_numpy(dtype=float)
    threshold = params.tabular.privacy.min_distance_ratio

    def quantiles(values):
        values = np.asarray(values, dtype=float)
        return {q: round(float(np.quantile(values, level)), 6) for q, level in
                (("min", 0), ("p05", 0.05), ("median", 0.5), ("p95", 0.95))} if len(values) else {}

    return {
        "fidelity": {"min_score": params.tabular.fidelity.min_score,
                     "by_class": fidelity_by_class(schema, train_rows(manifest), synthetic)},
        "privacy": {"reference_quantile": params.tabular.privacy.reference_quantile,
                    "reference_distance": round(privacy.reference, 6), "min_distance_ratio": threshold,
                    "near_copies": int(np.sum(ratio < threshold)), "exact_copies": int(np.sum(ratio == 0)),
                    "real_nearest_distance": quantiles(privacy.real_nearest),
                    "synthetic_closest_distance": quantiles(features_frame["distance_to_closest_real"])},
    }


def summary_extra(features_frame: pd.DataFrame, params: Params) -> dict:
    return {"tabular": quality_report(features_frame, params)}


def render_gallery(validated: pd.DataFrame, raw: pd.DataFrame, params: Params, path: Path) -> None:
    from augmill.tasks.modalities.tabular.gallery import render_tabular_gallery

    render_tabular_gallery(validated, raw, params, path)


# ---- merge ----------------------------------------------------------------------


def final_columns(final: pd.DataFrame, params: Params) -> list[str]:
    manifest = read_parquet(paths.RAW_MANIFEST, "raw manifest (stage explore)")
    return feature_names(manifest)


def finalize(originals: pd.DataFrame, accepted: pd.DataFrame, params: Params) -> pd.DataFrame:
    """The final manifest (real rows plus accepted synthetic rows; val/test untouched),
    and data/final/{train,val,test}.csv: sample_id, origin, the features, the label column."""
    names = feature_names(originals)
    schema = schema_of(train_rows(originals), params, names)
    accepted = synthetic_frame(accepted, schema).join(accepted.drop(columns=names))
    frame = pd.concat([schema.cast(originals), accepted], ignore_index=True)
    frame[names] = schema.cast(frame[names])
    label_column = params.tabular.label_column
    for split in SPLITS:
        rows = frame[frame["split"] == split].sort_values(["label", "sample_id"])
        table = rows[["sample_id", "origin", *names]].assign(**{label_column: rows["label"]})
        write_data_csv(table, paths.FINAL / f"{split}.csv")
    return frame


# ---- evaluate -------------------------------------------------------------------


def baseline_features(frame: pd.DataFrame, params: Params, train: pd.DataFrame | None = None,
                      folder: Path | None = None) -> np.ndarray:
    """A numeric matrix of the rows' features for a baseline model: numbers as they are
    (datetimes in ns; missing: the train median), categories one-hot in the train split's
    sorted category order (missing or unseen: all zeros). ``train`` defaults to the real
    train rows of the raw manifest that were not held out as leaks. ``folder`` is unused:
    the values are in the rows."""
    if train is None:
        manifest = read_parquet(paths.RAW_MANIFEST, "raw manifest (stage explore)")
        train = train_rows(manifest)
        if paths.PLAN.exists():
            held_out = {entry["sample_id"] for entry in read_json(paths.PLAN)["excluded"]}
            train = train[~train["sample_id"].isin(held_out)]
    schema = schema_of(train, params)
    numbers = schema.numeric_matrix(frame)
    if numbers.shape[1]:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            medians = np.nan_to_num(np.nanmedian(schema.numeric_matrix(train), axis=0))
        numbers = np.where(np.isnan(numbers), medians, numbers)
    codes = schema.category_codes(frame)
    one_hot = [(codes[:, j][:, None] == np.arange(len(spec.categories))[None, :]).astype(float)
               for j, spec in enumerate(schema.categorical)]
    return np.hstack([numbers, *one_hot]) if one_hot else numbers
