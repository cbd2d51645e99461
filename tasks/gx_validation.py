"""Validate a feature table against a versioned Great Expectations (1.x) suite.

A suite is a hand-written JSON file under ``expectations/`` in the format GX 1.x
serialises to (``{"name", "meta", "expectations": [{"type", "kwargs"}]}``), so
``gx.ExpectationSuite(**json)`` loads it. Dataset-specific values are suite
parameters (``{"$PARAMETER": "labels"}``) filled from ``parameters`` at run time.

``run_suite`` validates a DataFrame in an in-memory (ephemeral) GX context: no
``gx/`` folder, no network, no progress bars. Row-level failures are mapped back
to the ids in ``id_column``; with ``docs_dir`` GX's own Data Docs site is built
there too. GX is imported lazily: the import alone takes a few seconds.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

# GX must never phone home; set before great_expectations is first imported.
os.environ["GX_ANALYTICS_ENABLED"] = "false"


@dataclass(frozen=True)
class ExpectationOutcome:
    expectation: str  # e.g. "expect_column_values_to_be_between"
    column: str | None
    success: bool
    unexpected_count: int
    description: str  # e.g. "similarity between 0.3 and 0.995"


@dataclass(frozen=True)
class SuiteOutcome:
    suite_name: str
    success: bool
    evaluated_rows: int
    expectations: list[ExpectationOutcome]
    failures: dict[str, list[str]]  # row id -> sorted reasons, e.g. "std not at least 2 (got 0)"
    docs_index: Path | None  # Data Docs index.html if docs_dir was given


def load_suite(path: Path) -> dict:
    """Read and check a suite JSON file; ValueError naming the file if it is unusable."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError(f"expectation suite {path}: file not found") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"expectation suite {path}: not readable JSON ({exc})") from None
    problem = _shape_problem(data)
    if problem:
        raise ValueError(f"expectation suite {path}: {problem}")

    from great_expectations.exceptions import GreatExpectationsError
    from great_expectations.expectations.expectation_configuration import (
        ExpectationConfiguration,
    )

    # One by one: gx.ExpectationSuite(**data) would silently drop unknown expectation types.
    for i, item in enumerate(data["expectations"]):
        try:
            ExpectationConfiguration(**item).to_domain_obj()
        except (GreatExpectationsError, TypeError, ValueError) as exc:  # pydantic: ValueError
            raise ValueError(f"expectation suite {path}: expectation #{i} ({item['type']}) is invalid: {exc}") from None
    return data


def run_suite(
    df: pd.DataFrame,
    suite_path: Path,
    *,
    id_column: str,
    parameters: dict,
    docs_dir: Path | None = None,
) -> SuiteOutcome:
    """Validate ``df`` against the suite at ``suite_path``; see the module docstring."""
    suite_path = Path(suite_path)
    spec = load_suite(suite_path)
    _check_inputs(df, spec, suite_path, id_column, parameters)

    gx = _gx()
    docs_dir = Path(docs_dir).resolve() if docs_dir is not None else None
    context = gx.get_context(mode="ephemeral", project_config=_context_config(docs_dir))
    suite = context.suites.add(gx.ExpectationSuite(**spec))  # gives each expectation an id
    batch_definition = (
        context.data_sources.add_pandas("augmill")
        .add_dataframe_asset(suite.name)
        .add_batch_definition_whole_dataframe("whole_table")
    )
    result_format = {"result_format": "COMPLETE", "unexpected_index_column_names": [id_column]}
    if docs_dir is None:
        batch = batch_definition.get_batch(batch_parameters={"dataframe": df})
        result = batch.validate(suite, expectation_parameters=parameters, result_format=result_format)
    else:
        validation = context.validation_definitions.add(
            gx.ValidationDefinition(name=suite.name, data=batch_definition, suite=suite)
        )
        checkpoint = context.checkpoints.add(
            gx.Checkpoint(
                name=suite.name,
                validation_definitions=[validation],
                actions=[gx.checkpoint.UpdateDataDocsAction(name="data_docs")],
                result_format=result_format,
            )
        )
        run = checkpoint.run(batch_parameters={"dataframe": df}, expectation_parameters=parameters)
        (result,) = run.run_results.values()

    # GX does not keep suite order in its results (errors come first): re-order by id.
    by_id = {r.expectation_config.id: r for r in result.results}
    outcomes: list[ExpectationOutcome] = []
    failures: dict[str, set[str]] = defaultdict(set)
    for expectation in suite.expectations:
        res = by_id[expectation.id]
        config = res.expectation_config
        column = config.kwargs.get("column")
        error = _error_message(res.exception_info)
        if error:
            raise ValueError(f"expectation suite {suite_path}: {config.type} on {column!r} failed to run: {error}")
        predicate = _predicate(config.type, config.kwargs)
        subject = column or ("row count" if "row_count" in config.type else "table")
        outcomes.append(
            ExpectationOutcome(
                expectation=config.type,
                column=column,
                success=bool(res.success),
                unexpected_count=int(res.result.get("unexpected_count", 0)),
                description=f"{subject} {predicate}",
            )
        )
        for row in res.result.get("unexpected_index_list") or []:
            if config.type == "expect_column_values_to_not_be_null":
                reason = f"{column} is null"
            else:
                reason = f"{column} not {predicate} (got {_fmt(row.get(column))})"
            failures[_row_key(row.get(id_column), id_column)].add(reason)

    return SuiteOutcome(
        suite_name=suite.name,
        success=bool(result.success),
        evaluated_rows=len(df),
        expectations=outcomes,
        failures={key: sorted(reasons) for key, reasons in sorted(failures.items())},
        docs_index=docs_dir / "index.html" if docs_dir is not None else None,
    )


def _shape_problem(data: Any) -> str | None:
    if not isinstance(data, dict) or not isinstance(data.get("name"), str):
        return "needs a top-level object with a 'name'"
    if not isinstance(data.get("expectations"), list):
        return "'expectations' must be a list"
    for i, item in enumerate(data["expectations"]):
        if not (isinstance(item, dict) and isinstance(item.get("type"), str) and isinstance(item.get("kwargs"), dict)):
            return f"expectation #{i} needs a 'type' string and a 'kwargs' object"
    return None


def _gx() -> Any:
    import great_expectations as gx

    return gx


def _context_config(docs_dir: Path | None) -> Any:
    """In-memory stores, analytics and progress bars off, one docs site if asked."""
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    sites = {}
    if docs_dir is not None:
        sites["local_site"] = {
            "class_name": "SiteBuilder",
            "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(docs_dir)},
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        }
    return DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(),
        data_docs_sites=sites,
        analytics_enabled=False,
        progress_bars=ProgressBarsConfig(globally=False),
    )


def _check_inputs(df: pd.DataFrame, spec: dict, path: Path, id_column: str, parameters: dict) -> None:
    kwargs = [item["kwargs"] for item in spec["expectations"]]
    needed = {kw["column"] for kw in kwargs if "column" in kw} | {id_column}
    missing = sorted(needed - set(df.columns))
    if missing:
        raise ValueError(
            f"column(s) {', '.join(missing)} needed by expectation suite {path} "
            f"not in the table (has: {', '.join(map(str, df.columns))})"
        )
    wanted = {v["$PARAMETER"] for kw in kwargs for v in kw.values() if isinstance(v, dict) and "$PARAMETER" in v}
    unset = sorted(wanted - set(parameters))
    if unset:
        raise ValueError(f"suite parameter(s) {', '.join(unset)} of expectation suite {path} not given")


def _error_message(info: dict | None) -> str | None:
    """GX reports a crashed expectation either flat or keyed by metric id."""
    for entry in [info or {}, *(info or {}).values()]:
        if isinstance(entry, dict) and entry.get("raised_exception"):
            return str(entry.get("exception_message"))
    return None


def _predicate(kind: str, kwargs: dict) -> str:
    if kind.endswith("_to_be_between"):
        low, high = kwargs.get("min_value"), kwargs.get("max_value")
        if low is not None and high is not None:
            return f"between {_fmt(low)} and {_fmt(high)}"
        return f"at least {_fmt(low)}" if low is not None else f"at most {_fmt(high)}"
    if kind.endswith("_to_be_in_set"):
        return "in [" + ", ".join(_fmt(v) for v in kwargs["value_set"]) + "]"
    if kind.endswith("_to_not_be_null"):
        return "not null"
    short = kind.removeprefix("expect_").removeprefix("column_values_to_").removeprefix("be_")
    return short.replace("_", " ")


def _fmt(value: Any) -> str:
    if _is_null(value):
        return "null"
    if hasattr(value, "item"):  # numpy scalar -> Python
        value = value.item()
    if isinstance(value, float):
        return format(value, ".6g")
    return repr(value) if isinstance(value, str) else str(value)


def _row_key(value: Any, id_column: str) -> str:
    if _is_null(value):
        return f"<null {id_column}>"
    return str(value.item() if hasattr(value, "item") else value)


def _is_null(value: Any) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):  # not a scalar
        return False
