"""The monthly job's own logic: what to run, what to skip, who may publish, what to report.

The Prefect flows in ``flows/`` only wire stages together; every decision they need lives here
as a plain function, so it can be tested without Prefect and reused by any other scheduler:

* :func:`retrain_due` — is the champion old enough (``schedule.retrain_every_months``), or has the
  population drifted from its training data (:func:`riskstrat.audit.month.champion_drift`), to retrain?
* :func:`fingerprint`, :func:`step_is_current`, :func:`record_step` — a step whose inputs hash
  the same as when it last finished, and whose outputs are still the bytes it wrote, is skipped;
* :class:`MonthLock` — one run per month at a time: an ``O_CREAT|O_EXCL`` lock file that a
  crashed run's successor can break;
* :func:`delivery_problems` — the month's refused or missing deliveries, which stop the run;
* :class:`MonthSummary` — what the run did, as CLI lines and as the Markdown of the Prefect artifact.

Job state sits in ``W/.riskstrat/monthly/`` (locks and step records); deleting it is safe: the
next run redoes every step and, inputs being equal, writes the same outputs.
Nothing here logs or returns member-level data: only counts, file names, rules and model ids.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from riskstrat.config import Settings
from riskstrat.provenance import sha256_file

STATE_DIR = Path(".riskstrat") / "monthly"
_PACKAGE_DIR = Path(__file__).resolve().parent
_CONTRACTS_DIR = _PACKAGE_DIR.parents[1] / "data_contracts"
# Suffixes of the files whose content decides what the pipeline computes (code, SQL, code sets, contracts).
_CODE_SUFFIXES = (".py", ".sql", ".csv", ".yaml", ".yml", ".json", ".html", ".jinja", ".md")


class MonthlyError(RuntimeError):
    """The monthly job cannot go on; the message is one line naming the step's reason."""


class DeliveryRefused(MonthlyError):
    """The month's delivery broke a delivery rule: the run stops with that delivery's reason."""


class MonthBusy(MonthlyError):
    """Another run of the same month holds its lock."""


class MonthlyRunFailed(MonthlyError):
    """A monthly run stopped; carries its :class:`MonthSummary` so callers can show what was done."""

    def __init__(self, summary: "MonthSummary"):
        super().__init__(f"{summary.month} failed at {summary.failed_step}: {summary.failure}")
        self.summary = summary

    def __reduce__(self):
        return (type(self), (self.summary,))


# --------------------------------------------------------------------------------------------
# Months


def month_index(month: str) -> int:
    """Months since year 0, so that month arithmetic is integer arithmetic."""
    year, mon = month.split("-")
    return int(year) * 12 + int(mon) - 1


def add_months(month: str, k: int) -> str:
    """``month`` shifted by ``k`` months."""
    i = month_index(month) + k
    return f"{i // 12:04d}-{i % 12 + 1:02d}"


def months_apart(earlier: str, later: str) -> int:
    """``later - earlier`` in whole months (negative when ``later`` is earlier)."""
    return month_index(later) - month_index(earlier)


# --------------------------------------------------------------------------------------------
# Retraining


@dataclass(frozen=True)
class RetrainDecision:
    """Whether to retrain, the reason in one sentence, and the champion it was judged against."""

    due: bool
    reason: str
    champion: str | None = None
    champion_as_of: str | None = None


def retrain_decision(month: str, champion: str | None, champion_as_of: str | None, every_months: int,
                     drift: str | None = None) -> RetrainDecision:
    """Whether to retrain before scoring ``month``, and why, in one sentence.

    Retrain when there is no champion, when the champion's as-of month is ``every_months`` or
    more months before ``month``, or when ``drift`` — the numbers of a drift that calls for a
    retrain (:func:`riskstrat.audit.month.drift_decision`), None when there is none — says the
    population moved. A champion newer than the month being run is kept: retraining on less data
    than it saw would only make a worse model.
    """
    if champion is None or champion_as_of is None:
        return RetrainDecision(True, "no champion model yet")
    age = months_apart(champion_as_of, month)
    if age < 0:
        return RetrainDecision(False, f"champion {champion} (as of {champion_as_of}) is newer than {month}; kept",
                               champion, champion_as_of)
    if drift:
        return RetrainDecision(True, f"drift since champion {champion} (as of {champion_as_of}): {drift}",
                               champion, champion_as_of)
    if age >= every_months:
        return RetrainDecision(True, f"champion {champion} is {age} months old (retrain every {every_months})",
                               champion, champion_as_of)
    return RetrainDecision(False, f"champion {champion} is {age} month{'s' if age != 1 else ''} old "
                                  f"(retrain every {every_months})", champion, champion_as_of)


def retrain_due(workspace: Path | str, month: str, settings: Settings, drift: str | None = None) -> RetrainDecision:
    """:func:`retrain_decision` for the workspace's current champion and ``schedule.retrain_every_months``."""
    from riskstrat import registry

    champion = registry.champion_id(Path(workspace))
    as_of = registry.load_model(Path(workspace), champion).design.as_of if champion else None
    return retrain_decision(month, champion, as_of, settings.schedule.retrain_every_months, drift)


# --------------------------------------------------------------------------------------------
# Input hashing and step records


def fingerprint(value: Any) -> str:
    """sha256 of ``value`` as canonical JSON: equal inputs, equal fingerprint, whatever the dict order."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def tree_digest(root: Path | str) -> dict[str, str]:
    """``{relative path: sha256}`` of every file under ``root`` (empty when it does not exist)."""
    root = Path(root)
    if not root.is_dir():
        return {}
    return {p.relative_to(root).as_posix(): sha256_file(p) for p in sorted(root.rglob("*")) if p.is_file()}


def code_digest() -> str:
    """One hash over riskstrat's code, SQL, code sets and data contracts.

    A git commit would miss uncommitted edits, and a version number is not bumped for every
    change; the files themselves are what decide the outputs.
    """
    digest = hashlib.sha256()
    for root in (_PACKAGE_DIR, _CONTRACTS_DIR):
        if not root.is_dir():
            continue
        for path in sorted(root.rglob("*")):
            if path.is_file() and path.suffix in _CODE_SUFFIXES and "__pycache__" not in path.parts:
                digest.update(path.relative_to(root).as_posix().encode())
                digest.update(sha256_file(path).encode())
    return digest.hexdigest()


def lake_digest(workspace: Path | str, month: str) -> str:
    """One hash over every lake partition delivered up to ``month`` (what train and score read)."""
    lake = Path(workspace) / "lake"
    files = {}
    if lake.is_dir():
        for path in sorted(lake.glob("*/delivery_month=*/*.parquet")):
            if path.parent.name.split("=", 1)[1] <= month:
                files[path.relative_to(lake).as_posix()] = sha256_file(path)
    return fingerprint(files)


def train_inputs(workspace: Path | str, month: str, settings: Settings) -> str:
    """Fingerprint of what a training run as of ``month`` reads: the lake, the model settings, the code."""
    return fingerprint({"lake": lake_digest(workspace, month), "model": settings.model.model_dump(mode="json"),
                        "code": code_digest()})


def score_inputs(workspace: Path | str, month: str, settings: Settings, model_id: str | None) -> str:
    """Fingerprint of what scoring ``month`` reads: the lake, the model, last month's scores, settings, code.

    Last month's scores are an input because the report shows what changed since them; last
    month's audit (its run.json: drift profile, judged months) because drift is measured against
    it and its judgements are reused; every published
    month up to ``month`` because the report judges those that have matured.
    """
    from riskstrat.audit.month import previous_audit

    ws = Path(workspace)
    previous = ws / "outputs" / add_months(month, -1) / "scores.parquet"
    earlier = ws / "outputs"
    published = {p.parent.name: sha256_file(p) for p in sorted(earlier.glob("*/scores.parquet")) if p.parent.name < month}
    programs = getattr(settings.scoring, "programs_file", None)
    programs_path = (ws / programs) if programs and not Path(programs).is_absolute() else (Path(programs) if programs else None)
    return fingerprint({
        "lake": lake_digest(ws, month), "model_id": model_id,
        "previous_scores": sha256_file(previous) if previous.is_file() else None,
        "programs": sha256_file(programs_path) if programs_path and programs_path.is_file() else None,
        "scoring": settings.scoring.model_dump(mode="json"), "outcome": settings.model.outcome, "code": code_digest(),
        "audit": settings.audit.model_dump(mode="json"), "previous_audit": fingerprint(previous_audit(ws, month)[0]),
        "published": published, "horizon": settings.model.horizon_months, "runout": settings.model.runout_months,
    })


def state_dir(workspace: Path | str) -> Path:
    """``W/.riskstrat/monthly/``: the job's locks and step records."""
    return Path(workspace) / STATE_DIR


def _steps_path(workspace: Path | str, month: str) -> Path:
    return state_dir(workspace) / f"{month}.steps.json"


def read_steps(workspace: Path | str, month: str) -> dict[str, dict]:
    """The month's step records (empty when none, or when the file is unreadable: then every step reruns)."""
    path = _steps_path(workspace, month)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError, UnicodeDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_json_atomic(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True, default=str), encoding="utf-8")
    os.replace(tmp, path)


def step_is_current(workspace: Path | str, month: str, step: str, inputs: str) -> bool:
    """True when ``step`` finished with these ``inputs`` and every output it recorded is unchanged.

    Checking the outputs too means a deleted or edited output folder is rebuilt, not trusted.
    """
    record = read_steps(workspace, month).get(step)
    if not record or record.get("inputs") != inputs:
        return False
    root = Path(workspace)
    for rel, sha in record.get("outputs", {}).items():
        path = root / rel
        if not path.is_file() or sha256_file(path) != sha:
            return False
    return True


def step_record(workspace: Path | str, month: str, step: str) -> dict | None:
    """The last record of ``step`` for ``month``, or None."""
    return read_steps(workspace, month).get(step)


def record_step(workspace: Path | str, month: str, step: str, inputs: str, outputs: Iterable[Path] = (),
                detail: dict | None = None) -> None:
    """Remember that ``step`` finished with ``inputs``, writing ``outputs`` (files or folders)."""
    root = Path(workspace)
    files: dict[str, str] = {}
    for out in outputs:
        out = Path(out)
        if out.is_dir():
            for rel, sha in tree_digest(out).items():
                files[(out / rel).relative_to(root).as_posix()] = sha
        elif out.is_file():
            files[out.relative_to(root).as_posix()] = sha256_file(out)
    steps = read_steps(workspace, month)
    steps[step] = {"inputs": inputs, "outputs": files, "detail": detail or {},
                   "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    _write_json_atomic(_steps_path(workspace, month), steps)


# --------------------------------------------------------------------------------------------
# One run per month


def _process_start(pid: int) -> str | None:
    """The kernel's start time of ``pid`` (Linux), so a recycled pid is not mistaken for the holder."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # the command name may contain spaces and parentheses; fields restart after the last ')'
    return stat.rsplit(")", 1)[1].split()[19]


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class MonthLock:
    """``W/.riskstrat/monthly/YYYY-MM.lock``: while it exists, one run owns the month.

    The lock file is created with ``O_CREAT|O_EXCL``, which the file system makes atomic, and
    holds who took it. A lock is stale when its holder is gone: same host and that process no
    longer runs (or its pid was recycled), or another host and older than ``stale_after``
    seconds (a process elsewhere cannot be asked). A stale lock is broken under a second,
    short-lived ``.break`` lock, so two successors cannot both break it and both win.
    """

    def __init__(self, workspace: Path | str, month: str, owner: str = "", stale_after: float = 24 * 3600):
        self.path = state_dir(workspace) / f"{month}.lock"
        self.month = month
        self.owner = owner
        self.stale_after = stale_after
        self.token: str | None = None

    # -- holder information
    def holder(self) -> dict | None:
        """What the lock file says about its holder, or None when unlocked (``{}`` when unreadable)."""
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return None
        try:
            data = json.loads(raw)
            return data if isinstance(data, dict) else {}
        except (json.JSONDecodeError, UnicodeDecodeError):
            return {}

    def _is_stale(self, info: dict, mtime: float) -> bool:
        age = time.time() - mtime
        if not info:
            # written but not yet filled in, or its writer died mid-write: give a live writer time
            return age > 60
        if info.get("host") == socket.gethostname():
            pid = int(info.get("pid", -1))
            if pid <= 0 or not _pid_alive(pid):
                return True
            started = info.get("process_start")
            return started is not None and _process_start(pid) not in (None, started)
        return age > self.stale_after

    def _describe(self, info: dict) -> str:
        if not info:
            return f"{self.month} is locked by {self.path} (being written)"
        who = f"pid {info.get('pid')} on {info.get('host')}"
        if info.get("owner"):
            who += f", {info['owner']}"
        return (f"another run of {self.month} is in progress ({who}, since {info.get('started_at')}); "
                f"wait for it, or delete {self.path} if no such run exists")

    # -- taking and giving back
    def _create(self) -> bool:
        token = os.urandom(8).hex()
        info = {"token": token, "pid": os.getpid(), "host": socket.gethostname(), "month": self.month,
                "owner": self.owner, "process_start": _process_start(os.getpid()),
                "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        try:
            fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(json.dumps(info))
            fh.flush()
            os.fsync(fh.fileno())
        self.token = token
        return True

    def _break_if_stale(self) -> bool:
        """Remove the lock if it is (still) stale; True when it was removed or is already gone."""
        try:
            raw, mtime = self.path.read_bytes(), self.path.stat().st_mtime
        except FileNotFoundError:
            return True
        info = self.holder() or {}
        if not self._is_stale(info, mtime):
            return False
        breaker = self.path.with_name(self.path.name + ".break")
        try:
            fd = os.open(breaker, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            # a breaker that died between its two steps must not block the month for ever
            try:
                if time.time() - breaker.stat().st_mtime > 30:
                    breaker.unlink(missing_ok=True)
            except FileNotFoundError:
                pass
            return False
        os.close(fd)
        try:
            # only the exact stale file judged above may go: a successor may have locked meanwhile
            try:
                if self.path.read_bytes() == raw:
                    self.path.unlink()
            except FileNotFoundError:
                pass
            return True
        finally:
            breaker.unlink(missing_ok=True)

    def acquire(self, wait: float = 0.0, poll: float = 0.5) -> "MonthLock":
        """Take the lock or raise :class:`MonthBusy` naming the holder; waits up to ``wait`` seconds."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + wait
        while True:
            if self._create():
                return self
            if self._break_if_stale() and self._create():
                return self
            if time.monotonic() >= deadline:
                raise MonthBusy(self._describe(self.holder() or {}))
            time.sleep(poll)

    def release(self) -> bool:
        """Give the lock back; False when it is no longer ours (someone judged it stale and broke it)."""
        if self.token is None:
            return False
        info = self.holder()
        self.token, token = None, self.token
        if not info or info.get("token") != token:
            return False
        self.path.unlink(missing_ok=True)
        return True

    def __enter__(self) -> "MonthLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


# --------------------------------------------------------------------------------------------
# Deliveries


def months_to_ingest(workspace: Path | str, month: str) -> list[str]:
    """Landing months up to and including ``month``, oldest first (a month's run never reads later deliveries)."""
    from riskstrat.ingest import landing_months

    return [m for m in landing_months(workspace) if m <= month]


def delivery_problems(workspace: Path | str, month: str, settings: Settings) -> list[str]:
    """One line per table of ``month``'s delivery that was refused, failed, or is missing but required.

    Read from the lake's delivery ledger rather than from one ingest report, so a rerun that
    skips an unchanged delivery still stops on the same reason.
    """
    from riskstrat.contracts import TABLES, load_contracts
    from riskstrat.ingest import read_deliveries

    if not (Path(workspace) / "landing" / month).is_dir():
        return [f"{Path(workspace) / 'landing' / month}: no delivery for {month}"]
    rows = [r for r in read_deliveries(workspace) if r["delivery_month"] == month]
    problems = []
    for r in rows:
        if r["status"] in ("refused", "failed"):
            problems.append(f"landing/{month}/{r['file']}: {r['status']} [{r['rule']}] {r['message']}")
    delivered = {r["table"] for r in rows}
    contracts = load_contracts(settings.ingest.contracts_dir)
    for table in TABLES:
        if table not in delivered and not contracts[table].optional:
            problems.append(f"landing/{month}: no {table} file, which every delivery must have")
    return problems


def ledger_counts(workspace: Path | str, months: Iterable[str]) -> list[dict]:
    """Per table and delivery month: status, rows in, accepted, quarantined (no member data)."""
    from riskstrat.ingest import read_deliveries

    wanted = set(months)
    keep = ("delivery_month", "table", "status", "rows_in", "rows_accepted", "rows_quarantined", "rows_warned", "rule")
    return [{k: r.get(k) for k in keep} for r in read_deliveries(workspace) if r["delivery_month"] in wanted]


def data_docs_index(workspace: Path | str, month: str) -> Path | None:
    """The Great Expectations Data Docs page of the month's validation, if ingest built one."""
    root = Path(workspace) / "validation" / month
    pages = sorted(root.rglob("index.html")) if root.is_dir() else []
    return pages[0] if pages else None


def transient(exc: BaseException) -> bool:
    """Whether retrying may help: file-system and I/O hiccups yes; bad data, settings or code no.

    A missing file stays missing, and a refused delivery stays refused until someone redelivers,
    so those fail at once with their reason instead of after minutes of back-off.
    """
    if isinstance(exc, (FileNotFoundError, NotADirectoryError, IsADirectoryError, MonthlyError)):
        return False
    if isinstance(exc, (OSError, TimeoutError)):
        return True
    try:
        import duckdb
    except ImportError:  # pragma: no cover - duckdb is a dependency
        return False
    return isinstance(exc, duckdb.IOException)


def latest_month(workspace: Path | str) -> str:
    """The newest delivery month in ``landing/`` (what a scheduled run processes by default)."""
    from riskstrat.ingest import landing_months

    months = landing_months(workspace)
    if not months:
        raise MonthlyError(f"{Path(workspace) / 'landing'}: no delivery folders (landing/YYYY-MM/)")
    return months[-1]


def ingest_batches(workspace: Path | str, month: str) -> list[str | None]:
    """The ``month`` arguments of the ingest calls a run of ``month`` makes, in order.

    Ingest is idempotent per month, but each call reloads the earlier months, so when ``month``
    is the newest delivery (the scheduled case) one call ingests everything new at once; an
    older month is brought up one month at a time so that no later delivery is read.
    """
    from riskstrat.ingest import landing_months

    every = landing_months(workspace)
    if not every or month not in every:
        return [month]  # ingest names the missing folder
    if every[-1] == month:
        return [None]
    return [m for m in every if m <= month]


def check_delivery(workspace: Path | str, month: str, settings: Settings) -> None:
    """Raise :class:`DeliveryRefused` with the delivery's reason when ``month`` cannot be scored."""
    problems = delivery_problems(workspace, month, settings)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise DeliveryRefused(f"delivery {month} refused: {problems[0]}{more}")


@dataclass(frozen=True)
class StepPlan:
    """Whether a step runs, why, and the fingerprint of its inputs to record when it finishes."""

    step: str
    run: bool
    reason: str
    inputs: str = ""
    outputs: tuple[Path, ...] = ()
    model_id: str | None = None


def plan_train(workspace: Path | str, month: str, settings: Settings, drift: str | None = None) -> StepPlan:
    """Train when retraining is due and no finished training read the same inputs.

    ``drift`` only decides *whether* to train; what training reads (and so whether an identical
    training already ran) is the lake, the model settings and the code, as without drift.
    """
    decision = retrain_due(workspace, month, settings, drift)
    if not decision.due:
        return StepPlan("train", False, decision.reason, model_id=decision.champion)
    inputs = train_inputs(workspace, month, settings)
    if step_is_current(workspace, month, "train", inputs):
        before = (step_record(workspace, month, "train") or {}).get("detail", {})
        return StepPlan("train", False, f"already trained on the same data ({before.get('decision', 'no change')})",
                        inputs, model_id=decision.champion)
    return StepPlan("train", True, decision.reason, inputs, model_id=decision.champion)


def plan_score(workspace: Path | str, month: str, settings: Settings, model_id: str | None = None) -> StepPlan:
    """Score unless ``outputs/month`` was published from the same lake, model, settings and code, and is untouched."""
    from riskstrat import registry

    model_id = model_id or registry.champion_id(Path(workspace))
    inputs = score_inputs(workspace, month, settings, model_id)
    out = (Path(workspace) / "outputs" / month,)
    if step_is_current(workspace, month, "score", inputs):
        return StepPlan("score", False, "outputs unchanged: same lake, model, settings and code", inputs, out, model_id)
    return StepPlan("score", True, f"scoring with {model_id}", inputs, out, model_id)


# --------------------------------------------------------------------------------------------
# The run's summary


@dataclass
class StepOutcome:
    """One step of a run: ran, skipped or failed, how long it took, and a note (counts or a reason)."""

    name: str
    status: str  # ran | skipped | failed
    seconds: float = 0.0
    note: str = ""


@dataclass
class MonthSummary:
    """What one monthly run did; rendered as CLI lines and as the run's Prefect artifact."""

    workspace: str
    month: str
    steps: list[StepOutcome] = field(default_factory=list)
    ingest: dict[str, int] = field(default_factory=dict)
    ingest_tables: list[dict] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    retrain: str = ""
    model_id: str | None = None
    scored: int | None = None
    flagged: int | None = None
    worklist: int | None = None
    report: str | None = None
    data_docs: str | None = None
    outputs: str | None = None
    failed_step: str | None = None
    failure: str | None = None

    def __post_init__(self) -> None:
        self._on_step = None

    def watch(self, progress) -> "MonthSummary":
        """Call ``progress(stage, done, total)`` as each step starts and ends (the CLI's bars)."""
        self._on_step = progress
        return self

    @classmethod
    def from_dict(cls, data: dict) -> "MonthSummary":
        """Inverse of :meth:`to_dict` (a flow returns the dict; the CLI prints the summary)."""
        data = dict(data)
        data["steps"] = [StepOutcome(**s) for s in data.get("steps", [])]
        return cls(**data)

    @property
    def ok(self) -> bool:
        """No step failed."""
        return self.failure is None

    @contextmanager
    def step(self, name: str) -> Iterator[StepOutcome]:
        """Time ``name``; record it as ran (or whatever the body set) or, on an exception, failed."""
        outcome = StepOutcome(name, "ran")
        self.steps.append(outcome)
        if self._on_step:
            self._on_step(f"monthly: {name}", 0, 1)
        t0 = time.perf_counter()
        try:
            yield outcome
        except BaseException as exc:
            outcome.status = "failed"
            if self.failure is None:
                self.failed_step, self.failure = name, one_line(exc)
            raise
        finally:
            outcome.seconds = round(time.perf_counter() - t0, 2)
            if self._on_step:
                self._on_step(f"monthly: {name}", 1, 1)

    def fail(self, step: str, exc: BaseException) -> None:
        """Record a failure outside any step (the first failure is the one reported)."""
        if self.failure is None:
            self.failed_step, self.failure = step, one_line(exc)

    def add_ingest(self, reports: Iterable[Any], months: Iterable[str]) -> None:
        """Fold the run's ingest reports and the month's delivery (from the lake's ledger) into the summary.

        The counts are the month's delivery as the lake recorded it, so a rerun that skipped an
        unchanged delivery reports the same rows in and out as the run that ingested it.
        """
        months = list(months)
        ingested, skipped = [], []
        for rep in reports:
            ingested += list(rep.months)
            skipped += list(rep.skipped)
        self.ingest_tables = ledger_counts(self.workspace, [self.month])
        self.ingest = {
            "rows_in": sum(r["rows_in"] or 0 for r in self.ingest_tables),
            "rows_accepted": sum(r["rows_accepted"] or 0 for r in self.ingest_tables),
            "rows_quarantined": sum(r["rows_quarantined"] or 0 for r in self.ingest_tables),
            "months_ingested": len(ingested), "months_unchanged": len(skipped),
        }
        for row in ledger_counts(self.workspace, [m for m in months if m != self.month]):
            if row["status"] in ("refused", "failed"):
                self.warnings.append(f"earlier delivery landing/{row['delivery_month']} {row['table']}: "
                                     f"{row['status']} [{row['rule']}]")

    def add_outputs(self, result: Any = None) -> None:
        """Read the published month folder: counts from run.json and scores.parquet, links to the report."""
        out = Path(self.workspace) / "outputs" / self.month
        self.outputs = str(out)
        manifest = {}
        if (out / "run.json").is_file():
            try:
                manifest = json.loads((out / "run.json").read_text(encoding="utf-8"))
            except json.JSONDecodeError:
                manifest = {}
        model = manifest.get("model")
        from_manifest = manifest.get("model_id") or (model.get("model_id") if isinstance(model, dict) else model)
        self.model_id = getattr(result, "model_id", None) or from_manifest
        counts = getattr(result, "counts", None) or manifest.get("counts") or {}
        self.scored, self.flagged, self.worklist = counts.get("scored"), counts.get("flagged"), counts.get("worklist_rows")
        if self.scored is None and (out / "scores.parquet").is_file():
            import pyarrow.compute as pc
            import pyarrow.parquet as pq

            flags = pq.read_table(out / "scores.parquet", columns=["flagged"]).column("flagged")
            self.scored, self.flagged = len(flags), int(pc.sum(flags.cast("int64")).as_py() or 0)
        if self.worklist is None and (out / "worklist.csv").is_file():
            import csv

            with open(out / "worklist.csv", newline="", encoding="utf-8-sig") as fh:
                self.worklist = max(sum(1 for _ in csv.reader(fh)) - 1, 0)
        audit = manifest.get("audit") or {}
        self.warnings += [f"drift: {w}" for w in audit.get("warnings", []) if f"drift: {w}" not in self.warnings]
        if (out / "report.html").is_file():
            self.report = str(out / "report.html")
        docs = data_docs_index(self.workspace, self.month)
        self.data_docs = str(docs) if docs else None

    # -- rendering
    def lines(self) -> list[str]:
        """One screen for the CLI; counts and paths only."""
        head = f"riskstrat monthly {self.month}: " + ("done" if self.ok else f"FAILED at {self.failed_step}")
        out = [head]
        for s in self.steps:
            out.append(f"  {s.name:<10} {s.status:<8} {s.seconds:>7.1f} s  {s.note}".rstrip())
        if self.ingest:
            i = self.ingest
            out.append(f"  delivery {self.month}: rows in {i['rows_in']:,}, accepted {i['rows_accepted']:,}, "
                       f"quarantined {i['rows_quarantined']:,}")
        if self.retrain:
            out.append(f"  model: {self.retrain}")
        if self.model_id:
            out.append(f"  scored with {self.model_id}: {self._fmt(self.scored)} children, "
                       f"{self._fmt(self.flagged)} flagged, worklist {self._fmt(self.worklist)}")
        for w in self.warnings:
            out.append(f"  warning: {w}")
        if self.report:
            out.append(f"  report:    {self.report}")
        if self.data_docs:
            out.append(f"  data docs: {self.data_docs}")
        if self.failure:
            out.append(f"  reason: {self.failure}")
        return out

    @staticmethod
    def _fmt(value: int | None) -> str:
        return "-" if value is None else f"{value:,}"

    def to_markdown(self) -> str:
        """The Prefect artifact: the month at a glance, or which step failed and why."""
        title = f"# riskstrat monthly {self.month}: " + ("done" if self.ok else f"failed at **{self.failed_step}**")
        md = [title, ""]
        if self.failure:
            md += [f"**Step:** {self.failed_step}  ", f"**Why:** {self.failure}", ""]
        if self.warnings:  # first, so a drift or a refused earlier delivery is not missed below the tables
            md += [f"## Warnings ({len(self.warnings)})", "", *[f"- {w}" for w in self.warnings], ""]
        md += ["| step | status | seconds | note |", "|---|---|---:|---|"]
        md += [f"| {s.name} | {s.status} | {s.seconds:.1f} | {s.note} |" for s in self.steps]
        md.append("")
        if self.ingest:
            i = self.ingest
            md += ["## Delivery " + self.month, "",
                   f"Rows in **{i['rows_in']:,}**, accepted **{i['rows_accepted']:,}**, quarantined "
                   f"**{i['rows_quarantined']:,}**. This run ingested {i['months_ingested']} delivery months "
                   f"({i['months_unchanged']} unchanged, skipped).", ""]
        if self.ingest_tables:
            md += ["| table | status | rows in | accepted | quarantined | warned | rule |", "|---|---|---:|---:|---:|---:|---|"]
            for r in self.ingest_tables:
                md.append(f"| {r['table']} | {r['status']} | {self._fmt(r['rows_in'])} | {self._fmt(r['rows_accepted'])} | "
                          f"{self._fmt(r['rows_quarantined'])} | {self._fmt(r['rows_warned'])} | {r['rule'] or ''} |")
            md.append("")
        if self.retrain or self.model_id:
            md += ["## Model and scores", ""]
            if self.retrain:
                md.append(f"- Retraining: {self.retrain}")
            if self.model_id:
                md.append(f"- Model used: `{self.model_id}`")
                md.append(f"- Children scored: {self._fmt(self.scored)}; flagged: {self._fmt(self.flagged)}; "
                          f"on the worklist: {self._fmt(self.worklist)}")
            md.append("")
        links = []
        if self.report:
            links.append(f"- Run report: [{self.report}]({Path(self.report).as_uri()})")
        if self.data_docs:
            links.append(f"- Data Docs (validation): [{self.data_docs}]({Path(self.data_docs).as_uri()})")
        if self.outputs and self.ok:
            links.append(f"- Outputs folder: `{self.outputs}`")
        if links:
            md += ["## Links", "", *links, ""]
        return "\n".join(md)

    def to_dict(self) -> dict:
        """Plain, JSON-ready form (what the flow returns)."""
        return asdict(self)


def one_line(exc: BaseException) -> str:
    """An exception as one line (type only when it has no message)."""
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def artifact_key(month: str) -> str:
    """Prefect artifact keys allow lowercase letters, digits and dashes only."""
    return f"riskstrat-monthly-{month}"
