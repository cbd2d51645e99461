"""augmill installs as one package, `augmill`, whose subpackages are the repository's tasks/
and flows/ folders. A user's project root comes first on sys.path (`python -m`, pytest's
pythonpath, Prefect's entrypoints), so a user's own tasks.py or flows/ folder must not hide
augmill's code, and every package folder must be in the wheel."""
import subprocess
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_every_package_folder_is_installed():
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    folders = {f"augmill.{init.parent.relative_to(REPO).as_posix().replace('/', '.')}"
               for root in ("tasks", "flows") for init in (REPO / root).rglob("__init__.py")}
    assert set(config["packages"]) == folders
    assert config["package-dir"] == {"augmill.tasks": "tasks", "augmill.flows": "flows"}


def test_a_users_own_tasks_and_flows_do_not_hide_augmill(tmp_path):
    (tmp_path / "augmill.tasks.py").write_text("raise SystemExit('the user tasks.py was imported')\n")
    (tmp_path / "flows").mkdir()
    (tmp_path / "flows" / "__init__.py").write_text("raise SystemExit('the user flows/ was imported')\n")
    probe = ("import augmill.flows.cli, augmill.tasks.params, sys; "
             "print(augmill.tasks.params.__file__); print(sys.path[0] == '')")
    # python -c puts the current folder (the user's project) first on sys.path, as `python -m` does
    result = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, check=True)
    params_file, cwd_first = result.stdout.split()
    assert Path(params_file) == REPO / "tasks" / "params.py"
    assert cwd_first == "True"
