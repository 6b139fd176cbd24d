"""Everything that can fail on bad input, done before a run folder exists: devices, data, model, checkpoint.

So a bad recipe leaves nothing behind, and a good one has its data and model ready for the first stage.
"""

from __future__ import annotations

from torch import nn

from edgecv.artifacts import InputSpec, Preprocessing
from edgecv.data import DataSplits
from edgecv.devices import DeviceProfile, load_device
from edgecv.errors import EdgecvError, RecipeError
from edgecv.input_checks import check_inputs
from edgecv.models.onnx_input import OnnxModelInfo
from edgecv.plan import check_plan
from edgecv.recipe import Recipe
from edgecv.tasks import get_task


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's generators, so the same recipe builds and trains the same model."""
    import random

    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def where(recipe: Recipe) -> str:
    """How errors name the recipe: its file, or 'recipe' when built in Python."""
    return str(recipe.source) if recipe.source else "recipe"


def load_devices(recipe: Recipe) -> list[DeviceProfile]:
    """The recipe's target device profiles; an unknown one names the key."""
    profiles = []
    for index, name in enumerate(recipe.validate_.devices):
        try:
            profiles.append(load_device(name))
        except EdgecvError as exc:
            raise type(exc)(f"{where(recipe)}: key 'validate.devices[{index}]': {exc}") from exc
    return profiles


def preprocessing_for(
    recipe: Recipe, labels: list[str], onnx_shape: tuple[int, int, int] | None = None
) -> Preprocessing:
    """The model's own preprocessing (zoo defaults), with the recipe's input_size/mean/std taking precedence.

    A ``model.onnx`` graph (``onnx_shape``: its input's channels, height, width) fixes the size, and its mean and
    std must be given: nothing in an ONNX file says how its pixels were normalized.
    """
    from edgecv.models import model_defaults

    if onnx_shape is not None:
        missing = [k for k in ("mean", "std") if getattr(recipe.model, k) is None]
        if missing:
            raise RecipeError(
                f"key 'model.{missing[0]}': model.onnx does not say how its input was normalized; give model.mean "
                "and model.std (pixels scaled to 0-1, then (x - mean) / std; [0, 0, 0] and [1, 1, 1] for x/255)"
            )
    own = None if recipe.model.arch is None else get_task(recipe.task).model_defaults(recipe.model.arch)
    entry = model_defaults(recipe)
    size = entry.input_size if entry else (224, 224)
    if onnx_shape is not None:
        size = onnx_shape[1:]
    elif recipe.model.input_hw:
        size = recipe.model.input_hw
    elif own is None and recipe.data.format in ("auto", "digits") and recipe.data.train is None \
            and recipe.data.val is None:
        size = (recipe.data.digits_size, recipe.data.digits_size)
    mean = recipe.model.mean or (entry.mean if entry else (0.485, 0.456, 0.406))
    std = recipe.model.std or (entry.std if entry else (0.229, 0.224, 0.225))
    return Preprocessing(size=tuple(size), mean=tuple(mean), std=tuple(std), labels=labels,
                         channel_order=recipe.model.channel_order or "RGB",
                         resize=recipe.model.resize or getattr(entry, "resize", "stretch"))


def build_initial_model(recipe: Recipe, num_classes: int) -> nn.Module:
    """The recipe's model with its checkpoint or pretrained weights loaded."""
    from edgecv.models import build_model

    section = recipe.model
    if section.num_classes is not None and section.num_classes != num_classes:
        raise EdgecvError(
            f"{where(recipe)}: key 'model.num_classes' is {section.num_classes} but the data has {num_classes} "
            "classes; remove model.num_classes or fix the data"
        )
    return build_model(
        section.arch,
        num_classes,
        checkpoint=section.checkpoint,
        pretrained=section.pretrained,
        kwargs=dict(section.kwargs),
        trust_checkpoint=section.trust_checkpoint,
        search_paths=recipe.code_paths(),  # its own modules, first
        task=get_task(recipe.task),
        section=section,
    )


def onnx_input(recipe: Recipe, devices: list[DeviceProfile], num_classes: int) -> OnnxModelInfo | None:
    """What a ``model.onnx`` graph says about its input, after every check of it (None for a PyTorch model)."""
    if recipe.model.onnx is None:
        return None
    from edgecv.models.onnx_input import prepare_onnx_model

    return prepare_onnx_model(recipe, devices, num_classes).info


def prefixed(recipe: Recipe, exc: EdgecvError) -> EdgecvError:
    """The same error with the recipe file and key in front (unless it already names the recipe)."""
    message = str(exc)
    if recipe.source and str(recipe.source) in message:
        return exc
    key = f"key '{exc.field}': " if exc.field and exc.field not in message else ""
    return type(exc)(f"{where(recipe)}: {key}{message}", field=exc.field)


def preflight(
    recipe: Recipe, *, with_model: bool = True
) -> tuple[list[DeviceProfile], DataSplits, Preprocessing, InputSpec, nn.Module | None]:
    """Devices, data splits, preprocessing, input spec and the built model; every failure names file and key."""
    try:
        check_inputs(recipe)
        devices = load_devices(recipe)
        splits = get_task(recipe.task).load_datasets(recipe.data)
        graph = onnx_input(recipe, devices, splits.num_classes)
        pre = preprocessing_for(recipe, splits.labels, graph.shape if graph else None)
        seed_everything(recipe.seed)  # before the model is built: its initial weights come from the seed
        model = build_initial_model(recipe, splits.num_classes) if with_model and graph is None else None
        spec = InputSpec(shape=(3, *pre.size), output_names=get_task(recipe.task).output_names(model))
        if graph is not None:
            spec = spec.model_copy(update={"name": graph.input_name, "dynamic_batch": graph.fixed_batch is None})
        check_plan(recipe, devices, model)
    except EdgecvError as exc:
        raise prefixed(recipe, exc) from exc
    return devices, splits, pre, spec, model
