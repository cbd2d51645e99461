"""Tests for the tabular generators: every generator keeps the source's dtypes,
ranges, category sets and integer-ness and is deterministic in its seed; a SMOTE
row lies on the segment between its recorded parents and replays bit for bit;
small classes; config validation; the privacy distances."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

from augmill.tasks.modalities.tabular.modality import class_table
from augmill.tasks.modalities.tabular.ops import replay_jitter, replay_row, split_among
from augmill.tasks.modalities.tabular.quality import class_fidelity, privacy_distances
from augmill.tasks.modalities.tabular.schema import TableSchema
from augmill.tasks.ops import policy
from augmill.tasks.ops.base import OperatorConfigError

TABULAR_OPS = policy.operators_for("tabular")


def make_table(n_rare: int = 30, n_common: int = 60, kinds: str = "mixed", seed: int = 0) -> pd.DataFrame:
    """A small train table of two classes with correlated numbers, whole numbers with
    blanks, booleans, categories and dates; ``kinds`` keeps numeric or categorical columns only."""
    rng = np.random.default_rng(seed)
    n = n_rare + n_common
    label = np.array(["rare"] * n_rare + ["common"] * n_common)
    base = rng.normal(size=n) + (label == "rare") * 2
    frame = pd.DataFrame({
        "sample_id": [f"r{i:04d}" for i in range(n)], "label": label,
        "amount": np.round(np.exp(base + rng.normal(scale=0.3, size=n)) * 100, 2),
        "score": base * 3 + rng.normal(scale=0.5, size=n),
        "visits": rng.integers(0, 20, size=n),  # int64
        "age": np.where(rng.random(n) < 0.1, np.nan, rng.integers(18, 90, size=n)).astype(float),  # whole, with blanks
        "weight": np.where(rng.random(n) < 0.15, np.nan, rng.normal(70, 10, size=n)),
        "flag": rng.random(n) < 0.3,
        "channel": pd.array(rng.choice(["web", "shop", "phone"], size=n), dtype="str"),
        "region": pd.array(np.where(rng.random(n) < 0.1, None, rng.choice(["north", "south"], size=n)), dtype="str"),
        "tier": rng.choice([1, 2, 3], size=n),
        "opened": pd.to_datetime("2020-01-01") + pd.to_timedelta(rng.integers(0, 900, size=n), unit="D"),
    })
    numeric = ["amount", "score", "visits", "age", "weight", "opened"]
    categorical = ["flag", "channel", "region", "tier"]
    keep = {"mixed": numeric + categorical, "numeric": numeric, "categorical": categorical}[kinds]
    frame = frame[["sample_id", "label", *keep]]
    schema = TableSchema.infer(frame, keep, categorical_columns=["tier"] if "tier" in keep else [])
    return frame.assign(sha256=schema.row_hashes(frame), split="train", status="ok")


def schema_for(frame: pd.DataFrame) -> TableSchema:
    names = [c for c in frame.columns if c not in ("sample_id", "label", "sha256", "split", "status")]
    return TableSchema.infer(frame, names, categorical_columns=["tier"] if "tier" in names else [])


FITS = {"smote": "numeric", "smotenc": "mixed", "smoten": "categorical", "gaussian_jitter": "mixed",
        "gaussian_copula": "mixed"}


def generate(name: str, n: int = 40, seed: int = 7, kinds: str | None = None, **config):
    frame = make_table(kinds=kinds or FITS[name])
    schema = schema_for(frame)
    table = class_table(frame, "rare", schema)
    return TABULAR_OPS[name](**config).generate(table, n, seed), table, frame, schema


def test_every_registered_tabular_generator_is_tested():
    assert set(TABULAR_OPS) == set(FITS)


@pytest.mark.parametrize("name", sorted(FITS))
def test_generators_keep_types_ranges_categories_and_whole_numbers(name):
    made, table, frame, schema = generate(name, n=60)
    out = made.frame
    assert list(out.columns) == schema.names and len(out) == 60
    for spec in schema.columns:
        column = out[spec.name]
        assert str(column.dtype) == spec.dtype, spec.name
        if spec.low is not None and spec.kind != "datetime":
            values = column.to_numpy(dtype=float, na_value=np.nan)
            assert np.nanmin(values) >= spec.low and np.nanmax(values) <= spec.high, spec.name
            if spec.kind == "integer":
                assert np.all(np.isnan(values) | (np.mod(values, 1) == 0)), spec.name
        if spec.kind == "datetime":
            assert column.min() >= frame[spec.name].min() and column.max() <= frame[spec.name].max()
            assert (column.dt.normalize() == column).all()  # whole days, like the source
        if spec.categories:
            assert set(column.dropna()) <= set(spec.categories), spec.name
        if not spec.nullable:
            assert column.notna().all(), spec.name
    assert set(made.sources) <= set(table.ids)
    assert json.loads(json.dumps(made.params)) == made.params  # JSON-safe, as the manifest's ops column needs


@pytest.mark.parametrize("name", sorted(FITS))
def test_generators_are_deterministic_in_their_seed(name):
    first, *_ = generate(name, seed=11)
    again, *_ = generate(name, seed=11)
    other, *_ = generate(name, seed=12)
    pd.testing.assert_frame_equal(first.frame, again.frame)
    assert first.params == again.params and first.seeds == again.seeds and first.sources == again.sources
    assert not first.frame.equals(other.frame)


@pytest.mark.parametrize("name", sorted(FITS))
def test_generators_use_only_the_given_seed(name):
    np.random.seed(0)
    first, *_ = generate(name, seed=3)
    np.random.seed(1)
    again, *_ = generate(name, seed=3)
    pd.testing.assert_frame_equal(first.frame, again.frame)


def test_smote_rows_lie_on_the_segment_between_their_parents_and_replay_exactly():
    made, table, frame, schema = generate("smote", n=80)
    real = frame.set_index("sample_id")
    continuous = [s.name for s in schema.numeric if s.kind == "numeric"]
    for i, params in enumerate(made.params):
        a, b = (real.loc[p] for p in params["parents"])
        weight = params["weight"]
        assert 0.0 <= weight <= 1.0 and params["parents"][0] == made.sources[i]
        assert params["parents"][0] != params["parents"][1]
        for name in continuous:
            value = made.frame[name].iloc[i]
            if pd.isna(a[name]) or pd.isna(b[name]):  # a missing value follows the nearer parent
                nearer = a[name] if weight < 0.5 else b[name]
                assert (pd.isna(value) and pd.isna(nearer)) or value == nearer
            else:
                assert value == a[name] + weight * (b[name] - a[name])  # exact: no rounding drift
                assert min(a[name], b[name]) <= value <= max(a[name], b[name])
        replayed = replay_row({"name": "smote", "params": params}, real, schema)
        pd.testing.assert_frame_equal(replayed, made.frame.iloc[[i]].reset_index(drop=True))


def test_smote_neighbours_are_same_class_rows():
    made, table, *_ = generate("smote", n=50)
    own = set(table.ids)
    assert all(set(p["parents"]) <= own for p in made.params)


def test_smotenc_interpolates_numbers_and_takes_categories_from_the_neighbours_vote():
    made, table, frame, schema = generate("smotenc", n=60)
    real = frame.set_index("sample_id")
    for i, params in enumerate(made.params):
        assert len(params["voters"]) == params["k_neighbors"] and set(params["voters"]) <= set(table.ids)
        replayed = replay_row({"name": "smotenc", "params": params}, real, schema)  # checks the recorded winners won
        pd.testing.assert_frame_equal(replayed, made.frame.iloc[[i]].reset_index(drop=True))


def test_smoten_rows_are_the_mode_of_a_row_and_its_neighbours():
    made, table, frame, schema = generate("smoten", n=60)
    real = frame.set_index("sample_id")
    for i, params in enumerate(made.params):
        assert params["voters"][0] in table.ids and len(params["voters"]) == params["k_neighbors"] + 1
        replayed = replay_row({"name": "smoten", "params": params}, real, schema)
        pd.testing.assert_frame_equal(replayed, made.frame.iloc[[i]].reset_index(drop=True))


def test_a_tampered_smote_record_does_not_replay_to_the_row():
    made, table, frame, schema = generate("smote", n=5)
    params = dict(made.params[0], weight=made.params[0]["weight"] / 2 + 0.01)
    replayed = replay_row({"name": "smote", "params": params}, frame.set_index("sample_id"), schema)
    assert not replayed.equals(made.frame.iloc[[0]].reset_index(drop=True))


def test_jitter_keeps_categories_and_blanks_and_replays_from_its_seed():
    made, table, frame, schema = generate("gaussian_jitter", n=40, scale=0.2)
    real = frame.set_index("sample_id")
    spread = table.spread()
    for i, params in enumerate(made.params):
        source = real.loc[[made.sources[i]]].reset_index()
        row = made.frame.iloc[[i]].reset_index(drop=True)
        for spec in schema.categorical:
            assert row[spec.name].iloc[0] == source[spec.name].iloc[0] or (
                pd.isna(row[spec.name].iloc[0]) and pd.isna(source[spec.name].iloc[0]))
        assert row[["age", "weight"]].isna().to_numpy().tolist() == source[["age", "weight"]].isna().to_numpy().tolist()
        pd.testing.assert_frame_equal(replay_jitter({"name": "gaussian_jitter", "params": params}, source, schema, spread), row)


def test_jitter_noise_scales_with_the_column_spread():
    made, table, frame, schema = generate("gaussian_jitter", n=300, kinds="numeric", scale=0.1)
    real = frame.set_index("sample_id")
    deltas = made.frame["score"].to_numpy() - real.loc[made.sources, "score"].to_numpy()
    assert abs(np.std(deltas) / (0.1 * table.spread()[schema.names.index("score")]) - 1) < 0.15


def test_copula_keeps_marginals_and_correlation():
    frame = make_table(n_rare=300, n_common=50, kinds="numeric", seed=3)
    schema = schema_for(frame)
    made = TABULAR_OPS["gaussian_copula"]().generate(class_table(frame, "rare", schema), 600, 5)
    real = frame[frame["label"] == "rare"]
    fidelity = class_fidelity(schema, real, made.frame)
    assert fidelity["column_shapes"] > 0.9 and fidelity["column_pair_trends"] > 0.9
    r_real = np.corrcoef(real["amount"], real["score"])[0, 1]
    r_syn = np.corrcoef(made.frame["amount"], made.frame["score"])[0, 1]
    assert r_real > 0.5 and abs(r_real - r_syn) < 0.15
    missing_real, missing_syn = real["weight"].isna().mean(), made.frame["weight"].isna().mean()
    assert abs(missing_real - missing_syn) < 0.08


def test_small_class_uses_every_row_it_has():
    frame = make_table(n_rare=3, kinds="numeric")
    schema = schema_for(frame)
    made = TABULAR_OPS["smote"](k_neighbors=5).generate(class_table(frame, "rare", schema), 10, 1)
    assert {p["k_neighbors"] for p in made.params} == {2}
    assert all(set(p["parents"]) <= set(frame["sample_id"][:3]) for p in made.params)


@pytest.mark.parametrize("name", ["smote", "gaussian_copula"])
def test_a_class_of_one_distinct_row_is_refused_with_its_name(name):
    frame = make_table(n_rare=1, kinds="numeric")
    schema = schema_for(frame)
    with pytest.raises(ValueError, match="class 'rare' has 1 distinct train row"):
        TABULAR_OPS[name]().generate(class_table(frame, "rare", schema), 5, 1)


def test_jitter_works_from_a_single_row():
    frame = make_table(n_rare=1, kinds="numeric")
    made = TABULAR_OPS["gaussian_jitter"]().generate(class_table(frame, "rare", schema_for(frame)), 5, 1)
    assert len(made.frame) == 5 and set(made.sources) == {"r0000"}


def test_exact_duplicates_in_a_class_are_learned_from_once():
    frame = make_table(n_rare=10, kinds="numeric")
    copies = frame.iloc[:5].assign(sample_id=lambda f: f["sample_id"] + "-copy")
    table = class_table(pd.concat([frame, copies]), "rare", schema_for(frame))
    assert len(table.rows) == 10


@pytest.mark.parametrize(("name", "kinds", "message"), [
    ("smote", "mixed", "smote does not fit this table: the table has categorical columns"),
    ("smoten", "numeric", "smoten does not fit this table: the table has numeric columns"),
    ("smotenc", "numeric", "smotenc does not fit this table: it needs numeric and categorical columns"),
    ("gaussian_jitter", "categorical", "gaussian_jitter does not fit this table: it has no numeric column"),
])
def test_generators_say_when_they_do_not_fit_the_columns(name, kinds, message):
    assert message in TABULAR_OPS[name]().fits(schema_for(make_table(kinds=kinds)))


@pytest.mark.parametrize(("entry", "message"), [
    ({"name": "smote", "k_neighbors": 0}, "smote.k_neighbors must be an integer in [1, 100], got 0"),
    ({"name": "smote", "k_neighbors": 2.5}, "smote.k_neighbors must be an integer"),
    ({"name": "gaussian_jitter", "scale": 0}, "gaussian_jitter.scale must be a number in (0.0, 2.0], got 0"),
    ({"name": "gaussian_copula", "shrinkage": 1.5}, "gaussian_copula.shrinkage must be a number in [0.0, 1.0]"),
    ({"name": "smote", "k": 5}, "unknown option(s) ['k']"),
    ({"name": "rotate"}, "unknown tabular operator 'rotate'"),
])
def test_bad_generator_config_is_refused_naming_the_key(entry, message):
    with pytest.raises(OperatorConfigError, match=re.escape(message)):
        policy.build_policy([entry], "tabular")


def test_generators_are_class_level_not_per_sample():
    op = TABULAR_OPS["smote"]()
    with pytest.raises(NotImplementedError, match="whole class"):
        op.sample(np.random.default_rng(0), None)


def test_new_rows_are_split_among_generators_by_p():
    assert split_among(10, [1.0, 1.0]) == [5, 5]
    assert split_among(7, [0.75, 0.25]) == [5, 2]
    assert split_among(3, [1.0, 1.0, 1.0, 1.0]) == [1, 1, 1, 0]
    assert sum(split_among(1001, [0.3, 0.3, 0.4])) == 1001
    with pytest.raises(OperatorConfigError, match="p > 0"):
        split_among(5, [0.0, 0.0])


# ---- privacy ---------------------------------------------------------------------------


def test_an_exact_copy_of_a_real_row_has_distance_zero_and_a_near_copy_a_small_ratio():
    frame = make_table()
    schema = schema_for(frame)
    copy = frame.iloc[[4]].reset_index(drop=True)
    near = frame.iloc[[9]].reset_index(drop=True).assign(score=lambda f: f["score"] + 1e-3)
    fresh, *_ = generate("gaussian_copula", n=20)
    synthetic = pd.concat([copy, near, fresh.frame], ignore_index=True)
    distances = privacy_distances(schema, frame, synthetic, quantile=0.05)
    ratios = distances.ratios()
    assert distances.closest[0] == 0 and ratios[0] == 0
    assert frame.iloc[distances.closest_index[0]]["sample_id"] == frame["sample_id"].iloc[4]
    assert 0 < ratios[1] < 0.05
    assert np.median(ratios[2:]) > 0.5  # new rows are not copies
    assert distances.reference > 0 and len(distances.real_nearest) == len(frame)


@pytest.mark.parametrize("name", ["smote", "smotenc"])
def test_smote_and_smotenc_make_the_same_rows_with_one_row_of_the_other_classes_as_with_all(name, monkeypatch):
    """They pass imbalanced-learn one row of another class instead of all: it must not matter."""
    frame = make_table(kinds=FITS[name])
    table = class_table(frame, "rare", schema_for(frame))
    shortcut = TABULAR_OPS[name]().generate(table, 30, 4)
    monkeypatch.setattr(TABULAR_OPS[name], "_context", lambda self, table: table.others)
    everything = TABULAR_OPS[name]().generate(table, 30, 4)
    assert len(table.others) == 60
    pd.testing.assert_frame_equal(shortcut.frame, everything.frame)
    assert shortcut.params == everything.params
