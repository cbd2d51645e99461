"""What DVC knows: which stages are stale, and recording the stages that the
Prefect flow ran in-process (``dvc commit``), so that `augmill run` and
`dvc repro` agree on dvc.lock. DVC owns "what is up to date"; Prefect runs."""

from __future__ import annotations

from pathlib import Path


def open_repo(root: Path = Path(".")):
    from dvc.repo import Repo

    return Repo(str(root))


def records_version(params_file: str, overrides: list[str] | None) -> bool:
    """Whether a run's outputs are the version dvc.lock records: params.yaml as it is, in a DVC repo.
    With overrides or another params file the outputs do not match params.yaml, so they must not be recorded."""
    return (not overrides and Path(params_file).resolve() == Path("params.yaml").resolve()
            and Path("dvc.yaml").exists() and Path(".dvc").is_dir())


def declared_stages(names: tuple[str, ...], root: Path = Path(".")) -> tuple[str, ...]:
    """The stages among ``names`` that dvc.yaml declares, in order: a project made by `augmill init`
    has no demo stage, which must not run there. Without a dvc.yaml: all of them."""
    import yaml

    path = root / "dvc.yaml"
    if not path.exists():
        return names
    declared = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("stages", {})
    return tuple(name for name in names if name in declared)


class LazyRepo:
    """The workspace's DVC repo, opened (~0.5 s) the first time a run needs it: a run
    that finds everything up to date never does."""

    def __init__(self, root: Path = Path(".")):
        self.root, self._repo = root, None

    def get(self):
        if self._repo is None:
            self._repo = open_repo(self.root)
        return self._repo


def stale_stages(repo) -> list[str]:
    """The stages whose dependencies, outputs or params differ from dvc.lock now
    (one status of the whole graph: ~0.6 s, where one per stage costs ~0.25 s each)."""
    from dvc.exceptions import DvcException

    try:
        return sorted(name.split(":")[-1] for name in repo.status())
    except DvcException as error:
        hint = ("; DVC rewrites dvc.lock in place, so a run killed at that instant can leave it empty or cut "
                "short: restore it with `git checkout dvc.lock` (or delete it if it was never committed) "
                "and run again") if "dvc.lock" in str(error) else ""
        raise RuntimeError(f"DVC cannot tell which stages are stale: {error}{hint}") from error


def is_up_to_date(repo, stage: str) -> bool:
    return not repo.status(targets=[stage])


def record(repo, stages: list[str] | None = None) -> None:
    """Record stages in dvc.lock as they are on disk now. ``None``: the whole graph
    in one commit (~2 s, where one per stage costs ~0.7 s each), for when every
    stage is up to date or has just run; after a failure, only the stages that
    completed, one by one."""
    if stages is None:
        repo.commit(None, force=True, relink=False)  # no relinking: the workspace files equal the cached ones
    for stage in stages or []:
        repo.commit(stage, force=True)
