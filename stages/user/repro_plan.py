"""What `spam repro` hands to `dvc repro` when some encoders' models cannot be loaded here.

An encoder is left out only when all three hold: its model cannot be loaded, its featurize outputs are not
up to date here, and they cannot be pulled from the DVC remote. Vectors already here or pullable are used.
Leaving out never edits params.yaml: `dvc repro` gets explicit targets, every pipeline stage except the
left-out featurize stages and the stages downstream of them (their train/evaluate, and compare and report,
which `spam repro` then runs alone, over what evaluate has scored). A concat featurizer built on a left-out
encoder is left out with it: its featurize stage depends on the encoder's features, so it waits too.
"""

from __future__ import annotations

import contextlib
import logging
import socket
from dataclasses import dataclass, field
from pathlib import Path

from stages.common.errors import StageError


def featurize_stage(name: str) -> str:
    return f"featurize@{name}"


@dataclass
class ReproPlan:
    left_out: list[str] = field(default_factory=list)  # encoders this run leaves out
    built_on_left_out: list[str] = field(default_factory=list)  # concat featurizers left out with their parts
    pulled: list[str] = field(default_factory=list)  # encoders whose vectors came from the DVC remote
    waiting: list[str] = field(default_factory=list)  # stages that wait for the left-out encoders
    targets: list[str] = field(default_factory=list)  # for `dvc repro`; empty: the whole pipeline


def _up_to_date(stage, upstream: list) -> bool:
    """DVC's own test, as `dvc repro --pull` makes it: nothing changed but data that is missing here."""
    return not any(s.changed(allow_missing=True) for s in [*upstream, stage])


def _has_outputs(stage) -> bool:
    return not stage.changed_outs(allow_missing=False)


class _CorruptObjects(logging.Handler):
    """The objects that DVC's verify (`verify = true`) found corrupt and dropped: it says so at DEBUG only."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.md5s: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.msg.startswith("corrupted cache file") and record.args:
            path = Path(str(record.args[0]))
            self.md5s.append(path.parent.name + path.name)  # files/md5/XX/YYYY... -> XXYYYY...


def _files_of(stage, md5s: list[str]) -> list[str]:
    """The workspace paths that `md5s` stand for in the stage's outputs (a directory's manifest names them)."""
    import json

    named = []
    for out in stage.outs:
        value = out.hash_info.value or ""
        if not value.endswith(".dir"):
            named += [str(out)] * (value in md5s)
            continue
        with contextlib.suppress(OSError, ValueError):
            entries = json.loads(Path(out.cache.oid_to_path(value)).read_text())
            named += [f"{out}/{e['relpath']}" for e in entries if e.get("md5") in md5s]
    return named or [str(out) for out in stage.outs]


def _quiet_pull(repo, stage) -> bool:
    """`dvc pull STAGE`; False when there is no remote or it lacks the outputs (DVC's errors silenced). A remote
    copy that fails verification is no such answer: a StageError names its file, as nothing can replace it."""
    from dvc.exceptions import DvcException

    dvc_logger = logging.getLogger("dvc")
    level = dvc_logger.level
    dvc_logger.setLevel(logging.CRITICAL)  # a failed pull is an answer here, not an error
    data_logger = logging.getLogger("dvc_data")
    corrupt, data_level = _CorruptObjects(), data_logger.level
    data_logger.addHandler(corrupt)
    data_logger.setLevel(logging.DEBUG)
    try:
        repo.pull(targets=[stage.addressing])
        return True
    except DvcException:
        if corrupt.md5s:
            raise StageError(
                f"{', '.join(_files_of(stage, corrupt.md5s))} on the DVC remote failed verification (its md5 is "
                "not the one in dvc.lock), so it was not used: push a good copy from a clone that has it "
                "(`spam push`), or make the model loadable here so that spam repro recomputes it"
            ) from None
        return False
    finally:
        dvc_logger.setLevel(level)
        data_logger.removeHandler(corrupt)
        data_logger.setLevel(data_level)


REMOTE_DEADLINE = 5.0  # seconds the DVC remote gets to answer before spam repro goes on without pulling
DEFAULT_PORTS = {"ssh": 22, "http": 80, "https": 443, "webdav": 80, "webdavs": 443}


def _default_remote() -> dict | None:
    """The default DVC remote's config section (`url` resolved), None when there is none."""
    from dvc.config import Config
    from dvc.exceptions import DvcException

    try:
        config = Config.from_cwd()  # `~` and relative paths come back resolved
    except DvcException as exc:  # a broken .dvc/config (outside a project it reads the global config alone)
        raise StageError(str(exc)) from None
    name = config["core"].get("remote")
    return dict(config["remote"][name]) if name else None


def remote_worth_pulling() -> bool:
    """False when the default DVC remote is a local directory that holds nothing yet (as on a fresh clone):
    `dvc repro --pull` would then only warn, stage after stage, that each output is on no remote. No default
    remote: False. Any other remote (ssh://, s3://, ...): True, without asking it."""
    remote = _default_remote()
    if remote is None:
        return False
    url = remote["url"]
    if "://" in url:
        return True
    return any(path.is_file() for path in Path(url).rglob("*"))  # stops at the first file


def outputs_missing(repo) -> bool:
    """Whether an output that dvc.lock records is not here: only then can a run need the remote (an
    unreachable ssh:// remote made `dvc repro --pull` fail on a project with every output here)."""
    outs = [out for stage in repo.index.stages for out in stage.outs if out.use_cache]
    return any(out.hash_info.value and not out.exists for out in outs)


def unanswered_remote(deadline: float = REMOTE_DEADLINE) -> str | None:
    """`host:port` of the default remote when it does not answer within `deadline` seconds (refused, or
    accepted and silent: DVC waited 126 s on one); None when it answers or cannot be asked here (a local
    path, a bucket whose endpoint its client picks, a host only ~/.ssh/config knows)."""
    from urllib.parse import urlsplit

    remote = _default_remote()
    parts = urlsplit(remote["url"]) if remote else None
    if parts is None or not parts.hostname:
        return None
    port = remote.get("port") or parts.port or DEFAULT_PORTS.get(parts.scheme)
    if port is None:
        return None
    where = f"{parts.hostname}:{port}"
    try:
        with socket.create_connection((parts.hostname, port), timeout=deadline) as sock:
            # An SSH server speaks first (its version banner): a silent one would hold DVC without a deadline
            if parts.scheme == "ssh" and not sock.recv(4):
                return where
    except socket.gaierror:
        return None
    except OSError:  # refused, unreachable, or no banner in time (TimeoutError)
        return where
    return None


def _plan(
    repo,
    unloadable: list[str],
    targets: list[str],
    concats: dict[str, list[str]],
    pull: bool,
) -> ReproPlan:
    import networkx as nx
    from dvc.stage import PipelineStage

    plan = ReproPlan()
    graph = repo.index.graph  # edges point from a stage to the stages it depends on
    stages = {s.addressing: s for s in graph if isinstance(s, PipelineStage)}
    for name in unloadable:
        stage = stages[featurize_stage(name)]
        upstream = [s for s in nx.descendants(graph, stage) if isinstance(s, PipelineStage)]
        fresh = _up_to_date(stage, upstream)  # missing outputs do not count, so a pull cannot change it
        if pull and fresh and not _has_outputs(stage) and _quiet_pull(repo, stage):
            plan.pulled.append(name)
        if not (fresh and _has_outputs(stage)):
            plan.left_out.append(name)
    plan.pulled = [name for name in plan.pulled if name not in plan.left_out]
    plan.built_on_left_out = [name for name, parts in concats.items() if set(parts) & set(plan.left_out)]
    waiting = set()
    for name in plan.left_out:
        stage = stages[featurize_stage(name)]
        waiting |= {stage.addressing} | {s.addressing for s in nx.ancestors(graph, stage)}
    plan.waiting = [address for address in stages if address in waiting]
    if waiting and not targets:
        plan.targets = [address for address in stages if address not in waiting]
    else:
        plan.targets = targets
    return plan


@contextlib.contextmanager
def dvc_project(root: str = "."):
    """DVC's Repo of the project, under DVC's own lock (its stage checks require it); DVC's errors as one
    StageError line. spam repro asks all its questions in one of these, then lets `dvc repro` run."""
    from dvc.exceptions import DvcException, NotDvcRepoError
    from dvc.lock import LockError
    from dvc.repo import Repo, lock_repo

    try:
        with Repo(root) as repo, lock_repo(repo):
            yield repo
    except LockError as exc:
        raise StageError(f"{exc}; wait for the other dvc command in this project to finish") from None
    except NotDvcRepoError as exc:
        raise StageError(f"{exc}: run spam repro in the project's folder, where dvc.yaml is") from None
    except DvcException as exc:  # e.g. a broken .dvc/config: DVC's message names it
        raise StageError(str(exc)) from None


def plan_repro(
    repo,
    unloadable: list[str],
    targets: list[str] | None = None,
    concats: dict[str, list[str]] | None = None,
    pull: bool = True,
) -> ReproPlan:
    """Which of the `unloadable` encoders can still take part (vectors here or pulled), and the targets.

    `concats`: each concat featurizer's parts (Params.concat_parts); those built on a left-out encoder are
    left out with it (ReproPlan.built_on_left_out). `pull`: False when the remote is not to be asked (it did
    not answer in time).
    """
    if not unloadable:
        return ReproPlan(targets=list(targets or []))
    return _plan(repo, unloadable, list(targets or []), dict(concats or {}), pull)


def nothing_to_run(repo, plan: ReproPlan) -> bool:
    """True when `dvc repro` would run nothing: every stage it would reach (the plan's targets and what they
    depend on; all stages when there are none) is unchanged, outputs here included. With encoders left out,
    compare and report (run alone afterwards) must be unchanged too. DVC's own check, as `dvc status`."""
    import networkx as nx
    from dvc.stage import PipelineStage

    graph = repo.index.graph
    stages = [s for s in graph if isinstance(s, PipelineStage)]
    if plan.targets:
        chosen = {s for s in stages if s.addressing in plan.targets}
        if len(chosen) < len(set(plan.targets)):  # a target that is no stage name: let dvc say so
            return False
        reached = chosen | {s for stage in chosen for s in nx.descendants(graph, stage)}
    else:
        reached = set(stages)
    if plan.left_out:
        reached |= {s for s in stages if s.addressing in ("compare", "report")}
    return not any(stage.changed() for stage in reached if isinstance(stage, PipelineStage))
