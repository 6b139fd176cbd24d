"""The recipe: one YAML file that says what to compress, how, for which devices. Validated before any work.

Example::

    from edgecv.recipe import load_recipe
    recipe = load_recipe("recipes/quickstart.yaml", overrides=["train.epochs=3"])
    recipe.model.arch, recipe.train.epochs      # ("small_cnn", 3)
    recipe.digest()                              # sha256 of the resolved recipe, recorded in every run

Relative paths (also device profile paths in ``validate.devices`` and ``export.bundles``) resolve against the
recipe's folder (paths given with ``--set`` against the current folder); ``${VAR}`` and ``${VAR:-default}`` expand
from the environment in values (never in comments). Unknown and duplicate keys are errors with a did-you-mean.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import yaml
from pydantic import Field, ValidationError, field_validator, model_validator

from edgecv.errors import RecipeError
from edgecv.export.trt_options import TensorRTOptions
from edgecv.recipe_errors import describe_validation_error
from edgecv.stages.contract import recipe_stage_params
from edgecv.stages.params import StrictModel, TrainParams
from edgecv.validate.parity import ParityCriteria

StageParams = Annotated[Union[tuple(recipe_stage_params())], Field(discriminator="type")]  # noqa: UP007
"""One entry of a recipe's ``stages:`` list: the Params of any registered stage, chosen by its ``type``."""

PATH_KEYS = ("model.checkpoint", "model.code_dir", "model.onnx", "data.train", "data.val", "output")
LIST_PATH_KEYS = ("validate.devices", "export.bundles")
"""Lists whose entries are device names or YAML paths; a path (``.yaml``/``.yml`` or with a ``/``) resolves too."""
MIN_INPUT_SIZE = 8
_ENV_PATTERN = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class ModelSection(StrictModel):
    """Which model: a zoo name (``resnet20``, ``mobilenet_v2``), ``package.module:factory``, or an ONNX file."""

    arch: str | None = Field(
        None, description="Zoo name (`edgecv models`) or import path `package.module:factory`; or give model.onnx"
    )
    onnx: Path | None = Field(
        None, description="A model exported elsewhere, as an ONNX file (instead of model.arch): quantized, validated "
        "and deployed as it is; stages that need its PyTorch code (train, prune, distill, finetune, QAT) are refused"
    )
    outputs: list[str] | None = Field(
        None, min_length=1, description="model.onnx: the graph outputs the task reads, in the order its decoding "
        "takes them (classification/segmentation: the logits; detection: see model.decoding); default: all, in order"
    )
    num_classes: int | None = Field(None, gt=0, description="Defaults to the number of classes in the data")
    checkpoint: Path | None = Field(
        None, description="Weights to load: a state_dict (.pt/.pth, read weights-only) or a .safetensors file"
    )
    code_dir: Path | None = Field(
        None, description="A folder searched first for the module of model.arch's package.module:factory (the "
        "user's model code), before the recipe's folder and sys.path"
    )
    trust_checkpoint: bool = Field(
        False,
        description="Also accept a whole pickled model or TorchScript as model.checkpoint; this unpickles "
        "arbitrary code from the file, so set it only for files you trust",
    )
    pretrained: bool = Field(False, description="torchvision weights from the local torch cache (no download)")
    kwargs: dict[str, Any] = Field({}, description="Extra keyword arguments for the model factory")
    input_size: int | tuple[int, int] | None = Field(
        None, description="Square input side, or [height, width] (each at least 8); defaults to the model's own"
    )
    mean: tuple[float, float, float] | None = Field(
        None, description="Per-channel mean subtracted from pixels scaled to 0-1, in channel_order"
    )
    std: tuple[float, float, float] | None = Field(None, description="Per-channel divisor after the mean")
    channel_order: Literal["RGB", "BGR"] | None = Field(
        None, description="Channel order the model takes (BGR for OpenCV-trained models); default RGB"
    )
    resize: Literal["stretch", "letterbox"] | None = Field(
        None, description="stretch: plain resize to input_size; letterbox: keep the aspect and pad (detection)"
    )
    decoding: str | None = Field(
        None, description="Detection: how a user's network's raw output becomes boxes and class scores (`edgecv "
        "models` lists the decoders, e.g. fastestdet); torchvision detectors decode themselves"
    )

    @model_validator(mode="after")
    def _one_source(self) -> ModelSection:
        if (self.arch is None) == (self.onnx is None):
            raise ValueError("give exactly one of model.arch (a zoo name or package.module:factory) and model.onnx "
                             "(an ONNX file)")
        if self.onnx is not None:
            torch_only = {"checkpoint": self.checkpoint is not None, "code_dir": self.code_dir is not None,
                          "pretrained": self.pretrained, "kwargs": bool(self.kwargs),
                          "trust_checkpoint": self.trust_checkpoint}
            used = [k for k, v in torch_only.items() if v]
            if used:
                raise ValueError(f"model.onnx is a whole model: model.{used[0]} applies to a PyTorch model only; "
                                 f"remove model.{used[0]}")
        elif self.outputs is not None:
            raise ValueError("model.outputs names graph outputs of model.onnx; remove it for a PyTorch model")
        return self

    @property
    def label(self) -> str:
        """How reports name the model: its ``arch``, or ``onnx:<file name>``."""
        return self.arch if self.arch is not None else f"onnx:{Path(str(self.onnx)).name}"

    @field_validator("input_size")
    @classmethod
    def _input_side(cls, value: int | tuple[int, int] | None) -> int | tuple[int, int] | None:
        sides = (value,) if isinstance(value, int) else value or ()
        if any(side < MIN_INPUT_SIZE for side in sides):
            raise ValueError(f"input sides must be at least {MIN_INPUT_SIZE} (got {value})")
        return value

    @property
    def input_hw(self) -> tuple[int, int] | None:
        """``input_size`` as (height, width), or None."""
        size = self.input_size
        return None if size is None else (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))


class DataSection(StrictModel):
    """Where the images are. With no paths, the embedded default (scikit-learn's handwritten digits) is used."""

    format: Literal["auto", "digits", "imagefolder", "cifar10", "yolo", "coco", "labelmap"] = Field(
        "auto", description="auto: digits without paths; CIFAR-10 batches or an ImageFolder (folder or .tar) by "
        "content; for detection a YOLO folder (images/ + labels/) or a COCO .json; for segmentation (labelmap) an "
        "image folder with PNG label maps of the same stems beside it (train + trainannot, images/ + labels/)"
    )
    train: Path | None = None
    val: Path | None = None
    val_fraction: float = Field(0.2, gt=0, lt=1, description="Held out from train when no val set is given")
    seed: int = 0
    batch_size: int = Field(64, gt=0)
    workers: int = Field(0, ge=0, description="DataLoader worker processes")
    max_train_samples: int | None = Field(None, gt=0)
    max_val_samples: int | None = Field(None, gt=0)
    selection_fraction: float = Field(
        0.1, gt=0, lt=1, description="Of every class, held out from train (from val with selection_from: val, or when "
        "there is no train data) to choose the best epoch, accuracy control's fallbacks and thresholds; never reported"
    )
    selection_from: Literal["train", "val"] | None = Field(
        None, description="Where the selection split is held out: train (the default with train data) or val (the "
        "reported val split is then the rest; calibration still draws from train): use val for a checkpoint trained "
        "on data.train, whose decisions on its own training images do not carry over"
    )
    max_selection_samples: int | None = Field(None, gt=0, description="Cap on the selection split")
    calibration_size: int = Field(
        512, gt=0, description="Images drawn from train (the selection split without train data) for calibration"
    )
    digits_size: int = Field(32, ge=8, description="Side the 8x8 digits are upsampled to")
    skip_bad_images: bool = Field(
        False, description="Skip (and count) image files that do not decode instead of refusing the data"
    )
    ignore_index: int | None = Field(
        None, ge=0, le=255, description="Segmentation: the label-map value no metric or loss counts (CamVid's "
        "11 = void; VOC's 255)"
    )
    class_names: list[str] | None = Field(
        None, min_length=1, description="Segmentation: class names in label-map index order (without the ignore "
        "index); default: classes.txt beside the data, else the indices found"
    )
    palette: list[tuple[int, int, int]] | None = Field(
        None, description="Segmentation: an RGB color per class for the report's mask overlays"
    )


    @model_validator(mode="after")
    def _selection_has_a_source(self) -> DataSection:
        if self.selection_from == "val" and self.train is not None and self.val is None:
            raise ValueError("selection_from: val holds the selection split out of data.val, but there is no data.val "
                             "(val would be carved from data.train); add data.val or use selection_from: train")
        if self.selection_from == "train" and self.train is None and self.val is not None:
            raise ValueError("selection_from: train, but there is no data.train; remove the key (the selection split "
                             "then comes out of data.val) or add data.train")
        return self


class ParityTolerance(ParityCriteria):
    """How close an FP32 export must stay to its torch parent (see :mod:`edgecv.validate.parity`).

    Both run the same float math, so agreement must be exact on every sample that is not a near tie, and the
    cosine stays checked; only ``samples`` decides what is compared: the other fields re-judge on ``--resume``.
    """

    min_cosine: float | None = Field(0.9999, gt=0, le=1, description="Lowest per-sample cosine; None: only reported")
    samples: int = Field(128, gt=0, description="Validation images compared")


class ExportSection(StrictModel):
    """How to export: ONNX opset (default: the lowest any target device parses, at most 17), simplification."""

    opset: int | None = Field(None, ge=13, le=17, description="The legacy exporter honours 13-17")
    simplify: bool = True
    dynamic_batch: bool = True
    parity: ParityTolerance = ParityTolerance()
    bundles: list[str] = Field([], description="Devices to write a deploy bundle for, after validation")
    bundle_images: int = Field(200, ge=0, description="Val images (at the model's size) each bundle carries")
    tensorrt: TensorRTOptions = Field(TensorRTOptions(), description="How engines are built on the device")
    trt_nms: bool = Field(
        False, description="Detection: also write <artifact>.nms.onnx, the graph with TensorRT's EfficientNMS_TRT "
        "plugin appended (NMS in the engine, at edgecv's score/IoU thresholds and 100 detections), for the TensorRT "
        "devices in validate.devices whose TensorRT ships the plugin; TensorRT-only (ONNX Runtime cannot run it)"
    )


class ValidateSection(StrictModel):
    """Where and how exported artifacts are checked: accuracy on val, latency per device."""

    devices: list[str] = Field(["host-cpu"], min_length=1, description="Device profile names or YAML paths")
    batch_sizes: list[int] = Field([1, 32], min_length=1)
    warmup: int = Field(10, ge=0)
    runs: int = Field(50, gt=0, description="Timed runs per batch size")
    threads: int | None = Field(None, gt=0, description="ONNX Runtime intra-op threads; defaults to all cores")
    max_samples: int | None = Field(None, gt=0, description="Cap on validation images")

    @field_validator("batch_sizes")
    @classmethod
    def _positive(cls, value: list[int]) -> list[int]:
        if any(b <= 0 for b in value):
            raise ValueError("batch sizes must be positive integers")
        return value


class Budgets(StrictModel):
    """Limits each artifact x device is judged against; a device profile's own budgets fill the gaps."""

    latency_ms: float | None = Field(None, gt=0)
    max_accuracy_drop: float | None = Field(
        None, ge=0, description="Points of the task's primary metric (top-1, mAP, mIoU) below the first artifact"
    )
    model_size_mb: float | None = Field(None, gt=0)
    memory_mb: float | None = Field(None, gt=0)


class ThreadsSection(StrictModel):
    """CPU threads of the run's torch work (training, pruning, calibration); ONNX Runtime's are validate.threads."""

    torch: int | None = Field(
        None, gt=0, description="torch.set_num_threads for the run (1-2 can be much faster on a loaded machine); "
        "default: torch's own, recorded in the report's environment",
    )


class ReportSection(StrictModel):
    formats: list[Literal["json", "md", "html"]] = ["json", "md", "html"]
    budgets: Budgets = Budgets()


class Recipe(StrictModel):
    """A whole recipe. ``source`` is the file it came from (None when built in Python)."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", description="Names the run folder runs/<name>/")
    task: str = Field("classification", description="The task (a folder of edgecv/tasks): classification, ...")
    seed: int = Field(
        0, description="Seeds Python, NumPy and torch before the model is built (its initial weights); data.seed "
        "and train.seed seed the splits and the training order"
    )
    model: ModelSection
    data: DataSection = DataSection()
    train: TrainParams = TrainParams()
    stages: list[StageParams] = []
    export: ExportSection = ExportSection()
    validate_: ValidateSection = Field(ValidateSection(), alias="validate")
    threads: ThreadsSection = ThreadsSection()
    report: ReportSection = ReportSection()
    output: Path = Field(Path("runs"), description="Runs go to <output>/<name>/<run-id>/")
    source: Path | None = Field(None, exclude=True)

    model_config = StrictModel.model_config | {"populate_by_name": True}

    @model_validator(mode="after")
    def _decoding_is_detection(self) -> Recipe:
        if self.model.decoding is not None and self.task != "detection":
            raise ValueError(f"model.decoding describes a detector's output, but task is {self.task!r}; remove "
                             "model.decoding or set task: detection")
        return self

    @field_validator("task")
    @classmethod
    def _known_task(cls, value: str) -> str:
        from edgecv.tasks import task_names

        if value not in task_names():
            raise ValueError(f"unknown task {value!r}; edgecv has {', '.join(task_names())}")
        return value

    def code_paths(self) -> list[Path]:
        """Folders a ``package.module:factory`` is imported from, in order: ``model.code_dir``, the recipe's own."""
        folders = [self.model.code_dir] if self.model.code_dir is not None else []
        return folders + ([self.source.parent] if self.source is not None else [])

    def digest(self) -> str:
        """sha256 of the resolved recipe (paths absolute, defaults filled); names a run (its folder, manifest).

        ``--resume`` does not compare it: each stage compares the fingerprint of the settings it depends on
        (:mod:`edgecv.resume`), so a changed tolerance reruns only the stages that read it.
        """
        canonical = json.dumps(self.to_dict(), sort_keys=True, default=str)
        return hashlib.sha256(canonical.encode()).hexdigest()

    def to_dict(self) -> dict[str, Any]:
        """The resolved recipe as plain data, with its YAML key names."""
        return self.model_dump(mode="json", by_alias=True)


def expand_env(text: str, source: str, skip: list[tuple[int, int]] | None = None) -> str:
    """Expand ``${VAR}`` and ``${VAR:-default}``; an unset variable without a default is an error naming its line.

    ``skip`` lists (start, end) character spans left as they are (the YAML comments, see :func:`comment_spans`).
    """

    def replace(match: re.Match[str]) -> str:
        if skip and any(start <= match.start() < end for start, end in skip):
            return match.group(0)
        name, default = match.group(1), match.group(2)
        value = os.environ.get(name)
        if value is None:
            if default is None:
                line = text.count("\n", 0, match.start()) + 1
                raise RecipeError(
                    f"{source}: line {line}: environment variable ${{{name}}} is not set; "
                    f"set it or write ${{{name}:-default}}"
                )
            return default
        return value

    return _ENV_PATTERN.sub(replace, text)


def comment_spans(text: str) -> list[tuple[int, int]]:
    """Character spans of the YAML comments in ``text``: the ``#...`` runs between tokens (a ``#`` inside a
    scalar is part of a token). Empty when the text does not even tokenize (the parser then reports it)."""
    spans: list[tuple[int, int]] = []
    try:
        end = 0
        for token in yaml.scan(text, Loader=yaml.SafeLoader):
            gap = text[end : token.start_mark.index]
            spans += [(end + m.start(), end + m.end()) for m in re.finditer(r"#[^\n]*", gap)]
            end = token.end_mark.index
    except yaml.YAMLError:
        return []
    return spans


class DuplicateKeyError(yaml.YAMLError):
    """A mapping gives the same key twice (YAML would silently keep the last one)."""

    def __init__(self, key: Any, line: int, first_line: int) -> None:
        super().__init__(f"duplicate key {key!r} at line {line} (first at line {first_line})")
        self.key, self.line, self.first_line = key, line, first_line


class RecipeLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice in one mapping (plain YAML keeps the last one silently)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node)
            line = key_node.start_mark.line + 1
            if key in seen:
                raise DuplicateKeyError(key, line, seen[key])
            seen[key] = line
        return super().construct_mapping(node, deep=deep)


def _looks_utf16(head: bytes) -> bool:
    """A UTF-16 byte order mark, or ASCII text with every other byte zero (UTF-16 without a mark)."""
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return True
    head = head[: len(head) - len(head) % 2]
    if len(head) < 4 or b"\x00" not in head:
        return False
    return head[0::2].count(0) == len(head) // 2 or head[1::2].count(0) == len(head) // 2


def _recipe_text(path: Path) -> str:
    """The recipe file as text; a binary, UTF-16 or otherwise non-UTF-8 file is a RecipeError naming the fix."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise RecipeError(f"{path}: cannot read the recipe ({exc.strerror or exc}); check its permissions") from exc
    if _looks_utf16(raw[:256]):
        raise RecipeError(f"{path}: the recipe is UTF-16 encoded; save it as UTF-8")
    if b"\x00" in raw:
        raise RecipeError(f"{path}: a binary file, not a YAML recipe; give the path to a recipe YAML (see recipes/)")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise RecipeError(
            f"{path}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start}); save the recipe as UTF-8"
        ) from exc


def _load_yaml(text: str) -> Any:
    loader = RecipeLoader(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def apply_override(data: dict[str, Any], assignment: str, base: Path) -> None:
    """Apply one ``key.path=value`` override in place; the value is parsed as YAML (``3``, ``[1, 32]``, ``true``)."""
    key, sep, raw = assignment.partition("=")
    if not sep or not key.strip():
        raise RecipeError(f"--set {assignment!r}: write it as key.path=value, e.g. --set train.epochs=3")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError as exc:
        raise RecipeError(f"--set {assignment!r}: the value is not valid YAML ({exc})") from exc
    key = key.strip()
    if key in PATH_KEYS and isinstance(value, str) and not Path(value).is_absolute():
        value = str((base / value).resolve())
    if key in LIST_PATH_KEYS and isinstance(value, list):
        value = [_resolve_entry(entry, base) for entry in value]
    node: Any = data
    parts = key.split(".")
    for part, following in itertools.pairwise(parts):
        child = _list_item(node, part, assignment) if isinstance(node, list) else node.get(part)
        if child is None:
            child = node[part] = {}
        if not isinstance(child, dict | list):
            raise RecipeError(f"--set {assignment!r}: '{part}' is not a section, so it has no key '{following}'")
        node = child
    if isinstance(node, list):
        _list_item(node, parts[-1], assignment)
        node[int(parts[-1])] = value
    else:
        node[parts[-1]] = value


def _list_item(items: list[Any], part: str, assignment: str) -> Any:
    """``items[part]`` for a list key such as ``stages.1``; a clear error for a bad index."""
    if not part.isdigit() or int(part) >= len(items):
        raise RecipeError(f"--set {assignment!r}: '{part}' is not an index of a {len(items)}-entry list; "
                          f"use 0..{len(items) - 1}, e.g. --set stages.0.epochs=3")
    return items[int(part)]


def is_profile_path(entry: str) -> bool:
    """A device entry that names a YAML file (``.yaml``/``.yml``, or anything with a ``/``) rather than a profile."""
    return entry.endswith((".yaml", ".yml")) or "/" in entry


def _resolve_entry(entry: Any, base: Path) -> Any:
    if isinstance(entry, str) and entry and is_profile_path(entry):
        return str((base / os.path.expanduser(entry)).resolve())
    return entry


def _resolve_paths(data: dict[str, Any], base: Path) -> None:
    """Make the recipe's path values absolute against ``base`` (the recipe's folder)."""
    for dotted in PATH_KEYS + LIST_PATH_KEYS:
        *parents, leaf = dotted.split(".")
        node: Any = data
        for part in parents:
            node = node.get(part) if isinstance(node, dict) else None
        if not isinstance(node, dict):
            continue
        value = node.get(leaf)
        if dotted in LIST_PATH_KEYS and isinstance(value, list):
            node[leaf] = [_resolve_entry(entry, base) for entry in value]
        elif dotted in PATH_KEYS and isinstance(value, str) and value:
            node[leaf] = str((base / os.path.expanduser(value)).resolve())


def parse_recipe(data: Any, source: str, base: Path, overrides: list[str] | tuple[str, ...] = ()) -> Recipe:
    """Validate already-loaded recipe data; ``source`` names it in errors, ``base`` anchors relative paths."""
    if not isinstance(data, dict):
        raise RecipeError(
            f"{source}: a recipe is a mapping of sections (name, model, data, ...), not {type(data).__name__}"
        )
    _resolve_paths(data, base)
    for assignment in overrides:
        apply_override(data, assignment, Path.cwd())
    try:
        return Recipe.model_validate(data)
    except ValidationError as exc:
        raise RecipeError(describe_validation_error(exc, source, Recipe)) from exc


def load_recipe(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> Recipe:
    """Read, expand, override and validate a recipe file. Every problem is a RecipeError naming file and key."""
    path = Path(path)
    if not path.is_file():
        raise RecipeError(f"{path}: recipe file not found; give the path to a recipe YAML (see recipes/)")
    raw = _recipe_text(path)
    text = expand_env(raw, str(path), skip=comment_spans(raw))
    try:
        data = _load_yaml(text)
    except DuplicateKeyError as exc:
        raise RecipeError(
            f"{path}: key {exc.key!r} is given twice (lines {exc.first_line} and {exc.line}); keep one of them"
        ) from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise RecipeError(f"{path}: malformed YAML{where}: {problem}; fix the syntax there") from exc
    recipe = parse_recipe(data, str(path), path.parent.resolve(), overrides)
    return recipe.model_copy(update={"source": path.resolve()})
