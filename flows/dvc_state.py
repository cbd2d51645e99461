"""What DVC knows: which stages are up to date, and recording a stage that
the Prefect flow ran in-process (``dvc commit``), so that `augmill run` and
`dvc repro` agree on dvc.lock. DVC owns "what is up to date"; Prefect runs."""

from __future__ import annotations

from pathlib import Path


def open_repo(root: Path = Path(".")):
    """The DVC repo at root with a dvc.yaml, or None (then every stage runs)."""
    if not (root / "dvc.yaml").exists() or not (root / ".dvc").is_dir():
        return None
    from dvc.repo import Repo

    return Repo(str(root))


def is_up_to_date(repo, stage: str) -> bool:
    return not repo.status(targets=[stage])


def record(repo, stage: str) -> None:
    repo.commit(stage, force=True)
