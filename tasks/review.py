"""The human review step: what a reviewer decided about augmented samples, kept in
reviews/decisions.csv (tracked in git; a dependency of merge in dvc.yaml, so a review
is a new dataset version and `dvc repro` re-runs merge and evaluate only, plus bias,
which reads the label decisions below: a rejected variant leaves its plan as it was).

One row per decision, ``target,decision,note,reviewer,date``:
  target    the sample_id of an augmented sample, or ``op:NAME``: every variant whose ops contain NAME
  decision  ``reject`` or ``accept`` (accept undoes an earlier reject of the same target)
  date      YYYY-MM-DD

The last decision about a target wins, and a decision about a sample beats one about
its operators, so ``accept SAMPLE`` keeps one good variant of a rejected operator.
A review only removes variants: it never brings back a sample that failed validation.

Label decisions, about the bias stage's suspected label errors (reports/label_review.html),
name a train sample by its content, ``sha256:HEX`` (as reports/label_issues.csv lists it):
  ``relabel:LABEL`` the label is wrong, LABEL is right: the bias stage applies it (the raw
                    data is never edited) and every later stage sees LABEL;
  ``keep``          the label is right: no longer a suspect (augmented as any sample);
  ``confirm``       the label is wrong and there is no right one: quarantined (label_issue).
"""

from __future__ import annotations

import datetime
import getpass
import json
import re
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from augmill.tasks import paths
from augmill.tasks.io import read_parquet, write_csv

COLUMNS = ["target", "decision", "note", "reviewer", "date"]
DECISIONS = ("reject", "accept")
OP_PREFIX = "op:"
SHA_PREFIX = "sha256:"
LABEL_DECISIONS = ("keep", "confirm")
RELABEL_PREFIX = "relabel:"
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


class DecisionsError(ValueError):
    """reviews/decisions.csv is malformed or names something that does not exist; the message says where."""


def empty_decisions() -> pd.DataFrame:
    return pd.DataFrame(columns=[*COLUMNS, "line"])


def read_decisions(path: Path = paths.DECISIONS) -> pd.DataFrame:
    """The decisions, checked row by row, with the file's line number of each (for messages).
    A missing file means no decisions."""
    path = Path(path)
    if not path.exists():
        return empty_decisions()
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
    except pd.errors.EmptyDataError:
        raise DecisionsError(f"{path}: the file is empty; it needs at least the header {','.join(COLUMNS)}") from None
    except (UnicodeDecodeError, pd.errors.ParserError) as error:
        raise DecisionsError(f"{path}: cannot read as a UTF-8 CSV ({error})") from None
    if list(table.columns) != COLUMNS:
        raise DecisionsError(f"{path}: the header must be {','.join(COLUMNS)}, got {','.join(map(str, table.columns))}")
    table = table.apply(lambda column: column.str.strip())
    problems = []
    for line, row in enumerate(table.itertuples(index=False), start=2):
        where = f"{path}:{line}"
        if not row.target or row.target == OP_PREFIX:
            problems.append(f"{where}: empty target; give a sample_id or op:OPERATOR")
        if row.target.startswith(SHA_PREFIX):
            if not is_label_decision(row.decision):
                problems.append(f"{where}: decision {row.decision!r} about a train sample ({row.target}) must be "
                                f"one of {list(LABEL_DECISIONS)} or {RELABEL_PREFIX}LABEL")
        elif row.decision not in DECISIONS:
            problems.append(f"{where}: decision {row.decision!r} must be one of {list(DECISIONS)}")
        if not _valid_date(row.date):
            problems.append(f"{where}: date {row.date!r} must be YYYY-MM-DD")
    if problems:
        raise DecisionsError("\n".join(problems))
    return table.assign(line=range(2, len(table) + 2))


def is_label_decision(decision: str) -> bool:
    return decision in LABEL_DECISIONS or (decision.startswith(RELABEL_PREFIX) and bool(decision[len(RELABEL_PREFIX):]))


def label_decisions(decisions: pd.DataFrame, train: pd.DataFrame, classes: Iterable[str],
                    source: str = str(paths.DECISIONS)) -> dict[str, dict]:
    """sha256 -> the last label decision about it. Each names a train sample, and a relabel
    a class of the train split: a typo must not silently change nothing."""
    rows = decisions[decisions["target"].str.startswith(SHA_PREFIX)] if len(decisions) else decisions
    known, classes = set(train["sha256"]), sorted(classes)
    problems, last = [], {}
    for row in rows.itertuples(index=False):
        where, sha = f"{source}:{row.line}" if row.line else source, row.target.removeprefix(SHA_PREFIX)
        new_label = row.decision.removeprefix(RELABEL_PREFIX) if row.decision.startswith(RELABEL_PREFIX) else None
        if sha not in known:
            problems.append(f"{where}: {row.target!r} is not a train sample of this dataset (sha256 values are in "
                            f"{paths.LABEL_ISSUES} and {paths.LABEL_REVIEW_PAGE}); fix or remove the line")
        elif new_label is not None and new_label not in classes:
            problems.append(f"{where}: {row.decision!r}: {new_label!r} is not a class of the train split; "
                            f"classes: {classes}")
        else:
            last[sha] = {"decision": row.decision, "label": new_label, "reviewer": row.reviewer, "date": row.date,
                         "note": row.note}
    if problems:
        raise DecisionsError("\n".join(problems))
    return last


def _valid_date(text: str) -> bool:
    if not _DATE.fullmatch(text):
        return False
    try:
        datetime.date.fromisoformat(text)
    except ValueError:
        return False
    return True


def write_decisions(decisions: pd.DataFrame, path: Path = paths.DECISIONS) -> None:
    write_csv(decisions[COLUMNS], path)


def operator_names(ops_json: str) -> list[str]:
    return [op["name"] for op in json.loads(ops_json)]


def check_targets(decisions: pd.DataFrame, variants: pd.DataFrame, operators: Iterable[str],
                  source: str = str(paths.DECISIONS)) -> None:
    """Every target names an augmented sample of this dataset version or an operator of the
    modality: a typo must not silently reject nothing."""
    known_ids, operators = set(variants["sample_id"]), sorted(operators)
    problems = []
    for row in decisions.itertuples(index=False):
        where = f"{source}:{row.line}" if row.line else source
        if row.target.startswith(SHA_PREFIX):
            continue  # a label decision about a train sample: the bias stage checks it (label_decisions)
        if row.target.startswith(OP_PREFIX):
            if row.target.removeprefix(OP_PREFIX) not in operators:
                problems.append(f"{where}: {row.target!r}: unknown operator; operators: {operators}")
        elif row.target not in known_ids:
            problems.append(f"{where}: {row.target!r} is not an augmented sample of this dataset version "
                            f"(ids are in {paths.VALIDATED_MANIFEST} and the report's gallery); fix or remove the line")
    if problems:
        raise DecisionsError("\n".join(problems))


def rejected_variants(decisions: pd.DataFrame, variants: pd.DataFrame) -> dict[str, dict]:
    """sample_id -> the decision that rejects it, for each variant the decisions exclude."""
    last = {row["target"]: row for row in decisions.to_dict("records")}  # later rows overwrite earlier ones
    rejected = {}
    for sample_id, ops in zip(variants["sample_id"], variants["ops"], strict=True):
        if sample_id in last:
            if last[sample_id]["decision"] == "reject":
                rejected[sample_id] = last[sample_id]
            continue  # the sample's own decision beats its operators'
        for name in operator_names(ops):
            decision = last.get(OP_PREFIX + name)
            if decision is not None and decision["decision"] == "reject":
                rejected[sample_id] = decision
                break
    return rejected


def rejection_reason(sample_id: str, decision: dict) -> str:
    note = decision["note"] or "no note"
    return (f"{sample_id}: rejected in review ({decision['target']}) by {decision['reviewer'] or 'unknown'} "
            f"on {decision['date']}: {note}")


# ---- the `augmill review` command ----------------------------------------------

def _variants() -> pd.DataFrame:
    return read_parquet(paths.VALIDATED_MANIFEST, "validated manifest (run `dvc repro` or `augmill run` first)")


def _accepted(variants: pd.DataFrame) -> pd.DataFrame:
    # Only variants that passed validation can be removed by a review; the others are quarantined already.
    return variants[variants["status"] == "accepted"]


def modality_operators(modality: str) -> list[str]:
    from augmill.tasks.ops.registry import extra_operators_for, operators_for

    return sorted(operators_for(modality) | extra_operators_for(modality))  # op:mixup and op:paraphrase too


def add_decision(target: str, decision: str, note: str, reviewer: str, modality: str,
                 today: datetime.date | None = None, path: Path = paths.DECISIONS) -> pd.DataFrame:
    """Validate and append one decision; return the decisions as written."""
    decisions = read_decisions(path)
    row = {"target": target.strip(), "decision": decision, "note": note.strip(), "reviewer": reviewer.strip(),
           "date": (today or datetime.date.today()).isoformat(), "line": len(decisions) + 2}
    if decision not in DECISIONS:
        raise DecisionsError(f"decision {decision!r} must be one of {list(DECISIONS)}")
    variants = _variants()
    check_targets(pd.DataFrame([row | {"line": 0}]), variants, modality_operators(modality), f"augmill review {decision}")
    decisions = pd.concat([decisions, pd.DataFrame([row])], ignore_index=True)
    write_decisions(decisions, path)
    return decisions


def describe(decisions: pd.DataFrame, variants: pd.DataFrame | None) -> list[str]:
    """One line per decision, with how many variants of this version it rejects now."""
    if decisions.empty:
        return ["no review decisions yet"]
    rejected = rejected_variants(decisions, _accepted(variants)) if variants is not None else {}
    by_target: dict[str, int] = {}
    for decision in rejected.values():
        by_target[decision["target"]] = by_target.get(decision["target"], 0) + 1
    lines = []
    for row in decisions.itertuples(index=False):
        effect = f"{by_target.get(row.target, 0)} variant(s) rejected" if variants is not None else ""
        lines.append(f"{row.date}  {row.decision:<6}  {row.target}  by {row.reviewer or '?'}"
                     + (f"  ({row.note})" if row.note else "") + (f"  -> {effect}" if effect else ""))
    if variants is not None:
        lines.append(f"in all: {len(rejected)} of {len(_accepted(variants))} validated variants rejected by review")
    return lines


def add_label_decision(target: str, decision: str, note: str, reviewer: str, today: datetime.date | None = None,
                       path: Path = paths.DECISIONS) -> pd.DataFrame:
    """Validate (against the raw manifest's train samples) and append one label decision."""
    decisions = read_decisions(path)
    row = {"target": target.strip(), "decision": decision, "note": note.strip(), "reviewer": reviewer.strip(),
           "date": (today or datetime.date.today()).isoformat(), "line": len(decisions) + 2}
    if not row["target"].startswith(SHA_PREFIX) or not is_label_decision(decision):
        raise DecisionsError(f"augmill review: a label decision names a train sample as {SHA_PREFIX}HEX "
                             f"(reports/label_issues.csv) and is keep, confirm or relabel with --label; got "
                             f"{row['target']!r} {decision!r}")
    raw = read_parquet(paths.RAW_MANIFEST, "raw manifest (run `dvc repro` or `augmill run` first)")
    train = raw[(raw["status"] == "ok") & (raw["split"] == "train")]
    label_decisions(pd.DataFrame([row | {"line": 0}]), train, train["label"].astype(str).unique(), "augmill review")
    decisions = pd.concat([decisions, pd.DataFrame([row])], ignore_index=True)
    write_decisions(decisions, path)
    return decisions


def run_command(action: str, target: str | None, note: str, reviewer: str | None, modality: str,
                label: str | None = None) -> int:
    if action in ("relabel", "keep", "confirm"):
        if action == "relabel" and not label:
            raise DecisionsError("augmill review relabel: give the right label with --label LABEL")
        decision = f"{RELABEL_PREFIX}{label}" if action == "relabel" else action
        add_label_decision(target or "", decision, note, reviewer or getpass.getuser())
        print(f"{paths.DECISIONS}: {decision} {(target or '').strip()}. Run `dvc repro` (re-runs bias and what "
              f"follows), then commit {paths.DECISIONS} with dvc.lock: that commit is the new dataset version.")
        return 0
    if action == "list":
        variants = _variants() if paths.VALIDATED_MANIFEST.exists() else None
        print("\n".join(describe(read_decisions(), variants)))
        return 0
    if not target:
        raise DecisionsError(f"augmill review {action}: give a SAMPLE_ID or op:OPERATOR")
    decisions = add_decision(target, action, note, reviewer or getpass.getuser(), modality)
    affected = rejected_variants(decisions, _accepted(_variants()))
    count = sum(1 for d in affected.values() if d["target"] == target.strip())
    effect = f"{count} variant(s) now rejected by this line" if action == "reject" else f"{len(affected)} rejected in all"
    print(f"{paths.DECISIONS}: {action} {target.strip()} ({effect}). "
          f"Run `dvc repro` (re-runs bias, merge and evaluate), then commit {paths.DECISIONS} with dvc.lock: "
          "that commit is the new dataset version.")
    return 0
