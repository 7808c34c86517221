"""The ``riskstrat`` command line: parses arguments, calls the library, prints one screen.

Logic lives in the library; this module only turns arguments into calls and results (or a
one-line reason) into output. Commands never print member-level data.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import Annotated, NoReturn, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
from rich.progress import Progress as ProgressBars
from rich.table import Table

from riskstrat.config import DEFAULT_SPEC, Settings, describe_settings, load_settings, model_specs, specs_folder
from riskstrat.core.errors import RiskstratError
from riskstrat.core.months import is_month
from riskstrat.core.progress import Progress
from riskstrat.evaluation import evaluate_programme
from riskstrat.evaluation.report import effect_words
from riskstrat.ingest import ingest_workspace
from riskstrat.jobs import MonthlyRunFailed, MonthSummary, check_delivery, retrains_due
from riskstrat.model.train import train_models
from riskstrat.outreach import accounts
from riskstrat.outreach.db import open_database
from riskstrat.outreach.log import export_care_management
from riskstrat.publish.month import score_month
from riskstrat.synth import PlanSpec, generate_plan

app = typer.Typer(
    help=(
        "riskstrat finds the Medicaid children who most need intensive care coordination, "
        "before the crisis, and tells the outreach team why.\n\n"
        "Every command works on one workspace folder: landing/ (deliveries), lake/, "
        "quarantine/, models/ and outputs/YYYY-MM/."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
# Scheduled runs write to logs, not terminals: there rich would squeeze tables into 80 columns
# and cut words off, so off a terminal the consoles are wide enough for every table.
_LOG_WIDTH = None if sys.stdout.isatty() else 200
console = Console(width=_LOG_WIDTH)
err_console = Console(stderr=True, width=_LOG_WIDTH)

T = TypeVar("T")
Workspace = Annotated[
    Path, typer.Option("--workspace", "-w", help="Workspace folder (default: the current folder).", file_okay=False)
]


class EngineName(str, Enum):
    duckdb = "duckdb"
    spark = "spark"


Engine = Annotated[
    EngineName | None,
    typer.Option("--engine", help="Where features, labels and scoring run (default: engine.name in riskstrat.toml, else duckdb)."),
]


def _month(value: str) -> str:
    if not is_month(value):
        raise typer.BadParameter(f"{value!r} is not a month in YYYY-MM form")
    return value


def _month_or_none(value: str | None) -> str | None:
    return None if value is None else _month(value)


def _fail(message: str) -> NoReturn:
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(1)


@contextmanager
def _progress() -> Iterator[Progress]:
    """A rich progress bar; yields a callback ``(stage, done, total)`` the library can call."""
    with ProgressBars(
        TextColumn("{task.description:<28}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=err_console, transient=True,
    ) as bar:
        tasks: dict[str, int] = {}

        def report(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done, total=total)

        yield report


def _settings(workspace: Path, engine: EngineName | None = None) -> Settings:
    """The workspace's settings; a folder that does not exist is refused here, before a later step
    blames something else (no champion, no delivery) for it."""
    if not workspace.is_dir():
        _fail(escape(f"{workspace}: no such workspace folder"))
    try:
        return load_settings(workspace).on_engine(engine and engine.value)
    except RiskstratError as exc:
        _fail(str(exc))


def _run(step: Callable[..., T], *args, **kwargs) -> T:
    """Call a library step with the progress bars drawn; its one-line error is the command's failure."""
    try:
        with _progress() as progress:
            return step(*args, progress=progress, **kwargs)
    except RiskstratError as exc:
        _fail(str(exc))


def _shares(items: list[str]) -> dict[str, float]:
    shares = {}
    for item in items:
        name, _, share = item.partition("=")
        try:
            shares[name.strip()] = float(share)
        except ValueError:
            _fail(f"--plant-effect {item!r}: give PROGRAM=SHARE, for example stronger_together=0.4")
    return shares


def _plan_spec(**fields) -> PlanSpec:
    try:
        return PlanSpec(**fields)
    except ValidationError as exc:
        _fail("; ".join(str(e["msg"]).removeprefix("Value error, ") for e in exc.errors()))


@app.command()
def synth(
    workspace: Workspace = Path("."),
    members: Annotated[int, typer.Option(min=10, max=5_000_000, help="Members in the plan, adults and children.")] = 5000,
    months: Annotated[int, typer.Option(min=1, max=120, help="Monthly deliveries to write.")] = 24,
    end: Annotated[str, typer.Option(callback=_month, help="Last delivery month, YYYY-MM.")] = "2025-11",
    seed: Annotated[int, typer.Option(min=0, help="Same seed, same bytes.")] = 1,
    defects: Annotated[float, typer.Option(min=0.0, max=0.2, help="Share of rows given a realistic defect.")] = 0.0,
    plant_effect: Annotated[list[str] | None, typer.Option(
        help="PROGRAM=SHARE: the programme enrols children, more often the more crises they had and most just "
             "after one, and its enrolment removes "
             "SHARE of their acute hazards from the next month (0.4 = 40% fewer; 0 = no effect). Repeatable; "
             "truth/programme_effects.json records it.")] = None,
) -> None:
    """Write a synthetic Medicaid plan: monthly deliveries in landing/, the hidden truth in truth/."""
    spec = _plan_spec(members=members, months=months, end=end, seed=seed, defect_rate=defects,
                      programme_effects=_shares(plant_effect or []))
    summary = _run(generate_plan, workspace, spec)
    table = Table(title=f"Synthetic plan in {workspace}", show_lines=False)
    table.add_column("table")
    table.add_column("rows delivered", justify="right")
    table.add_column("files", justify="right")
    for name, rows, files in summary.table_rows():
        table.add_row(name, f"{rows:,}", str(files))
    console.print(table)
    for line in summary.describe():
        console.print(f"  {line}")
    console.print(f"Deliveries: {workspace / 'landing'}  |  truth (never read by the pipeline): {workspace / 'truth'}")


@app.command()
def ingest(
    workspace: Workspace = Path("."),
    month: Annotated[str | None, typer.Option(help="Only this delivery month, YYYY-MM (default: every new one).")] = None,
) -> None:
    """Validate deliveries against the data contracts and load them into the lake."""
    report = _run(ingest_workspace, workspace, month=month, settings=_settings(workspace))
    if not report.tables:
        console.print(f"Nothing new to ingest: {len(report.skipped)} delivery month(s) already in the lake, unchanged.")
        return
    table = Table(title=f"Ingest of {workspace}: every row accepted or quarantined")
    for column, justify in (("month", "left"), ("table", "left"), ("file", "left"), ("status", "left"),
                            ("rows in", "right"), ("accepted", "right"), ("quarantined", "right"),
                            ("warned", "right"), ("rules broken (rows)", "left")):
        table.add_column(column, justify=justify)
    colour = {"accepted": "green", "refused": "red", "failed": "red", "missing": "dim"}
    for t in report.tables:
        rules = ", ".join(f"{name} {n:,}" for name, n in list(t.rule_counts.items())[:4])
        if len(t.rule_counts) > 4:
            rules += ", ..."
        table.add_row(
            t.delivery_month, t.table, t.file or "-", f"[{colour.get(t.status, 'white')}]{t.status}[/]",
            "-" if t.rows_in is None else f"{t.rows_in:,}", f"{t.rows_accepted:,}", f"{t.rows_quarantined:,}",
            f"{t.rows_warned:,}", rules,
        )
    console.print(table)
    totals = report.totals()
    console.print(
        f"{len(report.months)} month(s) ingested in {report.seconds:.1f} s"
        + (f", {len(report.skipped)} unchanged" if report.skipped else "")
        + f": {totals['rows_in']:,} rows in = {totals['rows_accepted']:,} accepted + {totals['rows_quarantined']:,} quarantined."
    )
    console.print(f"Validation results and Data Docs: {workspace / 'validation'}  |  quarantine: {workspace / 'quarantine'}")
    for line in report.notes():
        err_console.print(f"[bold yellow]warning:[/] {escape(line)}", highlight=False, soft_wrap=True)
    problems = report.problems()
    if problems:
        for line in problems:
            err_console.print(f"[bold red]error:[/] {escape(line)}", highlight=False, soft_wrap=True)
        raise typer.Exit(1)


@app.command()
def train(
    workspace: Workspace = Path("."),
    as_of: Annotated[str, typer.Option("--as-of", callback=_month, help="Last month of data to train with, YYYY-MM.")] = ...,
    model: Annotated[str | None, typer.Option("--model", help="Train this specification (models/<name>.yaml) only; default: every one whose retraining is due.")] = None,
    promote: Annotated[bool, typer.Option("--promote", help="Make the new model the champion whatever the comparison says.")] = False,
    engine: Engine = None,
) -> None:
    """Cross-fit, backtest and register one model per specification; promote each if it is not worse than its champion."""
    settings = _settings(workspace, engine)
    skipped = []
    if model is None:
        try:
            decisions = retrains_due(workspace, as_of, settings)
        except RiskstratError as exc:
            _fail(str(exc))
        names = [spec for spec, d in decisions.items() if d.due]
        skipped = [f"{spec}: not due ({d.reason})" for spec, d in decisions.items() if not d.due]
    else:
        names = [model]
    results = _run(train_models, workspace, as_of, settings, names, promote=promote) if names else []
    for result in results:
        _print_training(result)
    for line in skipped:
        console.print(line, highlight=False)
    if not names:
        console.print("Nothing trained: no specification is due (--model NAME trains one anyway).")


def _print_training(result) -> None:
    for line in result.summary_lines():
        console.print(line, highlight=False)
    table = Table(title=f"{result.design.spec}: test months " + ", ".join(result.design.test_months))
    for column in ("model", "AUROC", "AUPRC", "Brier", "ECE", "lift top 1%", "PPV at capacity", "expected AUROC",
                   "true risk captured / oracle"):
        table.add_column(column, justify="right")
    ratios = result.metrics.get("ratios_to_oracle", {})
    for name, label in (("model", "LightGBM"), ("logistic", "logistic"), ("rules", "rules"), ("general", "general model"),
                        ("oracle", "oracle")):
        m = result.metrics.get(name)
        if m is None:
            continue
        expected = m.get("expected", {}).get("auroc")
        capture = ratios.get(name, {}).get("capture_at_capacity")
        table.add_row(
            label, f"{m['auroc']:.3f}", f"{m['auprc']:.3f}", _num(m.get("brier"), 4), _num(m.get("ece"), 4),
            f"{m['top']['0.01']['lift']:.1f}", f"{m['capacity']['ppv']:.3f}", _num(expected, 3), _num(capture, 3),
        )
    console.print(table)
    ratio = result.metrics.get("ratio_to_oracle")
    if ratio:
        console.print(f"model / oracle: AUROC {ratio['auroc']:.3f}, expected AUROC {ratio['expected_auroc']:.3f} (synthetic plan)")
    console.print(result.metrics["capacity_note"], highlight=False)
    console.print(f"{'[green]champion[/]' if result.promoted else '[yellow]challenger[/]'}: {result.decision}", highlight=False)
    console.print(f"registered in {result.model_dir}  (card: {result.model_dir / 'card.html'})", highlight=False)


def _num(value, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


@app.command()
def score(
    workspace: Workspace = Path("."),
    as_of: Annotated[str, typer.Option("--as-of", callback=_month, help="Month to score, YYYY-MM.")] = ...,
    model: Annotated[str | None, typer.Option(help="Model id (default: the champion).")] = None,
    engine: Engine = None,
) -> None:
    """Score every enrolled child and publish outputs/YYYY-MM/; refused when the month's delivery was not accepted whole."""
    settings = _settings(workspace, engine)
    # The monthly job stops on the same ledger: a failed claims file must not publish a list
    # built without that month's claims (or a stale care-management snapshot) without a word.
    try:
        check_delivery(workspace, as_of, settings, landing=False)
    except RiskstratError as exc:
        _fail(escape(f"{exc}; fix it and ingest again"))
    result = _run(score_month, workspace, as_of, settings, model_id=model)
    for line in result.summary_lines():
        console.print(line, highlight=False)
    console.print(f"Worklist: {result.worklist_xlsx}  (also {result.worklist_csv.name})", highlight=False)
    console.print(f"Report:   {result.report}", highlight=False)
    console.print(f"Manifest: {result.out_dir / 'run.json'}", highlight=False)


@app.command()
def audit(
    workspace: Workspace = Path("."),
    list_name: Annotated[str, typer.Option("--list", help="The list to audit (models/<name>.yaml).")] = DEFAULT_SPEC,
    month: Annotated[str | None, typer.Option(callback=_month_or_none, help="Scored month, YYYY-MM (default: the latest).")] = None,
    model: Annotated[str | None, typer.Option(help="Model id (default: the one that scored the month).")] = None,
    out: Annotated[Path | None, typer.Option(help="Where to write the executed notebook (default: W/audit/<list>-<month>.ipynb).")] = None,
) -> None:
    """Run the audit notebook (performance, calibration, SHAP, fairness, drift, monitoring) for one list and month."""
    _settings(workspace)  # refuses a workspace that is not there, in one line
    # Imported here: nbclient and the kernel machinery load only for the audit.
    from riskstrat.audit.notebook import run_audit

    console.print(f"running the audit notebook for {list_name} (a minute or two) ...", highlight=False, markup=False)
    try:
        path = run_audit(workspace, list_name, month, model, out)
    except RiskstratError as exc:
        _fail(escape(str(exc)))
    console.print(f"Audit notebook: {path}", highlight=False, markup=False)


@app.command()
def evaluate(
    workspace: Workspace = Path("."),
    program: Annotated[str, typer.Option(help="Programme id as care_management names it, e.g. stronger_together.")] = ...,
    first: Annotated[str, typer.Option("--from", callback=_month, help="First enrolment month evaluated, YYYY-MM.")] = ...,
    last: Annotated[str, typer.Option("--to", callback=_month, help="Last enrolment month evaluated, YYYY-MM.")] = ...,
) -> None:
    """Did a programme work? Its enrolled children against matched comparisons; publishes outputs/evaluation/."""
    result = _run(evaluate_programme, workspace, program, first, last, _settings(workspace))
    c = result.counts
    console.print(f"{program}: {c['enrolled']:,} enrolled children from {first} to {last}; {c['matched']:,} matched "
                  f"to {c['comparisons']:,} comparison children ({c['unmatched']:,} without a close match)",
                  highlight=False)
    table = Table(title="Change after enrolment against matched comparisons (95% interval)")
    for column, justify in (("outcome", "left"), ("months", "right"), ("change", "left"), ("naive before/after", "left")):
        table.add_column(column, justify=justify)
    for _, row in result.effects.iterrows():
        table.add_row(row["outcome"], str(row["months_after"]), effect_words(row), effect_words(row, naive=True))
    console.print(table)
    worst = result.balance["smd_after"].abs().max()
    console.print(f"Balance: largest standardised mean difference after matching {worst:.3f} "
                  f"(limit {result.settings.evaluation.balance_limit})", highlight=False)
    console.print(f"Report: {result.folder / 'report.html'}  (table: effects.csv, cohort: cohort.parquet)",
                  highlight=False)


@app.command()
def monthly(
    workspace: Workspace = Path("."),
    month: Annotated[str, typer.Option(callback=_month, help="Delivery month to process, YYYY-MM.")] = ...,
    engine: Engine = None,
) -> None:
    """Run the whole monthly job (ingest, retrain when due, score, publish) as a Prefect flow."""
    # No server to set up: Prefect starts a temporary local API for this process (slow on a busy machine).
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    # One screen: the summary and the reason, not Prefect's log lines and tracebacks (the Prefect UI
    # keeps those for deployments; PREFECT_LOGGING_LEVEL=INFO shows them here).
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "CRITICAL")
    # Imported here, not at the top: Prefect takes seconds to import and reads its settings from
    # the environment set just above; only this command needs it.
    from riskstrat.flows.monthly import monthly as monthly_flow
    from riskstrat.flows.tasks import reporting

    try:
        with _progress() as report, reporting(report):
            summary = MonthSummary.from_dict(monthly_flow(str(workspace), month, engine and engine.value))
    except MonthlyRunFailed as exc:
        summary = exc.summary
    except RiskstratError as exc:
        _fail(escape(str(exc)))
    except Exception as exc:  # e.g. Prefect's temporary API did not start: still one line, not a traceback
        _fail(escape(f"the monthly flow for {month} could not run: {type(exc).__name__}: {' '.join(str(exc).split())}"))
    for line in summary.lines()[:-1] if summary.failure else summary.lines():
        console.print(line, highlight=False, markup=False)
    if summary.failure:
        _fail(escape(f"{month} failed at {summary.failed_step}: {summary.failure}"))


@app.command("app")
def web_app(
    workspace: Workspace = Path("."),
    host: Annotated[str | None, typer.Option(help="Address to listen on (default: app.host, 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on (default: app.port, 8765).")] = None,
) -> None:
    """Serve the outreach team's web worklist for the workspace's latest published month (login needed)."""
    settings = _settings(workspace)
    # Imported here: FastAPI, uvicorn and the templates load only for the web worklist.
    from riskstrat.app.server import serve

    host, port = host or settings.app.host, port or settings.app.port
    console.print(f"riskstrat app: the web worklist of {workspace} on http://{host}:{port}/ (Ctrl+C stops it)",
                  highlight=False, markup=False)
    try:
        serve(workspace, settings, host, port)
    except RiskstratError as exc:
        _fail(escape(str(exc)))


users_app = typer.Typer(help="Accounts of the web worklist (riskstrat app).", no_args_is_help=True)
app.add_typer(users_app, name="users")


def _accounts_db(workspace: Path):
    try:
        return open_database(workspace, _settings(workspace))
    except RiskstratError as exc:
        _fail(escape(str(exc)))


@users_app.command("add")
def users_add(
    username: Annotated[str, typer.Argument(help="Login name: lower-case letters, digits, '.', '_' or '-'.")],
    role: Annotated[accounts.Role, typer.Option(help="outreach, supervisor or analyst.")] = ...,
    program: Annotated[list[str] | None, typer.Option("--program", help="A programme (list name) an outreach account works; repeat for several.")] = None,
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True,
                                          help="Asked for when not given; stored only as an Argon2 hash.")] = ...,
    workspace: Workspace = Path("."),
) -> None:
    """Add an account."""
    try:
        settings = _settings(workspace)
        lists = [spec.name for spec in model_specs(specs_folder(workspace, settings.model))]
        user = accounts.add_user(_accounts_db(workspace), username, password, role.value, program or [], lists)
    except RiskstratError as exc:
        _fail(escape(str(exc)))
    console.print(f"added {user.username} ({user.role}; programmes: {', '.join(user.programs) or 'all'})",
                  highlight=False, markup=False)


@users_app.command("disable")
def users_disable(username: str, workspace: Workspace = Path(".")) -> None:
    """Disable an account: it cannot log in, and its open sessions end at their next request."""
    try:
        accounts.set_disabled(_accounts_db(workspace), username)
    except RiskstratError as exc:
        _fail(escape(str(exc)))
    console.print(f"disabled {username}", highlight=False, markup=False)


@users_app.command("list")
def users_list(workspace: Workspace = Path(".")) -> None:
    """List the accounts (never their passwords)."""
    table = Table(title="Accounts of the web worklist")
    for column in ("username", "role", "programmes", "state"):
        table.add_column(column)
    for user in accounts.list_users(_accounts_db(workspace)):
        state = "disabled" if user.disabled else ("locked until " + user.locked_until.isoformat(" ") if user.locked else "active")
        table.add_row(user.username, user.role, ", ".join(user.programs) or "all", state)
    console.print(table)


outreach_app = typer.Typer(help="The outreach log the web worklist records.", no_args_is_help=True)
app.add_typer(outreach_app, name="outreach")


@outreach_app.command("export")
def outreach_export(
    out: Annotated[Path, typer.Option(help="Where to write care_management.csv, inside the workspace (a folder or a file).")],
    workspace: Workspace = Path("."),
) -> None:
    """Export the outreach log in the care_management extract format (each child's latest status per programme)."""
    try:
        path, rows = export_care_management(workspace, _settings(workspace), out)
    except RiskstratError as exc:
        _fail(escape(str(exc)))
    console.print(f"wrote {rows:,} rows to {path}", highlight=False, markup=False)


@app.command()
def config(workspace: Workspace = Path(".")) -> None:
    """Show the settings in force for a workspace and what each one means."""
    settings = _settings(workspace)
    table = Table(title=f"Settings for {workspace} (riskstrat.toml overrides these)")
    for column in ("key", "value", "meaning"):
        table.add_column(column)
    for key, value, meaning in describe_settings(settings):
        table.add_row(escape(key), escape(repr(value)), escape(meaning))  # "riskstrat[spark]" is text, not markup
    console.print(table)
