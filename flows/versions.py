"""A dataset version's identity and comparing two of them: the output hashes dvc.lock
records, the committed files git tracks among those outputs, and the environment record
(reports/environment.json) written when a run records a new version.

The environment record is tracked by git and is no DVC output, so its bytes never enter
dvc.lock; it is rewritten only when a run changes dvc.lock's output hashes (a new
version). A run that reproduces the committed version (a fresh clone on another machine)
leaves it, like every other tracked file, untouched: `git status` stays clean.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

LOCK_FILE = "dvc.lock"
ENVIRONMENT_RECORD = "reports/environment.json"

OutputHashes = dict[tuple[str, str], str]  # (stage, output path) -> md5 as dvc.lock records it


@dataclass(frozen=True)
class OutputDifference:
    stage: str
    path: str
    committed: str | None  # None: not in that version
    recomputed: str | None
    source: str  # where the committed hash comes from: "dvc.lock", or "git" for the committed file itself

    def describe(self) -> str:
        where = "" if self.source == LOCK_FILE else " (the file committed in git)"
        return f"{self.stage} {self.path}: {self.committed or '(absent)'}{where} -> {self.recomputed or '(absent)'}"


def output_hashes(lock_text: str | None) -> OutputHashes:
    """Every output's hash in a dvc.lock's text (None or empty: no version recorded yet)."""
    lock = yaml.load(lock_text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)) if lock_text else None
    return {(stage, out["path"]): out["md5"]
            for stage, entry in ((lock or {}).get("stages") or {}).items() for out in entry.get("outs", [])}


def read_output_hashes(root: Path = Path(".")) -> OutputHashes:
    lock = root / LOCK_FILE
    return output_hashes(lock.read_text() if lock.exists() else None)


def differing_outputs(committed: OutputHashes, recomputed: OutputHashes,
                      committed_files: dict[str, str] | None = None) -> list[OutputDifference]:
    """What a recomputation changed. ``committed_files``: path -> md5 of the file the version
    commits in git (`cache: false` outputs): such a file can differ from what dvc.lock says
    (edited and committed by hand), and a clone then gets it, so it is compared too."""
    differences = [OutputDifference(stage, path, committed.get((stage, path)), recomputed.get((stage, path)), LOCK_FILE)
                   for stage, path in sorted(committed.keys() | recomputed.keys())
                   if committed.get((stage, path)) != recomputed.get((stage, path))]
    for (stage, path), md5 in sorted(recomputed.items()):
        in_git = (committed_files or {}).get(path)
        if in_git is not None and in_git != md5 and in_git != committed.get((stage, path)):
            differences.append(OutputDifference(stage, path, in_git, md5, "git"))
    return differences


def is_new_version(before: OutputHashes, after: OutputHashes) -> bool:
    """A run made a new version iff it changed an output hash dvc.lock records."""
    return before != after


def record_environment_if_new(before: OutputHashes, root: Path = Path(".")) -> bool:
    """Write the environment record when the run just recorded a new version (or the version has
    none yet); leave it alone when the run reproduced the recorded version. Returns whether it wrote."""
    record = root / ENVIRONMENT_RECORD
    if record.exists() and not is_new_version(before, read_output_hashes(root)):
        return False
    from augmill.tasks.environment import gather
    from augmill.tasks.io import write_json

    write_json(record, gather())
    return True
