"""The ``riskstrat`` command line: parses arguments, calls the library, prints one screen.

Logic lives in the library; this module only turns arguments into calls and results (or a
one-line reason) into output. Commands never print member-level data.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from riskstrat.config import SettingsError, describe_settings, load_settings

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
console = Console()
err_console = Console(stderr=True)

Workspace = Annotated[
    Path, typer.Option("--workspace", "-w", help="Workspace folder (default: the current folder).", file_okay=False)
]
MONTH_RE = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


def _month(value: str) -> str:
    if not MONTH_RE.match(value):
        raise typer.BadParameter(f"{value!r} is not a month in YYYY-MM form")
    return value


def _fail(message: str) -> None:
    err_console.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(1)


@contextmanager
def _progress() -> Iterator[callable]:
    """A rich progress bar; yields a callback ``(stage, done, total)`` the library can call."""
    with Progress(
        TextColumn("{task.description:<28}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=err_console, transient=True,
    ) as bar:
        tasks: dict[str, int] = {}

        def report(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done, total=total)

        yield report


def _not_built(command: str, issue: str) -> None:
    _fail(f"`riskstrat {command}` is not built yet ({issue}); nothing was done.")


@app.command()
def synth(
    workspace: Workspace = Path("."),
    members: Annotated[int, typer.Option(min=10, help="Members in the plan, adults and children.")] = 5000,
    months: Annotated[int, typer.Option(min=1, max=120, help="Monthly deliveries to write.")] = 24,
    end: Annotated[str, typer.Option(callback=_month, help="Last delivery month, YYYY-MM.")] = "2025-11",
    seed: Annotated[int, typer.Option(help="Same seed, same bytes.")] = 1,
    defects: Annotated[float, typer.Option(min=0.0, max=0.2, help="Share of rows given a realistic defect.")] = 0.0,
) -> None:
    """Write a synthetic Medicaid plan: monthly deliveries in landing/, the hidden truth in truth/."""
    from riskstrat.synth import PlanSpec, generate_plan

    spec = PlanSpec(members=members, months=months, end=end, seed=seed, defect_rate=defects)
    with _progress() as report:
        summary = generate_plan(workspace, spec, progress=report)
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
    _not_built("ingest", "issue 3")


@app.command()
def train(
    workspace: Workspace = Path("."),
    as_of: Annotated[str, typer.Option("--as-of", callback=_month, help="Last month of data to train with, YYYY-MM.")] = ...,
) -> None:
    """Backtest, fit and register a model."""
    _not_built("train", "issue 5")


@app.command()
def score(
    workspace: Workspace = Path("."),
    as_of: Annotated[str, typer.Option("--as-of", callback=_month, help="Month to score, YYYY-MM.")] = ...,
    model: Annotated[str | None, typer.Option(help="Model id (default: the champion).")] = None,
) -> None:
    """Score every enrolled child and publish outputs/YYYY-MM/."""
    _not_built("score", "issue 6")


@app.command()
def monthly(
    workspace: Workspace = Path("."),
    month: Annotated[str, typer.Option(callback=_month, help="Delivery month to process, YYYY-MM.")] = ...,
) -> None:
    """Run the whole monthly job (ingest, retrain when due, score, publish) as a Prefect flow."""
    _not_built("monthly", "issue 7")


@app.command()
def config(workspace: Workspace = Path(".")) -> None:
    """Show the settings in force for a workspace and what each one means."""
    try:
        settings = load_settings(workspace)
    except SettingsError as exc:
        _fail(str(exc))
    table = Table(title=f"Settings for {workspace} (riskstrat.toml overrides these)")
    for column in ("key", "value", "meaning"):
        table.add_column(column)
    for key, value, meaning in describe_settings(settings):
        table.add_row(key, repr(value), meaning)
    console.print(table)
