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
    fail_on_budget: Annotated[
        bool, typer.Option("--fail-on-budget", help="Exit 3 when any artifact misses a budget (for CI)")
    ] = False,
    nproc_per_node: Annotated[
        int, typer.Option("--nproc-per-node", min=1, help="Train on N local processes (DDP; NCCL on GPUs, Gloo on "
                          "CPU) through torchrun's elastic agent; several machines: see the README")
    ] = 1,
) -> None:
    """Run a recipe: train or load, compress, export, validate, report."""
    from edgecv import api, distributed
    from edgecv.report.tables import print_summary

    if nproc_per_node > 1 and not distributed.requested():
        from edgecv.console import verbosity
        from edgecv.launch import launch

        flags = {0: ["-q"], 2: ["-v"]}.get(verbosity(), [])
        argv = [*flags, "compress", str(recipe), *(f"--set={s}" for s in set_ or [])]
        argv += ["--resume"] * resume + ["--fail-on-budget"] * fail_on_budget
        raise typer.Exit(launch(nproc_per_node, argv))
    try:
        if distributed.requested():  # started by torchrun: rank 0 runs the pipeline, the others train with it
            from edgecv.launch import compress_ranked

            ranked = compress_ranked(recipe, set_ or [], resume=resume)
            if ranked is None:
                return
            report = ranked
        else:
            report = api.compress(recipe, set_ or [], resume=resume)
    except EdgecvError as exc:
        _fail(exc)
    except KeyboardInterrupt:
        print("interrupted: continue with `edgecv compress RECIPE --resume`", file=sys.stderr)
        raise typer.Exit(130) from None
    print_summary(report)
    console.print(f"report: {Path(report.run_dir) / 'report.md'}")
    if fail_on_budget:
        from edgecv.validate.budgets import gate_message

        if message := gate_message(report):
            print(f"error: {message}", file=sys.stderr)
            raise typer.Exit(3)


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
    """Model names the zoo knows (plus any `package.module:factory`), the task-built detectors and segmenters, and
    the output decodings a user's own detector can declare (`model.decoding`)."""
    from edgecv.models import model_names
    from edgecv.tasks.detection.decoders import DECODERS
    from edgecv.tasks.detection.models import DETECTORS
    from edgecv.tasks.segmentation.models import SEGMENTERS

    for name in model_names():
        print(name)
    for name in DETECTORS:
        print(f"{name}  (task: detection)")
    for name in SEGMENTERS:
        print(f"{name}  (task: segmentation)")
    for name in DECODERS:
        print(f"decoding {name}  (model.decoding of a user's detector)")


@app.command()
def report(
    run_dirs: Annotated[list[Path], typer.Argument(help="One run folder, or several to compare")],
    html: Annotated[
        Path | None, typer.Option("--html", help="Where a comparison of several runs is written as HTML")
    ] = None,
    import_: Annotated[
        list[Path] | None,
        typer.Option("--import", help="Merge a device's results.json (run_bundle.py) into the run's report first"),
    ] = None,
) -> None:
    """Print a run's report (re-rendering report.md and report.html from report.json); several runs side by side."""
    from edgecv.errors import RecipeError
    from edgecv.report.build import load_report, write_reports
    from edgecv.report.tables import print_comparison, print_summary

    try:
        if import_:
            from edgecv.report.imports import import_results

            if len(run_dirs) != 1:
                raise RecipeError("--import merges device results into one run: give exactly one run folder")
            for results in import_:
                import_results(run_dirs[0], results)
                console.print(f"imported {results} into {run_dirs[0] / 'report.json'}")
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
        from edgecv.report.compare_html import write_comparison

        print_comparison(reports)
        console.print(f"comparison: {write_comparison(reports, html or Path('edgecv-compare.html'))}")


@app.command()
def check(
    model: Annotated[Path, typer.Argument(help="ONNX model")],
    device: Annotated[list[str], typer.Option("--device", "-d", help="Device profile name or YAML path; repeatable")],
) -> None:
    """Check without a GPU that an ONNX model parses and quantizes in a device's TensorRT: exit 0 ok, 1 problems."""
    from edgecv.devices import load_device
    from edgecv.export.tensorrt_rules import check_for_device

    failed = False
    try:
        for name in device:
            profile = load_device(name)
            result = check_for_device(model, profile)
            counts = f"{len(result.errors)} error(s), {len(result.warnings)} warning(s)"
            verdict = "fails" if not result.ok else "passes with warnings" if result.problems else "passes"
            print(
                f"{model} on {profile.name} (TensorRT {result.tensorrt}, model opset {result.opset}, "
                f"{result.checked_nodes} nodes checked): {verdict}" + ("" if not result.problems else f": {counts}")
            )
            for p in result.problems:
                print(f"  {p.severity:<7} [{p.rule}] node '{p.node}' ({p.op_type}): {p.message}")
            failed = failed or not result.ok
    except EdgecvError as exc:
        _fail(exc)
    if failed:
        raise typer.Exit(1)


@app.command()
def deploy(
    run_dir: Annotated[Path, typer.Argument(help="A finished run folder (runs/<name>/<run-id>)")],
    device: Annotated[str, typer.Option("--device", "-d", help="TensorRT device profile name or YAML path")],
    artifact: Annotated[
        str | None, typer.Option("--artifact", help="ONNX artifact name (default: the last one for the device)")
    ] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Where bundles go (default: RUN_DIR/deploy)")] = None,
    images: Annotated[int, typer.Option("--images", min=0, help="Val images to bundle at the model's size")] = 200,
    force: Annotated[bool, typer.Option("--force", help="Bundle even if the static TensorRT check fails")] = False,
) -> None:
    """Write a Jetson deploy bundle (folder + .tar.gz): ONNX, trtexec script, DeepStream config, val set, runner."""
    from edgecv.export.bundle import deploy_run

    try:
        result = deploy_run(run_dir, device, artifact=artifact, out=out, images=images, force=force)
    except EdgecvError as exc:
        _fail(exc)
    accuracy = result.manifest["accuracy"]["edgecv_on_bundle_images"]
    print(f"bundle: {result.folder}")
    print(f"tarball: {result.tarball}")
    print(f"engine: {result.plan.precision}; " + "; ".join(result.plan.notes))
    if accuracy:
        from edgecv.tasks import get_task

        metric = get_task(result.manifest.get("task", "classification")).metric
        print(f"edgecv {metric.label} on the {accuracy['samples']} bundled images: "
              f"{metric.show(metric.value(accuracy))}")
    print("on the device: ./build_engine.sh && python3 run_bundle.py; then edgecv report RUN_DIR --import results.json")


@app.command()
def schema(kind: Annotated[str, typer.Argument(help="recipe or report")]) -> None:
    """Print the JSON Schema of a recipe or of report.json."""
    from edgecv import api

    try:
        print(api.dumps(api.json_schema(kind)))
    except EdgecvError as exc:
        _fail(exc)
