"""Memo keys cover everything that shapes the bytes: the code (a pattern that matches no
file is an error, not an empty hash) and the installed library versions (an upgrade
between two runs recomputes every memoized result instead of reusing the old ones).

The upgrade is simulated the way an installer records one: a `*.dist-info` folder with
another version of opencv-python-headless, on PYTHONPATH ahead of site-packages, so
importlib.metadata (which reads what pip and uv write) reports that version. The library
itself stays the same, so the test also shows that the recomputed outputs are byte-identical.
A second virtualenv with a real other OpenCV would need a ~60 MB download per CI run and
the network, for the same observation of the key."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from augmill.tasks.cache import CACHE_ROOT, code_version, library_versions
from tests.project import environment, lock_out_hashes, new_project, run

UPGRADED = "opencv-python-headless"


def fake_installed_version(folder: Path, distribution: str, version: str) -> Path:
    """A dist-info as an installer writes it, for ``distribution`` at ``version``."""
    info = folder / f"{distribution.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {distribution}\nVersion: {version}\n")
    return folder


def with_upgrade(folder: Path) -> dict:
    env = environment()
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(folder), env.get("PYTHONPATH", "")) if p)
    return env


def test_code_version_raises_naming_a_pattern_that_matches_no_file():
    with pytest.raises(FileNotFoundError, match=r"'ops/no_such_module\*\.py' matches no file"):
        code_version("ops/base.py", "ops/no_such_module*.py")
    assert code_version("ops/base.py") != code_version("ops/base.py", "ops/policy.py")


def test_library_versions_reports_the_installed_version_and_native_libraries(tmp_path):
    import soundfile
    from PIL import features

    versions = library_versions("pillow", "soundfile", UPGRADED)
    assert versions["soundfile:libsndfile"] == soundfile.__libsndfile_version__
    assert versions["pillow:libjpeg"] == features.version("jpg")
    script = f"from augmill.tasks.cache import library_versions; print(library_versions({UPGRADED!r})[{UPGRADED!r}])"
    upgraded = subprocess.run([sys.executable, "-c", script], env=with_upgrade(fake_installed_version(
        tmp_path, UPGRADED, "99.1.0")), capture_output=True, text=True, check=True)
    assert upgraded.stdout.strip() == "99.1.0" != versions[UPGRADED]
    with pytest.raises(ModuleNotFoundError, match="no-such-distribution is not installed"):
        library_versions("no-such-distribution")


def memo_entries(root: Path) -> dict[str, int]:
    """Entries per memo: one value.json per item (explore, augment, validate); evaluate keeps
    one folder of packs per salt."""
    base = root / CACHE_ROOT
    counts = {stage: sum(1 for _ in (base / stage).rglob("value.json")) for stage in ("explore", "augment", "validate")}
    counts["evaluate"] = sum(1 for path in (base / "evaluate").iterdir() if path.is_dir())
    return counts


@pytest.mark.e2e
def test_a_library_upgrade_between_two_runs_recomputes_every_memo(tmp_path):
    project = new_project(tmp_path / "project")
    run(["dvc", "repro"], project)
    first, recorded = memo_entries(project), lock_out_hashes(project)
    assert all(first.values()), first

    # Control: a forced run with the same libraries finds every result in the memo.
    run(["dvc", "repro", "--force"], project)
    assert memo_entries(project) == first

    upgrade = fake_installed_version(tmp_path / "upgrade", UPGRADED, "99.0.0")
    result = subprocess.run(["dvc", "repro", "--force"], cwd=project, env=with_upgrade(upgrade), capture_output=True,
                            text=True, timeout=900)
    assert result.returncode == 0, result.stdout + result.stderr
    # Every memo computed its results again, under new keys; none was reused.
    assert memo_entries(project) == {stage: 2 * count for stage, count in first.items()}
    # The library did not really change, so neither did the bytes.
    assert lock_out_hashes(project) == recorded
