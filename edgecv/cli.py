"""The ``edgecv`` command: parse arguments, call edgecv.api, print. An EdgecvError is one line and exit 2."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from edgecv import __version__
from edgecv.console import console, set_verbosity
from edgecv.errors import EdgecvError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Compress, export and validate vision models for Jetson-class devices from one recipe.",
)
devices_app = typer.Typer(help="List device profiles, or show one.", invoke_without_command=True)
app.add_typer(devices_app, name="devices")

SetOption = Annotated[list[str] | None, typer.Option("--set", help="Override a recipe key: --set train.epochs=3")]


def _fail(exc: EdgecvError) -> None:
    print(f"error: {exc}", file=sys.stderr)
    raise typer.Exit(exc.exit_code)


def _version(value: bool) -> None:
    if value:
        print(f"edgecv {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only errors")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="More detail")] = False,
) -> None:
    set_verbosity(quiet, verbose)


@app.command()
def compress(
    recipe: Annotated[Path, typer.Argument(help="Recipe YAML")],
    set_: SetOption = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue this recipe's latest run")] = False,
) -> None:
    """Run a recipe: train or load, compress, export, validate, report."""
    from edgecv import api
    from edgecv.report.tables import print_summary

    try:
        report = api.compress(recipe, set_ or [], resume=resume)
    except EdgecvError as exc:
        _fail(exc)
    except KeyboardInterrupt:
        print("interrupted: continue with `edgecv compress RECIPE --resume`", file=sys.stderr)
        raise typer.Exit(130) from None
    print_summary(report)
    console.print(f"report: {Path(report.run_dir) / 'report.md'}")


@app.command()
def validate(recipe: Annotated[Path, typer.Argument(help="Recipe YAML")], set_: SetOption = None) -> None:
    """Check a recipe (schema, devices, data, model, checkpoint) without running it; print the resolved plan."""
    from edgecv import api

    try:
        plan = api.plan_recipe(recipe, set_ or [])
    except EdgecvError as exc:
        _fail(exc)
    print(api.dumps(plan))


@devices_app.callback()
def devices_list(ctx: typer.Context) -> None:
    """All shipped device profiles as a table."""
    if ctx.invoked_subcommand is None:
        from edgecv.report.tables import print_devices

        print_devices()


@devices_app.command("show")
def devices_show(name: Annotated[str, typer.Argument(help="Profile name or YAML path")]) -> None:
    """One device profile, every field."""
    from edgecv import api
    from edgecv.devices import load_device

    try:
        print(api.dumps(load_device(name).model_dump()))
    except EdgecvError as exc:
        _fail(exc)


@app.command()
def models() -> None:
    """Model names the zoo knows (plus any `package.module:factory`)."""
    from edgecv.models import model_names

    for name in model_names():
        print(name)


@app.command()
def report(run_dirs: Annotated[list[Path], typer.Argument(help="One run folder, or several to compare")]) -> None:
    """Print a run's report (re-rendering report.md and report.html from report.json); several runs side by side."""
    from edgecv.errors import RecipeError
    from edgecv.report.build import load_report, write_reports
    from edgecv.report.tables import print_comparison, print_summary

    try:
        reports = []
        for run_dir in run_dirs:
            if not (run_dir / "report.json").is_file():
                raise RecipeError(f"{run_dir}: no report.json; give a finished run folder (runs/<name>/<run-id>)")
            reports.append(load_report(run_dir))
            write_reports(reports[-1], run_dir, ["json", "md", "html"])
    except EdgecvError as exc:
        _fail(exc)
    if len(reports) == 1:
        print_summary(reports[0])
    else:
        print_comparison(reports)


@app.command()
def schema(kind: Annotated[str, typer.Argument(help="recipe or report")]) -> None:
    """Print the JSON Schema of a recipe or of report.json."""
    from edgecv import api

    try:
        print(api.dumps(api.json_schema(kind)))
    except EdgecvError as exc:
        _fail(exc)
