"""Tests for the tabular modality's hooks: reading CSV/Parquet tables into the raw
manifest, bad input (missing target column, a class with one row, an all-empty
column, a mixed-type column, an unseen category in test, bad rows) refused or
quarantined with messages naming the column and row, the profile and the
sensitive-group report, the GX suite built from the train rows (range, category,
integer-ness and the privacy check that catches an exact copy), the stages run
in-process on a small table, the final CSV files and the baseline features."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from augmill.tasks import paths
from augmill.tasks.ingest import MANIFEST_COLUMNS
from augmill.tasks.modalities import get_modality
from augmill.tasks.modalities.tabular import modality as tabular
from augmill.tasks.modalities.tabular.read import TableError
from augmill.tasks.params import ParamsError
from augmill.tasks.params_load import parse_params

REPO = Path(__file__).resolve().parents[1]
POLICY = [{"name": "smotenc", "k_neighbors": 3}]


def make_params(raw_dir: Path, policy=POLICY, factor: float = 2.0, bias: str = "rebalance", **tabular_settings):
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    raw["data"].update(modality="tabular", raw_dir=str(raw_dir))
    raw["prepare"] = {"dataset": "none"}
    raw["bias"]["policy"] = bias
    raw["augment"].update(policy=policy, factor=factor)
    raw["execution"] = {"workers": 1, "cache": False}
    raw["tabular"] = {"files": ["t.csv"], "label_column": "y", **tabular_settings}
    return parse_params(raw)


def table(n: int = 40, rare: int = 8, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    y = np.array(["no"] * (n - rare) + ["yes"] * rare)
    return pd.DataFrame({
        "id": [f"c{i:03d}" for i in range(n)],
        "income": np.round(rng.normal(50, 12, n) + (y == "yes") * 20, 2),
        "visits": rng.integers(0, 12, n),
        "age": np.where(rng.random(n) < 0.1, np.nan, rng.integers(20, 80, n)),
        "member": rng.random(n) < 0.4,
        "city": rng.choice(["Lyon", "Oslo", "Pune"], n),
        "y": y,
        "split": np.where(np.arange(n) % 5 == 0, "test", "train"),
    })


def read(tmp_path: Path, frame: pd.DataFrame, name: str = "t.csv", **settings):
    if name.endswith(".csv"):
        frame.to_csv(tmp_path / name, index=False)
    else:
        frame.to_parquet(tmp_path / name, index=False)
    settings.setdefault("split_column", "split")
    settings.setdefault("id_column", "id")
    return tabular.read_raw(make_params(tmp_path, **settings))


# ---- reading ---------------------------------------------------------------------------


def test_read_raw_keeps_the_tables_columns_types_and_names_each_row(tmp_path):
    frame, context = read(tmp_path, table())
    assert list(frame.columns) == MANIFEST_COLUMNS + ["income", "visits", "age", "member", "city"]
    assert {c: str(frame[c].dtype) for c in ["income", "visits", "age", "member", "city"]} == {
        "income": "float64", "visits": "int64", "age": "float64", "member": "bool", "city": "str"}
    assert (frame["status"] == "ok").all() and frame["split"].value_counts().to_dict() == {"train": 32, "test": 8}
    first = frame.iloc[0]
    assert first["path"] == "t.csv:2" and first["label"] == "no" and first["origin"] == "original"
    assert first["sample_id"].startswith("c000-") and first["source_id"] == first["sample_id"]
    assert context["feature_columns"] == ["income", "visits", "age", "member", "city"]


def test_identical_rows_share_a_hash_across_files_and_formats_and_splits_come_from_files(tmp_path):
    data = table()
    data.iloc[10:].drop(columns="split").to_parquet(tmp_path / "train.parquet", index=False)
    test = data.iloc[:10].drop(columns="split").copy()
    test.iloc[0, 1:6] = data.iloc[13, 1:6].to_numpy()  # a test row with the same features as train row 4
    test.to_csv(tmp_path / "test.csv", index=False)
    frame, _ = tabular.read_raw(make_params(tmp_path, files={"train": "train.parquet", "test": "test.csv"}, id_column="id"))
    by_path = frame.set_index("path")
    assert by_path.loc["train.parquet:4", "sha256"] == by_path.loc["test.csv:2", "sha256"]
    assert by_path.loc["train.parquet:4", "split"] == "train" and by_path.loc["test.csv:2", "split"] == "test"
    from augmill.tasks.bias import leaking_train_samples

    assert leaking_train_samples(frame).shape[0] == 1


def test_rows_without_a_split_get_one_stratified(tmp_path):
    frame, _ = read(tmp_path, table(n=100, rare=20).drop(columns="split"), split_column=None)
    counts = frame.groupby(["label", "split"]).size()
    assert counts["yes", "test"] == 3 and counts["yes", "train"] == 14  # 15% / 15% / 70% of 20


def test_missing_target_column_is_refused_naming_it(tmp_path):
    with pytest.raises(TableError, match=r"tabular.label_column: no column 'y' in t.csv \(columns: id, income"):
        read(tmp_path, table().drop(columns="y"))


@pytest.mark.parametrize("key", ["split_column", "id_column"])
def test_a_missing_split_or_id_column_is_refused_naming_the_key(tmp_path, key):
    with pytest.raises(TableError, match=f"tabular.{key}: no column 'nope'"):
        read(tmp_path, table(), **{key: "nope"})


def test_a_class_with_one_row_is_refused_before_work_naming_class_and_row(tmp_path):
    data = table()
    data.loc[data.index[-8:-1], "y"] = "no"  # one "yes" row left, at line 41
    with pytest.raises(TableError, match=r"class 'yes' has 1 distinct train row\(s\) \(t.csv:41\); smotenc needs at "
                                         r"least 2 rows .* use gaussian_jitter .* augment.factor: 1"):
        read(tmp_path, data)
    frame, _ = read(tmp_path, data, factor=1.0)  # no new rows wanted: fine
    assert (frame["status"] == "ok").all()
    frame, _ = read(tmp_path, data, policy=[{"name": "gaussian_jitter"}])  # jitter works from one row
    assert (frame["label"] == "yes").sum() == 1


def test_an_all_empty_column_is_refused_naming_it(tmp_path):
    with pytest.raises(TableError, match="column 'notes' is empty in every row; list it in tabular.drop_columns"):
        read(tmp_path, table().assign(notes=np.nan))
    frame, _ = read(tmp_path, table().assign(notes=np.nan), drop_columns=["notes"])
    assert "notes" not in frame


def test_text_in_a_numeric_column_quarantines_the_row_naming_column_and_line(tmp_path):
    data = table(n=60).astype({"visits": object})
    data.loc[6, "visits"] = "seven"
    frame, context = read(tmp_path, data)
    row = frame.set_index("path").loc["t.csv:8"]
    assert row["status"] == "quarantined" and row["reason_code"] == "mixed_type"
    assert row["reason"] == "t.csv:8: column 'visits' holds 'seven' where its other values are numbers"
    assert str(frame["visits"].dtype) == "float64" and (frame["status"] == "ok").sum() == 59
    assert any("'visits'" in note for note in context["notes"])


def test_a_column_half_numbers_half_text_is_refused(tmp_path):
    data = table().astype({"visits": object})
    data.loc[::2, "visits"] = "many"
    with pytest.raises(TableError, match=r"column 'visits' mixes numbers \(20 rows, e.g. t.csv:3: .*\) and text "
                                         r"\(20 rows, e.g. t.csv:2: 'many'\); list it in tabular.categorical_columns"):
        read(tmp_path, data)
    frame, _ = read(tmp_path, data, categorical_columns=["visits"])
    assert set(frame["visits"]) >= {"many"}


def test_bad_rows_are_quarantined_with_their_line_and_nothing_is_dropped(tmp_path):
    data = table().astype({"visits": float, "member": object})
    data.loc[1, "y"] = np.nan
    data.loc[2, "split"] = "holdout"
    data.loc[4, "id"] = data.loc[3, "id"]
    data.loc[5, ["income", "visits", "age", "member", "city"]] = [np.nan, np.nan, np.nan, None, None]
    data.loc[7, "income"] = np.inf
    frame, _ = read(tmp_path, data)
    assert len(frame) == 40
    bad = frame[frame["status"] == "quarantined"].set_index("path")
    assert bad["reason_code"].to_dict() == {"t.csv:3": "missing_label", "t.csv:4": "invalid_split",
                                            "t.csv:6": "duplicate_id", "t.csv:7": "empty_row", "t.csv:9": "infinite_value"}
    assert bad.loc["t.csv:4", "reason"] == "t.csv:4: split column 'split' holds 'holdout', not one of train, val, test"
    assert bad.loc["t.csv:6", "reason"] == "t.csv:6: id 'c003' appears on an earlier row too"
    assert frame["sample_id"].is_unique


# Every way a reader spells +-infinity. The old test wrote np.inf into an all-number column
# (read back as float64); the crash came from "inf" in a column that also held text,
# parsed by pd.to_numeric on the text path, which had no infinity check.
INFINITY_SPELLINGS = ["inf", "-inf", "+inf", "Infinity", "-Infinity", "INF", "1e999", "-1e400"]


@pytest.mark.parametrize("with_text", [False, True], ids=["numbers-only", "with-a-text-cell"])
def test_every_csv_spelling_of_infinity_is_quarantined_naming_file_row_and_column(tmp_path, with_text):
    data = table(n=60).astype({"income": object})
    for offset, cell in enumerate(INFINITY_SPELLINGS):
        data.loc[10 + offset, "income"] = cell
    if with_text:
        data.loc[30, "income"] = "n.a."
    frame, context = read(tmp_path, data)
    rows = frame.set_index("path")
    for offset, cell in enumerate(INFINITY_SPELLINGS):
        row = rows.loc[f"t.csv:{12 + offset}"]
        assert row["status"] == "quarantined" and row["reason_code"] == "infinite_value", cell
        assert row["reason"].startswith(f"t.csv:{12 + offset}: column 'income' holds ") and "not a finite number" in row["reason"]
    ok = frame[frame["status"] == "ok"]
    assert np.isfinite(ok["income"].to_numpy(dtype=float)).all() and len(ok) == 60 - 8 - with_text
    assert any("8 infinite value(s) quarantined" in note for note in context["notes"])


def test_infinity_in_parquet_is_quarantined_as_a_float_and_as_text(tmp_path):
    data = table()
    data["score"] = [str(v) for v in range(40)]  # numbers stored as text: parsed on the text path
    data.loc[4, "income"], data.loc[5, "income"] = np.inf, -np.inf
    data.loc[6, "score"], data.loc[7, "score"] = "Infinity", "-1e400"
    frame, _ = read(tmp_path, data, name="t.parquet", files=["t.parquet"])
    bad = frame[frame["status"] == "quarantined"].set_index("path")
    assert bad["reason_code"].to_dict() == {f"t.parquet:{i}": "infinite_value" for i in (5, 6, 7, 8)}
    assert bad.loc["t.parquet:5", "reason"] == "t.parquet:5: column 'income' holds inf, not a finite number"
    assert bad.loc["t.parquet:7", "reason"] == "t.parquet:7: column 'score' holds 'Infinity', not a finite number"


def test_a_finite_number_too_large_to_square_is_quarantined_and_a_tiny_one_kept(tmp_path):
    data = table()
    data.loc[3, "income"], data.loc[4, "income"], data.loc[5, "income"] = 1e308, -1e200, 5e-324
    frame, _ = read(tmp_path, data)
    rows = frame.set_index("path")
    assert rows.loc[["t.csv:5", "t.csv:6"], "reason_code"].tolist() == ["huge_value", "huge_value"]
    assert rows.loc["t.csv:5", "reason"].startswith(
        "t.csv:5: column 'income' holds 1e+308, 1e+150 or more in size: its square overflows")
    assert rows.loc["t.csv:7", "status"] == "ok" and rows.loc["t.csv:7", "income"] == 5e-324


def test_a_bom_a_nul_byte_and_a_huge_cell(tmp_path):
    data = table()
    data.loc[2, "city"] = "os\x00lo"
    data.loc[3, "city"] = "x" * 2_000_000
    data.to_csv(tmp_path / "t.csv", index=False, encoding="utf-8-sig")  # a BOM before the header's first name
    frame, _ = tabular.read_raw(make_params(tmp_path, split_column="split", id_column="id"))
    assert len(frame) == 40 and "income" in frame.columns
    assert frame.set_index("path").loc["t.csv:4", ["status", "reason_code"]].tolist() == ["quarantined", "nul_byte"]
    assert frame["status"].eq("ok").sum() == 39 and len(frame.set_index("path").loc["t.csv:5", "city"]) == 2_000_000


def test_a_feature_named_like_a_pipeline_column_is_refused(tmp_path):
    with pytest.raises(TableError, match=r"column\(s\) \['split'\] have names augmill uses .* tabular.split_column: split"):
        read(tmp_path, table(), split_column=None)


def test_params_require_files_and_label_column_for_tabular_runs():
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    raw["data"]["modality"] = "tabular"
    raw["augment"]["policy"] = POLICY
    with pytest.raises(ParamsError) as error:
        parse_params(raw)
    assert "tabular.files: required when data.modality is tabular" in str(error.value)
    assert "tabular.label_column: required" in str(error.value)
    raw["tabular"] = {"files": ["../secret.csv"], "label_column": "y"}
    with pytest.raises(ParamsError, match="tabular.files: .*relative to data.raw_dir"):
        parse_params(raw)
    raw["tabular"] = {"files": ["t.csv"], "label_column": "y", "id_column": "y"}
    with pytest.raises(ParamsError, match="label_column and id_column are both 'y'"):
        parse_params(raw)


# ---- explore and bias --------------------------------------------------------------------


def test_profile_reports_kinds_missing_values_and_an_unseen_category_in_test(tmp_path):
    data = table()
    data.loc[5, "city"] = "Quito"  # row 5 is in test (every fifth row)
    data["income_copy"] = data["income"]
    frame, _ = read(tmp_path, data)
    report = tabular.profile(frame[frame["status"] == "ok"].reset_index(drop=True), make_params(tmp_path))
    assert report["kinds"]["integer"] == ["visits", "age"] and report["kinds"]["categorical"] == ["city"]
    assert report["kinds"]["boolean"] == ["member"]
    assert report["columns"]["age"]["missing_rate"] > 0 and report["columns"]["city"]["distinct"] == 4
    assert report["duplicate_columns"] == [["income", "income_copy"]]
    assert report["unseen_categories"] == [{"column": "city", "value": "Quito", "rows": 1, "splits": ["test"],
                                            "examples": ["t.csv:7"]}]
    assert any("'city': value 'Quito' is in test (1 row(s), e.g. t.csv:7) but in no train row" in w
               for w in report["warnings"])
    assert report["correlations"]["strongest"][0]["r"] == 1.0


def test_sensitive_groups_are_flagged_when_small_or_skewed(tmp_path):
    data = table(n=80, rare=20)
    data["sex"] = np.where(data["y"] == "yes", "F", np.where(np.arange(80) % 2 == 0, "M", "F"))
    frame, _ = read(tmp_path, data)
    settings = {"sensitive": {"columns": ["sex", "income"], "min_group_size": 30, "max_rate_gap": 0.15}}
    ok = frame[frame["status"] == "ok"]
    report = tabular.bias_extra(ok, make_params(tmp_path, **settings))["sensitive"]
    female = report["groups"]["sex"]["F"]
    assert female["label_counts"]["yes"] == 16 and female["label_rates"]["yes"] > 0.3
    assert any(f.startswith("sex=M: rate of label 'no'") for f in report["flags"])
    assert len(report["groups"]["income"]) == 4  # quartile bins of a numeric column
    from augmill.tasks.bias import BiasCheckFailed

    with pytest.raises(BiasCheckFailed, match="sensitive groups flagged"):
        tabular.bias_extra(ok, make_params(tmp_path, bias="fail", **settings))


# ---- the pipeline in-process: augment, validate (suite, privacy), merge --------------------


@pytest.fixture()
def project(tmp_path, monkeypatch):
    """explore -> bias -> augment on a small mixed table, in-process (no DVC, no Prefect)."""
    from augmill.tasks import augment, bias, explore

    shutil.copytree(REPO / "expectations", tmp_path / "expectations")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "raw").mkdir()
    table(n=60, rare=10).to_csv(tmp_path / "raw/t.csv", index=False)
    params = make_params(tmp_path / "raw", split_column="split", id_column="id", factor=1.3,
                         policy=[{"name": "smotenc", "k_neighbors": 3}, {"name": "gaussian_copula", "p": 0.5}])
    explore.run(params)
    bias.run(params)
    augment.run(params, map)
    return params, pd.read_parquet(paths.AUGMENTED_MANIFEST)


def test_augment_makes_synthetic_rows_of_the_rare_class_with_lineage(project):
    params, augmented = project
    raw = pd.read_parquet(paths.RAW_MANIFEST)
    plan = json.loads(paths.PLAN.read_text())
    assert len(augmented) == plan["classes"]["yes"]["new"] == 14 and (augmented["label"] == "yes").all()
    assert (augmented["origin"] == "synthetic").all() and (augmented["split"] == "train").all()
    assert augmented["sample_id"].is_unique
    names = [op[0]["name"] for op in augmented["ops"].map(json.loads)]
    assert names.count("smotenc") == 9 and names.count("gaussian_copula") == 5  # p 1 : 0.5
    train_yes = set(raw.loc[(raw["split"] == "train") & (raw["label"] == "yes"), "sample_id"])
    assert set(augmented["source_id"]) <= train_yes
    schema = tabular.schema_of(tabular.train_rows(raw), params)
    cast = schema.cast(augmented[schema.names])
    assert cast.dtypes.astype(str).to_dict() == raw[schema.names].dtypes.astype(str).to_dict()
    assert augmented["sha256"].tolist() == schema.row_hashes(cast)


def test_validate_quarantines_an_exact_copy_an_out_of_range_value_and_a_foreign_category(project):
    from augmill.tasks import validate

    params, augmented = project
    raw = pd.read_parquet(paths.RAW_MANIFEST)
    real = raw[(raw["split"] == "train") & (raw["label"] == "yes")].iloc[0]
    tampered = augmented.copy()
    for column in ("income", "visits", "age", "member", "city"):
        tampered.loc[0, column] = real[column]  # an exact copy of a real row
    tampered.loc[1, "income"] = 10_000.0
    tampered.loc[2, "city"] = "Atlantis"
    tampered.loc[3, "age"] = 41.5
    tampered.to_parquet(paths.AUGMENTED_MANIFEST, index=False)
    with pytest.raises(validate.TooManyRejected):  # 4 of 14 rejected: over the 20% limit
        validate.run(params)
    validated = pd.read_parquet(paths.VALIDATED_MANIFEST).set_index("sample_id")
    ids = tampered["sample_id"]
    assert validated.loc[ids[0], "reason_code"] == "check_privacy_distance_ratio"
    assert validated.loc[ids[0], "distance_to_closest_real"] == 0
    assert "privacy_distance_ratio not at least 0.2 (got 0)" in validated.loc[ids[0], "reason"]
    assert validated.loc[ids[1], "reason"].startswith("income not between")
    assert validated.loc[ids[2], "reason"].startswith("city not in ['Lyon', 'Oslo', 'Pune'] (got 'Atlantis')")
    assert "integers_whole not in [True] (got False)" in validated.loc[ids[3], "reason"]
    assert (validated.loc[ids[4:], "status"] == "accepted").all()
    summary = json.loads(paths.VALIDATION_SUMMARY.read_text())
    assert summary["tabular"]["privacy"]["exact_copies"] == 1
    assert set(summary["tabular"]["fidelity"]["by_class"]) == {"yes"}
    suite = json.loads((paths.INTERIM / "tabular_suite.json").read_text())
    assert {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "visits"}} in suite["expectations"]
    assert {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "age"}} not in suite["expectations"]
    assert "Atlantis" in Path("reports/gallery.html").read_text()


def test_validate_and_merge_keep_real_rows_and_accepted_synthetic_rows(project):
    from augmill.tasks import merge, validate

    params, augmented = project
    summary = validate.run(params)
    assert summary["tabular"]["fidelity"]["by_class"]["yes"]["score"] >= params.tabular.fidelity.min_score
    report = merge.run(params)
    assert report["accounting"]["balanced"]
    final = pd.read_parquet(paths.FINAL_MANIFEST)
    raw = pd.read_parquet(paths.RAW_MANIFEST)
    assert list(final.columns) == merge.LINEAGE_COLUMNS + ["income", "visits", "age", "member", "city"]
    assert (final.loc[final["split"] == "test", "origin"] == "original").all()
    assert (final["origin"] == "synthetic").sum() == summary["accepted"]
    assert final[raw.columns.intersection(final.columns)].dtypes.astype(str).to_dict() == {
        c: str(raw[c].dtype) for c in raw.columns.intersection(final.columns) if c != "seed"}
    train_csv = pd.read_csv(paths.FINAL / "train.csv")
    assert list(train_csv.columns) == ["sample_id", "origin", "income", "visits", "age", "member", "city", "y"]
    assert len(train_csv) == (final["split"] == "train").sum()
    assert len(pd.read_csv(paths.FINAL / "test.csv")) == (raw["split"] == "test").sum()


def test_baseline_features_one_hot_in_train_order_with_train_medians(project):
    params, _ = project
    raw = pd.read_parquet(paths.RAW_MANIFEST)
    rows = raw.iloc[:3].copy()
    rows.loc[rows.index[0], "age"] = np.nan
    rows.loc[rows.index[1], "city"] = "Atlantis"
    matrix = get_modality("tabular").baseline_features(rows, params)
    # income, visits, age, member (False, True), city (Lyon, Oslo, Pune)
    assert matrix.shape == (3, 3 + 2 + 3) and matrix.dtype == float
    train = raw[raw["split"] == "train"]
    assert matrix[0, 2] == train["age"].median()
    assert matrix[1, 5:].tolist() == [0.0, 0.0, 0.0]  # unseen category: all zeros
    assert matrix[2, 5:].sum() == 1 and matrix[:, 3:5].sum(axis=1).tolist() == [1.0, 1.0, 1.0]


def test_with_no_new_rows_planned_the_pipeline_passes_the_table_through(tmp_path, monkeypatch):
    from augmill.tasks import augment, bias, explore, merge, validate

    shutil.copytree(REPO / "expectations", tmp_path / "expectations")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "raw").mkdir()
    table().to_csv(tmp_path / "raw/t.csv", index=False)
    params = make_params(tmp_path / "raw", split_column="split", id_column="id", factor=1.0)
    explore.run(params)
    bias.run(params)
    assert augment.run(params, map) == 0 and pd.read_parquet(paths.AUGMENTED_MANIFEST).empty
    summary = validate.run(params)
    assert summary["augmented"] == 0 and summary["tabular"]["fidelity"]["by_class"] == {}
    merge.run(params)
    final = pd.read_parquet(paths.FINAL_MANIFEST)
    assert len(final) == 40 and (final["origin"] == "original").all()


def test_the_demo_makes_malignant_rare_in_train_only(tmp_path):
    from augmill.tasks.demos import breast_cancer, get_demo

    raw = yaml.safe_load((REPO / "examples/tabular.yaml").read_text())
    params = parse_params(raw)
    assert get_demo("breast_cancer") is breast_cancer and breast_cancer.MODALITY == "tabular"
    assert breast_cancer.write(params, tmp_path) == 467
    data = pd.read_csv(tmp_path / "breast_cancer.csv")
    assert list(data.columns[:3]) == ["patient_id", "mean_radius", "mean_texture"] and data.shape[1] == 33
    counts = data.groupby(["split", "diagnosis"]).size().to_dict()
    assert counts == {("test", "benign"): 89, ("test", "malignant"): 53, ("val", "benign"): 54,
                      ("val", "malignant"): 32, ("train", "benign"): 214, ("train", "malignant"): 25}
    again = tmp_path / "again"
    again.mkdir()
    breast_cancer.write(params, again)
    assert (again / "breast_cancer.csv").read_bytes() == (tmp_path / "breast_cancer.csv").read_bytes()


def test_a_class_below_the_fidelity_threshold_has_its_synthetic_rows_quarantined(project):
    from augmill.tasks import validate
    from augmill.tasks.modalities.tabular.params import FidelityParams

    params, augmented = project
    strict = params.model_copy(update={"tabular": params.tabular.model_copy(update={"fidelity": FidelityParams(min_score=0.99)})})
    with pytest.raises(validate.TooManyRejected, match="check_class_fidelity"):
        validate.run(strict)
    validated = pd.read_parquet(paths.VALIDATED_MANIFEST)
    assert (validated["reason_code"] == "check_class_fidelity").all()
    score = json.loads(paths.VALIDATION_SUMMARY.read_text())["tabular"]["fidelity"]["by_class"]["yes"]["score"]
    assert validated["reason"].str.contains(f"class_fidelity not at least 0.99 \\(got {score:g}\\)").all()
