"""`augmill verify [REV]`: recompute a committed dataset version from scratch and say
whether it comes out byte-identical.

REV is checked out in a temporary git worktree, where nothing of this workspace is
reused: no .augmill memo, no DVC cache, no data. `augmill run --force` runs REV's own
code there with this machine's libraries; the output hashes of the dvc.lock it records
are compared with REV's committed dvc.lock (and the files REV commits in git), and when
they differ, REV's recorded environment with this one. The worktree is always removed.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from augmill.flows.versions import ENVIRONMENT_RECORD, LOCK_FILE, differing_outputs, output_hashes


def verify(rev: str = "HEAD", root: Path = Path("."), say: Callable[[str], None] = print) -> int:
    """0 when REV recomputes byte-identical, 1 when an output differs."""
    commit = _git(root, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}", what=f"{rev!r} is not a commit").strip()
    committed_lock = _committed_file(root, commit, LOCK_FILE)
    if committed_lock is None:
        raise ValueError(f"{rev} ({commit[:12]}) has no {LOCK_FILE}: it records no dataset version to verify")
    committed = output_hashes(committed_lock.decode("utf-8"))
    committed_files = _committed_md5s(root, commit, sorted({path for _, path in committed}))
    scratch = Path(tempfile.mkdtemp(prefix="augmill-verify-"))
    worktree = scratch / "worktree"
    try:
        _git(root, "worktree", "add", "--quiet", "--detach", str(worktree), commit, what="cannot make a worktree")
        say(f"augmill verify: recomputing {rev} ({commit[:12]}) in {worktree} from scratch (no memo, no DVC cache)")
        _recompute(worktree)
        recomputed = output_hashes((worktree / LOCK_FILE).read_text())
    finally:
        _git(root, "worktree", "remove", "--force", str(worktree), check=False)
        shutil.rmtree(scratch, ignore_errors=True)
        _git(root, "worktree", "prune", check=False)
    differences = differing_outputs(committed, recomputed, committed_files)
    if not differences:
        say(f"augmill verify: {rev} ({commit[:12]}) is byte-identical: {len(committed)} outputs")
        return 0
    say(f"augmill verify: {rev} ({commit[:12]}) is not reproduced here: {len(differences)} output(s) differ "
        "(stage path: committed -> recomputed)")
    for difference in differences:
        say(f"  {difference.describe()}")
    for line in environment_report(_committed_file(root, commit, ENVIRONMENT_RECORD)):
        say(line)
    return 1


def environment_report(recorded_bytes: bytes | None) -> list[str]:
    """What differs between a version's recorded environment and this process's."""
    from augmill.tasks.environment import describe_difference, differences, gather

    if recorded_bytes is None:
        return [f"environment: the version has no {ENVIRONMENT_RECORD} to compare with"]
    changed = differences(json.loads(recorded_bytes), gather())
    if not changed:
        return ["environment: the same as recorded (Python, libraries, codecs, CPU features)"]
    return ["environment: recorded -> here:", *(f"  {describe_difference(*item)}" for item in changed)]


def _recompute(worktree: Path) -> None:
    # REV's own code runs (its folder first on the path), on this interpreter and its libraries.
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(worktree), env.get("PYTHONPATH")]))
    # stdout to stderr: verify's own stdout is its verdict.
    result = subprocess.run([sys.executable, "-m", "augmill.flows.cli", "run", "--force"], cwd=worktree, env=env,
                            stdout=sys.stderr, stderr=sys.stderr)
    if result.returncode != 0:
        raise RuntimeError(f"recomputing the version failed (augmill run exited {result.returncode}; "
                           "its output is above)")


def _committed_file(root: Path, commit: str, path: str) -> bytes | None:
    result = subprocess.run(["git", "show", f"{commit}:{path}"], cwd=root, capture_output=True)
    return result.stdout if result.returncode == 0 else None


def _committed_md5s(root: Path, commit: str, paths: list[str]) -> dict[str, str]:
    """md5 of each of paths that REV tracks in git as a file (`cache: false` outputs)."""
    listed = _git(root, "ls-tree", "-r", "--name-only", commit, "--", *paths).splitlines() if paths else []
    return {path: hashlib.md5(_committed_file(root, commit, path) or b"").hexdigest() for path in listed}


def _git(root: Path, *args: str, check: bool = True, what: str = "") -> str:
    result = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True)
    if check and result.returncode != 0:
        detail = (result.stderr or result.stdout).strip()
        raise ValueError(f"{what or 'git ' + ' '.join(args) + ' failed'} in {root.resolve()}" + (f": {detail}" if detail else ""))
    return result.stdout
