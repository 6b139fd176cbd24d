"""Engine build decisions as pure functions of (device profile, ONNX model): no TensorRT needed."""

from __future__ import annotations

from pathlib import Path

import onnx
import pytest
from onnx import helper

from edgecv.devices import DeviceProfile, load_device
from edgecv.errors import ModelError, RecipeError, UnsupportedError
from edgecv.export.trt_options import TensorRTOptions
from edgecv.export.trt_plan import count_qdq, parse_version, plan_build
from tests.deploy.onnx_models import classifier, save

FP32 = classifier()
QDQ = classifier(qdq=True)


def _profile(name: str, **software: object) -> DeviceProfile:
    base = load_device(name)
    return base.model_copy(update={"software": base.software.model_copy(update=software)})


def test_xavier_fp32_model_gets_fp16_flags_on_dla_with_static_batch() -> None:
    plan = plan_build(load_device("jetson-agx-xavier"), FP32)
    assert (plan.tensorrt, plan.precision, plan.strongly_typed) == ("8.5.2", "fp16", False)
    assert plan.explicit_batch_flag
    assert plan.builder_flags == ["FP16", "GPU_FALLBACK"]
    assert (plan.dla_core, plan.gpu_fallback, plan.sparsity) == (0, True, False)
    assert (plan.dynamic_batch, plan.min_batch, plan.max_batch) == (False, 1, 1)
    assert any("DLA takes no dynamic shapes" in n for n in plan.notes)


def test_xavier_without_dla_keeps_the_dynamic_batch_profile() -> None:
    plan = plan_build(load_device("jetson-agx-xavier"), FP32, TensorRTOptions(dla=False, max_batch=16, opt_batch=4))
    assert (plan.dynamic_batch, plan.min_batch, plan.opt_batch, plan.max_batch) == (True, 1, 4, 16)
    assert plan.shapes == {"min": [1, 3, 16, 16], "opt": [4, 3, 16, 16], "max": [16, 3, 16, 16]}
    assert plan.batch_sizes() == [1, 2, 4, 8, 16]
    assert plan.dla_core is None and "GPU_FALLBACK" not in plan.builder_flags


def test_orin_nano_fp32_model_gets_fp16_and_sparsity_without_explicit_batch_flag() -> None:
    plan = plan_build(load_device("jetson-orin-nano-8gb"), FP32)
    assert (plan.tensorrt, plan.precision, plan.strongly_typed) == ("10.3", "fp16", False)
    assert not plan.explicit_batch_flag
    assert plan.builder_flags == ["FP16", "SPARSE_WEIGHTS"]
    assert plan.dla_core is None and plan.sparsity
    assert (plan.dynamic_batch, plan.min_batch, plan.opt_batch, plan.max_batch) == (True, 1, 1, 32)


def test_qdq_model_is_int8_strongly_typed_on_tensorrt_10() -> None:
    plan = plan_build(load_device("jetson-orin-nano-8gb"), QDQ)
    assert (plan.precision, plan.qdq_nodes, plan.strongly_typed) == ("int8", 4, True)
    assert "FP16" not in plan.builder_flags and "INT8" not in plan.builder_flags


def test_qdq_model_uses_int8_and_fp16_flags_on_tensorrt_8_5() -> None:
    plan = plan_build(load_device("jetson-agx-xavier"), QDQ)
    assert (plan.precision, plan.strongly_typed) == ("int8", False)
    assert plan.builder_flags[:2] == ["FP16", "INT8"]
    assert plan.dla_core == 0


def test_strongly_typed_off_keeps_flags_on_10_x() -> None:
    plan = plan_build(load_device("jetson-orin-nano-8gb"), QDQ, TensorRTOptions(strongly_typed="off"))
    assert not plan.strongly_typed and plan.builder_flags[:2] == ["FP16", "INT8"]


def test_tensorrt_11_is_always_strongly_typed_and_keeps_onnx_types() -> None:
    device = _profile("jetson-orin-nano-8gb", tensorrt="11.0")
    plan = plan_build(device, FP32)
    assert plan.strongly_typed and plan.precision == "fp32" and "FP16" not in plan.builder_flags
    with pytest.raises(UnsupportedError, match="always strongly typed"):
        plan_build(device, FP32, TensorRTOptions(strongly_typed="off"))


def test_int8_model_on_a_device_without_int8_is_refused() -> None:
    with pytest.raises(UnsupportedError, match="runs only fp32, fp16"):
        plan_build(load_device("jetson-nano-4gb"), QDQ)


def test_int8_without_qdq_is_refused_and_says_to_quantize() -> None:
    with pytest.raises(UnsupportedError, match="quantize stage"):
        plan_build(load_device("jetson-orin-nano-8gb"), FP32, TensorRTOptions(precision="int8"))


def test_precision_not_in_profile_is_refused() -> None:
    with pytest.raises(UnsupportedError, match="does not run fp16"):
        plan_build(
            _profile("jetson-orin-nano-8gb").model_copy(update={"precisions": ["fp32", "int8"]}),
            FP32,
            TensorRTOptions(precision="fp16"),
        )


def test_fp32_requested_on_dla_device_stays_on_the_gpu() -> None:
    plan = plan_build(load_device("jetson-agx-orin-64gb"), FP32, TensorRTOptions(precision="fp32"))
    assert plan.dla_core is None and plan.dynamic_batch
    assert any("DLA runs fp16/int8" in n for n in plan.notes)


def test_dla_core_beyond_the_profile_is_refused() -> None:
    with pytest.raises(UnsupportedError, match="has 1 DLA core"):
        plan_build(load_device("jetson-orin-nx-8gb"), FP32, TensorRTOptions(dla_core=1))


def test_host_cpu_is_not_a_tensorrt_device() -> None:
    with pytest.raises(UnsupportedError, match="not TensorRT"):
        plan_build(load_device("host-cpu"), FP32)


def test_workspace_is_capped_by_device_memory() -> None:
    assert plan_build(load_device("jetson-nano-4gb"), FP32, TensorRTOptions(workspace_mb=4096)).workspace_mb == 1024
    assert plan_build(load_device("jetson-orin-nano-8gb"), FP32, TensorRTOptions(workspace_mb=512)).workspace_mb == 512


def test_fixed_batch_onnx_gives_a_static_plan() -> None:
    plan = plan_build(load_device("jetson-orin-nano-8gb"), classifier(batch=4))
    assert (plan.dynamic_batch, plan.min_batch, plan.max_batch) == (False, 4, 4)


def test_plan_from_a_file_records_its_sha256(tmp_path: Path) -> None:
    from edgecv.artifacts import sha256_file

    path = save(FP32, tmp_path / "m.onnx")
    plan = plan_build(load_device("jetson-orin-nano-8gb"), path)
    assert plan.onnx_sha256 == sha256_file(path) and plan.input_name == "input" and plan.output_names == ["logits"]


def test_count_qdq_walks_subgraphs() -> None:
    branch = helper.make_graph(
        [helper.make_node("DequantizeLinear", ["q", "s"], ["y"])], "b", [], [helper.make_tensor_value_info("y", 1, [1])]
    )
    node = helper.make_node("If", ["c"], ["y"], then_branch=branch, else_branch=branch)
    model = helper.make_model(helper.make_graph([node], "g", [], []))
    assert count_qdq(model) == 2 and count_qdq(QDQ) == 4 and count_qdq(FP32) == 0


def test_models_with_two_inputs_are_refused() -> None:
    model = onnx.ModelProto()
    model.CopyFrom(FP32)
    model.graph.input.append(helper.make_tensor_value_info("extra", 1, [1]))
    with pytest.raises(ModelError, match="2 inputs"):
        plan_build(load_device("jetson-orin-nano-8gb"), model)


@pytest.mark.parametrize(("text", "expected"), [("8.5.2.2", (8, 5, 2)), ("10.3", (10, 3, 0)), ("11", (11, 0, 0))])
def test_parse_version(text: str, expected: tuple[int, int, int]) -> None:
    assert parse_version(text) == expected


def test_options_validate_batches() -> None:
    with pytest.raises(ValueError, match="opt_batch"):
        TensorRTOptions(opt_batch=8, max_batch=4)


def test_recipe_accepts_bundles_and_tensorrt_options(tmp_path: Path) -> None:
    from edgecv.recipe import load_recipe
    from tests.conftest import write_recipe

    recipe = load_recipe(write_recipe(tmp_path, export={"bundles": ["jetson-agx-xavier"], "tensorrt": {"dla": False}}))
    assert recipe.export.bundles == ["jetson-agx-xavier"] and not recipe.export.tensorrt.dla
    with pytest.raises(RecipeError):
        load_recipe(write_recipe(tmp_path, "bad.yaml", export={"tensorrt": {"precsion": "fp16"}}))
