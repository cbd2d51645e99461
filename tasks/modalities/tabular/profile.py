"""What explore and bias report about a table: column types, missing values,
ranges, cardinalities, correlations, constant and duplicate columns, values of
val/test never seen in train, and the label rate per sensitive group."""

from __future__ import annotations

import hashlib
import warnings

import numpy as np
import pandas as pd

from augmill.tasks.modalities.tabular.schema import NUMERIC_KINDS, ColumnSpec, TableSchema, datetime_ns

MAX_LISTED = 20
HIGH_CARDINALITY = 0.5  # distinct values per row above which a category column looks like free text or an id


def _json_value(value):
    if isinstance(value, np.generic):
        value = value.item()
    return value if isinstance(value, (int, float, bool, str)) or value is None else str(value)


def _where(rows: pd.DataFrame) -> list[str]:
    return rows["path"].head(5).tolist()


def column_profile(spec: ColumnSpec, column: pd.Series) -> dict:
    entry = {"kind": spec.kind, "dtype": str(column.dtype), "missing_rate": round(float(column.isna().mean()), 4),
             "distinct": int(column.nunique(dropna=True))}
    if spec.kind in NUMERIC_KINDS:
        values = datetime_ns(column) if spec.kind == "datetime" else column.to_numpy(dtype=float, na_value=np.nan)
        values = values[~np.isnan(values)]
        if len(values):
            if spec.kind == "datetime":
                entry |= {"min": str(pd.Timestamp(int(values.min()))), "max": str(pd.Timestamp(int(values.max())))}
            else:
                entry |= {"min": float(values.min()), "max": float(values.max()), "mean": round(float(values.mean()), 6),
                          "std": round(float(values.std()), 6)}
    else:
        top = column.value_counts(dropna=True).head(10)
        entry["top"] = [[_json_value(value), int(count)] for value, count in top.items()]
    entry["constant"] = entry["distinct"] <= 1
    return entry


def duplicate_columns(frame: pd.DataFrame, names: list[str]) -> list[list[str]]:
    """Groups of columns holding exactly the same values in every row."""
    by_hash: dict[str, list[str]] = {}
    for name in names:
        digest = hashlib.sha256(pd.util.hash_pandas_object(frame[name], index=False).to_numpy().tobytes()).hexdigest()
        by_hash.setdefault(digest, []).append(name)
    return [group for group in by_hash.values() if len(group) > 1 and
            all(frame[group[0]].equals(frame[other]) for other in group[1:])]


def strongest_correlations(frame: pd.DataFrame, schema: TableSchema) -> dict:
    names = [c.name for c in schema.numeric]
    if len(names) < 2:
        return {"method": "pearson", "pairs_above_0.9": 0, "strongest": []}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        matrix = pd.DataFrame(schema.numeric_matrix(frame), columns=names).corr().to_numpy()
    upper = np.triu_indices(len(names), k=1)
    values = matrix[upper]
    order = [i for i in np.argsort(-np.abs(np.nan_to_num(values)), kind="stable") if not np.isnan(values[i])]
    return {"method": "pearson", "pairs_above_0.9": int(np.sum(np.abs(np.nan_to_num(values)) > 0.9)),
            "strongest": [{"a": names[upper[0][i]], "b": names[upper[1][i]], "r": round(float(values[i]), 4)}
                          for i in order[:MAX_LISTED]]}


def unseen_categories(ok: pd.DataFrame, train_schema: TableSchema) -> list[dict]:
    """Category values of val/test rows that no train row has: a model trained on train sees them as unknown."""
    found = []
    held_out = ok[ok["split"] != "train"]
    for spec in train_schema.categorical:
        values = held_out[spec.name]
        unknown = values.notna() & ~values.map(lambda v, known=frozenset(spec.categories):
                                               (v.item() if isinstance(v, np.generic) else v) in known)
        for value, rows in held_out[unknown].groupby(spec.name, sort=True):
            found.append({"column": spec.name, "value": _json_value(value), "rows": len(rows),
                          "splits": sorted(set(rows["split"])), "examples": _where(rows)})
    return found


def table_profile(ok: pd.DataFrame, schema: TableSchema, train_schema: TableSchema) -> dict:
    columns = {spec.name: column_profile(spec, ok[spec.name]) for spec in schema.columns}
    warnings_list = []
    unseen = unseen_categories(ok, train_schema)
    for item in unseen:
        warnings_list.append(f"column {item['column']!r}: value {item['value']!r} is in {'/'.join(item['splits'])} "
                             f"({item['rows']} row(s), e.g. {item['examples'][0]}) but in no train row; "
                             "a model trained on train sees it as unknown")
    for spec in schema.categorical:
        distinct = columns[spec.name]["distinct"]
        if distinct > 20 and distinct > HIGH_CARDINALITY * len(ok):
            warnings_list.append(f"column {spec.name!r} has {distinct} distinct values in {len(ok)} rows: an id or free "
                                 "text? Synthetic rows copy category values; consider tabular.drop_columns")
    train = ok[ok["split"] == "train"]
    distinct_rows = train.drop_duplicates("sha256")["label"].value_counts()
    for label, count in sorted(distinct_rows.items()):
        if count < 2:
            warnings_list.append(f"class {label!r} has {count} distinct train row: too few to learn new rows from")
    return {
        "rows": len(ok), "feature_columns": len(schema.columns),
        "kinds": {kind: [c.name for c in schema.columns if c.kind == kind]
                  for kind in ("numeric", "integer", "boolean", "categorical", "datetime")},
        "columns": columns,
        "constant_columns": [name for name, entry in columns.items() if entry["constant"]],
        "duplicate_columns": duplicate_columns(ok, schema.names),
        "correlations": strongest_correlations(ok, schema),
        "missing_values": {"rows_with_any": int(ok[schema.names].isna().any(axis=1).sum()),
                           "by_column": {n: e["missing_rate"] for n, e in columns.items() if e["missing_rate"] > 0}},
        "unseen_categories": unseen,
        "warnings": warnings_list,
    }


# ---- bias: sensitive groups ---------------------------------------------------------------


def group_of(spec: ColumnSpec, column: pd.Series, bins: int) -> pd.Series:
    """Each row's group: its category, or its quantile bin for a numeric column; '<missing>' when blank."""
    if spec.kind in NUMERIC_KINDS:
        values = pd.Series(datetime_ns(column) if spec.kind == "datetime" else column.to_numpy(dtype=float, na_value=np.nan),
                           index=column.index)
        if values.nunique() > bins:
            cut = pd.qcut(values, q=bins, duplicates="drop")
            return cut.astype(str).where(values.notna(), "<missing>")
    return column.map(lambda v: str(v.item() if isinstance(v, np.generic) else v), na_action="ignore").fillna("<missing>")


def sensitive_groups(train: pd.DataFrame, schema: TableSchema, sensitive) -> dict:
    """Per sensitive column and group: train rows, label counts and rates; flags for a group
    too small (< min_group_size) or whose rate of a label is far from the overall rate."""
    if not sensitive.columns:
        return {}
    overall = train["label"].value_counts(normalize=True).sort_index()
    report, flags = {}, []
    for name in sensitive.columns:
        groups = group_of(schema.spec(name), train[name], sensitive.bins)
        entries = {}
        for group, rows in train.groupby(groups, sort=True):
            rates = rows["label"].value_counts(normalize=True).reindex(overall.index, fill_value=0.0)
            gaps = (rates - overall).abs()
            counts = rows["label"].value_counts().sort_index()
            entry = {"rows": len(rows), "label_counts": {str(k): int(v) for k, v in counts.items()},
                     "label_rates": {str(k): round(float(v), 4) for k, v in rates.items()}, "flags": []}
            if len(rows) < sensitive.min_group_size:
                entry["flags"].append(f"{name}={group}: {len(rows)} train rows, fewer than "
                                      f"tabular.sensitive.min_group_size={sensitive.min_group_size}")
            worst = gaps.idxmax() if len(gaps) else None
            if worst is not None and gaps[worst] > sensitive.max_rate_gap:
                entry["flags"].append(f"{name}={group}: rate of label {worst!r} is {rates[worst]:.3f} against "
                                      f"{overall[worst]:.3f} overall (gap {gaps[worst]:.3f} > "
                                      f"tabular.sensitive.max_rate_gap={sensitive.max_rate_gap})")
            flags += entry["flags"]
            entries[str(group)] = entry
        report[name] = entries
    return {"overall_label_rates": {str(k): round(float(v), 4) for k, v in overall.items()},
            "groups": report, "flags": flags}
