"""`augmill init [PATH]`: a project, and a params.yaml that fits the user's data.

Run in an empty folder, or one holding only the user's dataset, it makes a new project
the way `dvc init` or `kedro new` would: git and DVC initialised, dvc.yaml, expectations/,
reviews/decisions.csv, .gitignore, the data versioned by DVC, all committed. Run where a
dvc.yaml already is (this repository), it writes params.yaml only.

The project's dvc.yaml is this repository's without two things: the demo stage (prepare
replaces data/raw, which must never touch a user's data) and the code dependencies
(tasks/..., flows/...). A user's project has no copy of the code: augmill is the installed package,
and a dependency on site-packages would be an absolute, machine-specific path that
changes dvc.lock from one machine to the next. After upgrading augmill, `augmill run
--force` re-runs every stage.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from importlib import resources
from pathlib import Path

import yaml

from augmill.tasks.inspect_data import Finding, InitError, inspect, visible_files

DATA_HOME = Path("data") / "input"  # where a dataset found at the project root is moved
# Never moved: what a project (or an earlier init) already holds.
PROJECT_FILES = {"params.yaml", "dvc.yaml", "dvc.lock", "expectations", "reviews", "reports", "data"}
GITIGNORE = """\
# Written by augmill init: outputs DVC caches, scratch space, and Python's own files.
__pycache__/
/data/interim/
/data/final/
/data/.tmp/
/.augmill/
/reports/gx_docs/
/reports/preview/
"""
PROJECT_NOTE = """\
# Made by `augmill init` from augmill's own dvc.yaml, with two things left out:
# - the demo stage `prepare` (it replaces data/raw; your data is never an output);
# - the code dependencies (tasks/..., flows/...): the code is the installed augmill package, and a path
#   into site-packages would differ between machines. After upgrading augmill: augmill run --force.
"""


def user_dvc_yaml(pipeline: str) -> str:
    """augmill's dvc.yaml for a user's project: no `prepare` stage, no code dependencies."""
    lines, kept, in_prepare = pipeline.splitlines(), [], False
    for line in lines:
        if line == "  prepare:":
            in_prepare = True
            continue
        if in_prepare:
            if line.startswith("  ") and not line.startswith("   "):  # the next stage (or its comment)
                in_prepare = False
            else:
                continue
        if line.strip().startswith(("- tasks/", "- flows/")):  # augmill's own code: the installed package
            continue
        kept.append(line)
    return PROJECT_NOTE + "\n".join(kept) + "\n"


def _flow(item) -> str:
    return yaml.safe_dump(item, default_flow_style=True, sort_keys=False, width=200).strip()


def _block(name: str, section: dict, comments: dict[str, str] | None = None) -> list[str]:
    comments = comments or {}
    lines = [f"{name}:"]
    for key, value in section.items():
        text = _flow(value) if isinstance(value, (dict, list)) else _flow(value).removesuffix("\n...")
        comment = f"   # {comments[key]}" if key in comments else ""
        lines.append(f"  {key}: {text}{comment}")
    return lines


def render_params(finding: Finding, raw_dir: str, source: str, workers: int) -> str:
    """A commented params.yaml for the finding; every key not written keeps its default (README's params table)."""
    data = {"modality": finding.modality, "raw_dir": raw_dir, **finding.data}
    if data.get("manifest_csv"):
        data["manifest_csv"] = f"{raw_dir}/{data['manifest_csv']}"
    lines = [f"# Written by `augmill init` for {source}. What it found, and why it chose what follows:",
             *[f"#   {line}" for line in finding.report],
             "# Edit freely: `augmill check` validates this file, and a wrong key, type or range stops a run",
             "# before any work. Keys not written here keep their defaults (README, Parameters).",
             "seed: 42", ""]
    data["max_image_pixels"] = 40_000_000  # dvc.yaml tracks it for every modality
    data.setdefault("targets", "none")  # dvc.yaml tracks it too
    split_comment = ("val/test drawn from the train split by these fractions (per class, seeded)"
                     if data.get("split", {}).get("resplit_train") else "train/val/test fractions where the input has none")
    lines += _block("data", data, {"raw_dir": "your dataset", "split": split_comment,
                                   "manifest_csv": "a CSV path,label[,split] (paths relative to raw_dir)",
                                   "max_image_pixels": "decompression-bomb guard per image",
                                   "targets": "none | coco | yolo | voc | masks: boxes and masks inside the images"})
    lines += ["", "prepare:", "  dataset: none   # no bundled demo: the data is yours", ""]
    if finding.section:
        lines += _block(finding.modality, finding.section) + [""]
    lines += ["bias:", "  policy: rebalance   # rebalance | report | fail: augmentation goes to the rarer classes first", ""]
    augment = {"factor": 2.0, "max_variants_per_source": 10, **finding.augment}
    lines += ["augment:", f"  factor: {augment['factor']}   # the train split grows to factor x its size",
              f"  max_variants_per_source: {augment['max_variants_per_source']}",
              "  image_format: keep   # image only: keep | png | jpeg | webp", "  jpeg_quality: 95",
              "  min_visibility: 0.25   # data.targets: an object cut below this share of itself is dropped",
              "  min_area: 4.0   # ... or below this many pixels",
              "  # Ordered; each operator fires with probability p and draws its parameters from the ranges.",
              "  policy:", *[f"    - {_flow(op)}" for op in finding.policy], ""]
    lines += ["execution:   # how to run, not what to make: outputs do not depend on it",
              f"  workers: {workers}", ""]
    return "\n".join(lines + _tracked_defaults(finding.modality if finding.section else None))


def _tracked_defaults(written: str | None) -> list[str]:
    """The sections dvc.yaml tracks that init chose nothing for, at their defaults: DVC needs every
    param a stage lists to be in params.yaml, and written out they show what can be tuned."""
    from augmill.tasks.modalities import MODALITIES
    from augmill.tasks.params import Params

    defaults = Params.model_validate({"seed": 0, "augment": {"policy": [{"name": "x"}]}}).model_dump(by_alias=True,
                                                                                                 mode="json")
    lines = ["# Defaults of the other sections the pipeline tracks (README, Parameters, says what each does)."]
    for section in ("explore", "synthesize", "validate", "evaluate", "tune", "review"):  # tune: augment tracks it (auto)
        body = yaml.safe_dump({section: defaults[section]}, sort_keys=False, default_flow_style=False, width=120)
        lines += [body.rstrip(), ""]
    lines += ["# Modality sections: only the one named by data.modality is read (an empty one: its defaults).",
              *[f"{name}: {{}}" for name in MODALITIES if name not in ("image", written)], ""]
    return lines


def _at_project_root(target: Path, project: Path) -> bool:
    return (target if target.is_dir() else target.parent) == project


def _move_into_project(target: Path, project: Path) -> list[str]:
    """A dataset found at the project root goes to data/input/: a stage cannot depend on the
    folder that holds its own outputs. Returns what was moved."""
    home = project / DATA_HOME
    home.mkdir(parents=True, exist_ok=True)
    if target.is_file():
        entries = [target]
    else:
        entries = [p for p in sorted(project.iterdir()) if not p.name.startswith(".") and p.name not in PROJECT_FILES]
    for entry in entries:
        shutil.move(str(entry), str(home / entry.name))
    return [p.name for p in entries]


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    result = subprocess.run(args, cwd=cwd, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(args[:3])} failed: {(result.stderr or result.stdout).strip().splitlines()[-1:]}")
    return result


def _write_project_files(project: Path) -> None:
    package = resources.files("augmill.tasks") / "project"
    (project / "dvc.yaml").write_text(user_dvc_yaml((package / "pipeline.dvc.yaml").read_text(encoding="utf-8")),
                                      encoding="utf-8")
    expectations = project / "expectations"
    expectations.mkdir(exist_ok=True)
    for suite in (package / "expectations").iterdir():
        if suite.name.endswith(".json"):
            (expectations / suite.name).write_text(suite.read_text(encoding="utf-8"), encoding="utf-8")
    from augmill.tasks.review import COLUMNS

    (project / "reviews").mkdir(exist_ok=True)
    decisions = project / "reviews" / "decisions.csv"
    if not decisions.exists():
        decisions.write_text(",".join(COLUMNS) + "\n", encoding="utf-8")
    gitignore = project / ".gitignore"
    if not gitignore.exists():
        gitignore.write_text(GITIGNORE, encoding="utf-8")


def init(target: Path, project: Path, force: bool = False, label_column: str | None = None,
         text_column: str | None = None, workers: int = 2) -> list[str]:
    """Inspect ``target``, write the project at ``project``; return the lines to print."""
    params_path = project / "params.yaml"
    if params_path.exists() and not force:
        raise InitError(f"{params_path} exists: augmill init --force replaces it (a copy is kept as params.yaml.bak)")
    target, project = target.resolve(), project.resolve()
    if target == project and (project / "dvc.yaml").exists():
        if not (project / DATA_HOME).is_dir():  # this folder is a project, not a dataset
            raise InitError(f"{project} is already a project (dvc.yaml): give the dataset's path, augmill init PATH")
        target = project / DATA_HOME  # where an earlier init put the data
    finding = inspect(target, label_column, text_column)
    new_project = not (project / "dvc.yaml").exists()
    out = [f"augmill init: {target}", *[f"  {line}" for line in finding.report]]
    raw_dir = finding.raw_dir
    if new_project and _at_project_root(target, project):
        moved = _move_into_project(target, project)
        raw_dir = project / DATA_HOME
        out.append(f"  moved {', '.join(moved[:5])}{' ...' if len(moved) > 5 else ''} into {DATA_HOME}/ "
                   "(a stage cannot depend on the folder that holds its outputs)")
    raw_text = raw_dir.relative_to(project).as_posix() if raw_dir.is_relative_to(project) else str(raw_dir)
    if params_path.exists():
        shutil.copy(params_path, project / "params.yaml.bak")
    params_path.write_text(render_params(finding, raw_text, str(target), workers), encoding="utf-8")
    from augmill.tasks.params_load import load_params

    load_params(params_path)  # what init writes must pass the check a run makes
    if not new_project:
        out.append(f"wrote {params_path} (dvc.yaml was already here: left as it is)")
        return out
    _write_project_files(project)
    dvc = [sys.executable, "-m", "dvc"]
    if not (project / ".git").exists():
        _run(["git", "init", "-q"], project)
    if not (project / ".dvc").exists():
        _run([*dvc, "init", "-q"], project)
        _run([*dvc, "config", "core.analytics", "false"], project)  # augmill runs offline: nothing phones home
    versioned = ""
    if raw_dir.is_relative_to(project) and visible_files(raw_dir):
        _run([*dvc, "add", "-q", raw_text], project)
        versioned = f"; {raw_text} versioned by DVC ({raw_text}.dvc)"
    _run(["git", "add", "-A"], project)
    committed = subprocess.run(["git", "commit", "-q", "-m", "augmill init"], cwd=project, capture_output=True, text=True)
    out.append(f"made a project in {project}: params.yaml, dvc.yaml, expectations/, reviews/decisions.csv, .gitignore; "
               f"git and DVC initialised{versioned}"
               + ("; committed" if committed.returncode == 0 else "; not committed (set git user.name/user.email, then commit)"))
    out.append("next: augmill run    (then open reports/index.html; `augmill preview` shows the policy on a few samples)")
    return out
