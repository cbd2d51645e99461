"""requirements-lock.txt pins every dependency pyproject.toml declares (core and every extra),
at a version its range admits, with hashes: a dependency added or re-ranged without
re-locking (scripts/lock.sh) fails here, before an install from the lock silently lacks it."""

from __future__ import annotations

import re
import tomllib

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.project import REPO

# The platform the lock is compiled for (scripts/lock.sh: --python-version 3.11, x86_64 manylinux).
LOCK_PLATFORM = {**default_environment(), "python_version": "3.11", "python_full_version": "3.11.0",
                 "sys_platform": "linux", "platform_system": "Linux", "platform_machine": "x86_64",
                 "os_name": "posix", "implementation_name": "cpython", "platform_python_implementation": "CPython"}
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==(\S+?)\s*(?:\\|;|$)")


def locked_pins(text: str) -> dict[str, tuple[str, int]]:
    """canonical name -> (pinned version, number of hashes), from a pip requirements file."""
    pins: dict[str, tuple[str, int]] = {}
    current = None
    for line in text.splitlines():
        match = PIN.match(line)
        if match:
            current = canonicalize_name(match.group(1))
            pins[current] = (match.group(2), 0)
        elif current and line.strip().startswith("--hash=sha256:"):
            version, hashes = pins[current]
            pins[current] = (version, hashes + 1)
        elif line and not line.startswith(" "):
            current = None
    return pins


def declared_requirements() -> list[tuple[str, Requirement]]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    declared = [("core", Requirement(text)) for text in project["dependencies"]]
    for extra, texts in project.get("optional-dependencies", {}).items():
        declared += [(extra, Requirement(text)) for text in texts]
    return declared


def unlocked(declared: list[tuple[str, Requirement]], pins: dict[str, tuple[str, int]]) -> list[str]:
    problems = []
    for group, requirement in declared:
        if requirement.marker is not None and not requirement.marker.evaluate({**LOCK_PLATFORM, "extra": group}):
            continue  # not installed on the locked platform
        pinned = pins.get(canonicalize_name(requirement.name))
        if pinned is None:
            problems.append(f"{requirement} ({group}): not in requirements-lock.txt")
        elif not requirement.specifier.contains(pinned[0], prereleases=True):
            problems.append(f"{requirement} ({group}): locked at {pinned[0]}, outside its range")
    return problems


def test_every_declared_dependency_is_locked_within_its_range():
    pins = locked_pins((REPO / "requirements-lock.txt").read_text())
    assert unlocked(declared_requirements(), pins) == [], "re-lock with scripts/lock.sh"


def test_every_locked_package_has_a_hash():
    pins = locked_pins((REPO / "requirements-lock.txt").read_text())
    assert len(pins) > 100  # the whole resolved set, not only the direct dependencies
    assert [name for name, (_, hashes) in pins.items() if hashes == 0] == []


@pytest.mark.parametrize(("requirement", "lock", "problem"), [
    ("numpy>=1.26", "pandas==3.1.1 \\\n    --hash=sha256:00\n", "not in requirements-lock.txt"),
    ("imbalanced-learn>=0.14,<0.15", "imbalanced-learn==0.15.0 \\\n    --hash=sha256:00\n", "outside its range"),
    ("torch==2.13.0", "torch==2.12.0+cpu \\\n    --hash=sha256:00\n", "outside its range"),
])
def test_a_dependency_missing_from_the_lock_or_outside_its_range_is_named(requirement, lock, problem):
    problems = unlocked([("core", Requirement(requirement))], locked_pins(lock))
    assert len(problems) == 1 and problem in problems[0] and Requirement(requirement).name in problems[0]


def test_a_local_build_and_a_normalised_name_satisfy_their_requirement():
    lock = "torch==2.13.0+cpu \\\n    --hash=sha256:00\nruamel-yaml-clib==0.2.14 \\\n    --hash=sha256:00\n"
    declared = [("generative", Requirement("torch==2.13.0")), ("core", Requirement("ruamel.yaml.clib>=0.2.8")),
                ("core", Requirement("pywin32>=300; sys_platform == 'win32'"))]
    assert unlocked(declared, locked_pins(lock)) == []
