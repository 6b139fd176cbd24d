"""Accuracy control keeps the most quantization-sensitive layer in float when the budget is tight."""

from __future__ import annotations

import copy
from pathlib import Path

import onnx
import pytest

from edgecv.quantize.accuracy_control import Budget
from edgecv.quantize.onnx_graph import layer_counts
from edgecv.quantize.selection_noise import float_gain, unresolved_gain_warning
from tests.quantize.conftest import Tiny
from tests.quantize.tiny_models import make_outlier


def test_the_outlier_layer_ranks_first_and_stays_float_until_the_budget_holds(tiny: Tiny) -> None:
    model = copy.deepcopy(tiny.current.module)
    make_outlier(model)  # same float function; block1.conv2's input is now hopeless for per-tensor INT8
    # half-range weights: the same integers on every CPU (full-range int8 saturates on x86 without VNNI)
    result = tiny.run("ac", module=model, max_accuracy_drop=4.0, weight_range="half")
    control = result.metrics["schemes"][0]["accuracy_control"]
    trials = {t["float_layers"]: t for t in control["trials"]}
    assert not trials[0]["met"] and trials[0]["drop"] > 4.0  # all-INT8 loses far more than the budget
    assert control["ranking"][0]["name"] == "block1.conv2" and control["ranking"][0]["kept_float"]
    assert control["ranking"][0]["score"] > 10 * max(r["score"] for r in control["ranking"][1:])
    # the outlier layer goes back to float first; a second layer may follow when the drop sits near the budget
    kept = control["float_layers"]
    assert control["met"] and kept[0] == "block1.conv2" and len(kept) <= 2
    assert trials[len(kept)]["met"] and trials[len(kept)]["drop"] <= 4.0
    assert trials[1]["drop"] < trials[0]["drop"]  # keeping the outlier in float is what helps
    artifact = result.outputs[0]
    assert artifact.precision == "mixed"
    counts = layer_counts(onnx.load(artifact.path))
    assert counts["total"] == 7 and len(counts["float"]) == len(kept) and counts["quantized"] == 7 - len(kept)
    noise = control["selection_noise"]  # the chosen file's drop on the selection images, resampled
    low, high = noise["interval90"]
    assert noise["images"] == control["samples"] and low <= noise["drop"] <= high
    final = control["final"]["drop"] if control["final"] else trials[len(kept)]["drop"]
    assert abs(noise["drop"] - final) < 1e-6  # the same file on the same images, scored image by image
    gain = control["float_gain"]  # the outlier in float is a gain the selection split resolves: it is kept
    assert gain["resolved"] and gain["gain"] > 4.0 and gain["interval90"][0] > 0
    assert not list((tiny.root / "ac").glob("trials-*")), "trial exports are removed"
    same = float_gain(tiny.ctx, tiny.ctx.splits.selection, Path(artifact.path), Path(artifact.path), Budget(4.0))
    assert same is not None and same["gain"] == 0 and not same["resolved"]  # no gain: nothing to keep float for
    assert unresolved_gain_warning(gain, "onnxruntime-cpu", len(kept)) is None  # a resolved gain: no warning
    kept_anyway = unresolved_gain_warning(same, "onnxruntime-cpu", 1)  # the default: warn, keep the layers
    assert kept_anyway is not None and "keeping 1 layer(s) in float gained +0.00" in kept_anyway
    assert "may be chance" in kept_anyway and "require_resolved_gain: true" in kept_anyway
    dropped = unresolved_gain_warning({**same, "dropped_float_layers": ["block1.conv2"]}, "onnxruntime-cpu", 0)
    assert dropped is not None and "keeping 1 layer(s)" in dropped and "every layer stays INT8" in dropped


def test_a_list_of_range_estimators_is_chosen_on_selection_and_recorded(tiny: Tiny) -> None:
    result = tiny.run("ac-ranges", max_accuracy_drop=50.0, range_estimator=["minmax", "percentile"])
    scheme = result.metrics["schemes"][0]
    tried = scheme["range_estimators_tried"]
    assert set(tried["selection_scores"]) == {"minmax", "percentile"}
    best = max(tried["selection_scores"].values())
    assert tried["chosen"] == scheme["range_estimator"] and tried["selection_scores"][tried["chosen"]] == best
    control = scheme["accuracy_control"]  # the search starts from the kept estimator's model
    assert control["met"] and abs(control["trials"][0]["score"] - best) < 0.01


def test_onnx_path_scores_the_float_layers_gain_on_the_trials_images(tiny: Tiny, tmp_path: Path) -> None:
    """The outlier model given as model.onnx: accuracy control on the ONNX path keeps layers float, and their gain
    over all-INT8 (paired bootstrap) is measured on the selection images the trials were scored on."""
    import yaml

    from edgecv.api import compress
    from edgecv.export.onnx import export_onnx
    from edgecv.recipe import load_recipe
    from tests.conftest import tiny_recipe_data

    model = copy.deepcopy(tiny.current.module)
    make_outlier(model)
    path = export_onnx(model, tiny.ctx.input_spec, tmp_path / "outlier.onnx", opset=17)
    pre = tiny.ctx.preprocessing
    data = tiny_recipe_data(
        tmp_path, train={"epochs": 0},
        data={**tiny.ctx.recipe.data.model_dump(include={"digits_size", "max_val_samples", "selection_fraction"})},
        stages=[{"type": "quantize", "calibration_size": 64, "max_accuracy_drop": 4.0, "weight_range": "half",
                 "max_float_layers": 2}],
        validate={"batch_sizes": [1], "runs": 2},
    )
    data["model"] = {"onnx": str(path), "mean": list(pre.mean), "std": list(pre.std)}  # replaces the zoo arch
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump(data, sort_keys=False))
    quantize = next(s for s in compress(load_recipe(recipe)).stages if s.kind == "quantize")
    control = quantize.metrics["schemes"][0]["accuracy_control"]
    trials = {t["float_layers"]: t["score"] for t in control["trials"]}
    gain = control["float_gain"]
    assert gain is not None and not control["trials"][0]["met"], control  # all-INT8 missed: layers were tried
    chosen = len(gain.get("dropped_float_layers") or control["float_layers"])
    assert abs(gain["gain"] - (trials[chosen] - trials[0])) < 0.01, (gain, trials)  # same files, same images
    assert gain["resolved"] and gain["gain"] > 4.0 and control["float_layers"]  # the outlier's gain is real: kept


def test_require_resolved_gain_keeps_every_layer_int8_when_the_gain_is_chance(
    tiny: Tiny, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With ``require_resolved_gain: true`` a gain the split cannot resolve (here: reported so by the bootstrap,
    patched) sends the float layers back to INT8: the artifact is all INT8 and the stage says why."""
    from edgecv.quantize import selection_noise

    unresolved = {"gain": 0.4, "interval90": [-1.2, 2.0], "images": 12, "resamples": 100, "resolved": False}
    monkeypatch.setattr(selection_noise, "float_gain", lambda *args: dict(unresolved))
    model = copy.deepcopy(tiny.current.module)
    make_outlier(model)
    result = tiny.run("ac-revert", module=model, max_accuracy_drop=4.0, weight_range="half",
                      require_resolved_gain=True)
    control = result.metrics["schemes"][0]["accuracy_control"]
    assert control["float_gain"]["dropped_float_layers"][0] == "block1.conv2"  # the search had kept the outlier
    assert control["float_layers"] == [] and not control["met"]  # all-INT8 misses the budget, and says so
    counts = layer_counts(onnx.load(result.outputs[0].path))
    assert counts["quantized"] == counts["total"] == 7 and result.outputs[0].precision == "int8"
    assert any("every layer stays INT8 (require_resolved_gain: true)" in w for w in result.warnings)


def _stored_weights(path: str) -> list:
    """The integer weight initializers behind the file's weight DequantizeLinear nodes."""
    import numpy as np
    from onnx import numpy_helper

    model = onnx.load(path)
    inits = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    return [inits[n.input[0]] for n in model.graph.node if n.op_type == "DequantizeLinear"
            and n.input[0] in inits and inits[n.input[0]].dtype in (np.int8, np.uint8) and inits[n.input[0]].ndim > 1]


def test_fastest_weights_keep_7_bit_int8_within_budget_and_fall_back_to_uint8_past_it(
    tiny: Tiny, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``weight_type: fastest`` on a CPU whose u8s8 sums saturate (patched, so every machine runs this): half-range
    int8 weights (the faster kernels) when their all-INT8 drop is within the budget, uint8 when it is not."""
    import numpy as np

    from edgecv.quantize import cpu_isa

    monkeypatch.setattr(cpu_isa, "int8_saturates", lambda *args, **kwargs: True)
    result = tiny.run("ac-fastest", max_accuracy_drop=50.0, weight_type="fastest")
    scheme = result.metrics["schemes"][0]
    assert (scheme["weight_type"], scheme["weight_range"]) == ("int8", "half")
    assert list(scheme["weight_types_tried"]["selection_scores"]) == ["int8"]  # within budget: uint8 never built
    weights = _stored_weights(result.outputs[0].path)
    assert weights and all(w.dtype == np.int8 and np.abs(w.astype(int)).max() <= 64 for w in weights)
    assert scheme["accuracy_control"]["met"] and not scheme["accuracy_control"]["float_layers"]

    model = copy.deepcopy(tiny.current.module)
    make_outlier(model)  # all-INT8 misses a 4-point budget with either weight storage (its activations are the cause)
    result = tiny.run("ac-fastest-outlier", module=model, max_accuracy_drop=4.0, weight_type="fastest")
    scheme = result.metrics["schemes"][0]
    tried = scheme["weight_types_tried"]
    assert tried["chosen"] == "uint8" == scheme["weight_type"] and list(tried["selection_scores"]) == ["int8", "uint8"]
    control = scheme["accuracy_control"]  # the search goes on from the uint8 model: its all-INT8 score is the start
    assert abs(control["trials"][0]["score"] - tried["selection_scores"]["uint8"]) < 0.01
    assert control["float_layers"][0] == "block1.conv2" and control["met"]
    assert all(w.dtype == np.uint8 for w in _stored_weights(result.outputs[0].path))


def test_fastest_weights_need_a_budget_and_the_models_pytorch_code() -> None:
    from pydantic import ValidationError

    from edgecv.stages.quantize import QuantizeParams

    with pytest.raises(ValidationError, match=r"weight_type: fastest .* set max_accuracy_drop"):
        QuantizeParams(type="quantize", weight_type="fastest")
    assert QuantizeParams(type="quantize", weight_type="fastest", max_accuracy_drop=1.0).weight_type == "fastest"
