"""The shipped device profiles: they load, carry the figures the estimator and exporter need, and agree with
each other; name lookup fails helpfully."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from edgecv.devices import HOST, DeviceProfile, device_names, list_devices, load_device, load_device_file
from edgecv.errors import RecipeError
from edgecv.export.tensorrt_ops import parser_spec

DEVICES_DIR = Path(__file__).resolve().parents[1] / "devices"
SHIPPED = sorted(p.stem for p in DEVICES_DIR.glob("*.yaml"))
JETSONS = [n for n in SHIPPED if n.startswith("jetson-")]

EXPECTED = {
    "host-cpu",
    "jetson-nano-4gb",
    "jetson-tx2",
    "jetson-xavier-nx",
    "jetson-agx-xavier",
    "jetson-orin-nano-4gb",
    "jetson-orin-nano-8gb",
    "jetson-orin-nano-4gb-super",
    "jetson-orin-nano-8gb-super",
    "jetson-orin-nx-8gb",
    "jetson-orin-nx-16gb",
    "jetson-orin-nx-8gb-super",
    "jetson-orin-nx-16gb-super",
    "jetson-agx-orin-32gb",
    "jetson-agx-orin-64gb",
}

PEAK_PAIRS = [
    ("fp16_tflops", "fp16_tflops_sparse"),
    ("int8_tops", "int8_tops_sparse"),
    ("dla_int8_tops", "dla_int8_tops_sparse"),
]


def _cc(device: DeviceProfile) -> float:
    major, minor = device.compute_capability.split(".")
    return int(major) + int(minor) / 10


def test_every_expected_profile_ships():
    assert set(SHIPPED) >= EXPECTED
    assert set(device_names()) >= EXPECTED


@pytest.mark.parametrize("name", SHIPPED)
def test_profile_loads_by_name_and_by_path(name):
    by_name = load_device(name)
    assert isinstance(by_name, DeviceProfile)
    assert by_name.name == name  # the name defaults to the file stem
    assert by_name.display_name
    by_path = load_device_file(DEVICES_DIR / f"{name}.yaml")
    assert by_path.name == name


def test_list_devices_puts_the_host_first():
    devices = list_devices()
    assert devices[0].name == HOST
    assert {d.name for d in devices} == set(device_names())


@pytest.mark.parametrize("name", JETSONS)
def test_jetson_has_the_figures_estimation_needs(name):
    d = load_device(name)
    assert d.kind == "jetson"
    assert d.runtime == "tensorrt" and d.quantization_scheme == "tensorrt"
    assert d.compute_capability and _cc(d) >= 5.3
    assert d.software.tensorrt and d.software.jetpack and d.software.l4t and d.software.cuda
    assert d.memory_bandwidth_gbs and d.memory_bandwidth_gbs > 0
    assert d.peak.fp16_tflops and d.peak.fp16_tflops > 0
    assert d.peak.fp32_tflops and 0 < d.peak.fp32_tflops < d.peak.fp16_tflops
    assert d.cuda_cores and d.cpu and d.cpu_cores and d.memory_gb > 0
    assert {"fp32", "fp16"} <= set(d.precisions)
    if "int8" in d.precisions:
        assert d.peak.int8_tops and d.peak.int8_tops >= d.peak.fp16_tflops
    else:
        assert d.peak.int8_tops is None


@pytest.mark.parametrize("name", JETSONS)
def test_power_modes_are_consistent(name):
    d = load_device(name)
    ids = [m.id for m in d.power_modes]
    assert ids and len(ids) == len(set(ids))
    assert d.default_power_mode in ids
    assert all(m.watts > 0 for m in d.power_modes)
    clocks = [m.gpu_max_mhz for m in d.power_modes if m.gpu_max_mhz]
    assert clocks, "the estimator scales per-layer overhead by the top GPU clock"
    for m in d.power_modes:
        if m.cpu_cores_online is not None:
            assert 1 <= m.cpu_cores_online <= d.cpu_cores


@pytest.mark.parametrize("name", SHIPPED)
def test_sparse_peaks_are_at_least_dense(name):
    peak = load_device(name).peak
    for dense, sparse in PEAK_PAIRS:
        d, s = getattr(peak, dense), getattr(peak, sparse)
        if s is not None:
            assert d is not None, f"{sparse} without {dense}"
            assert s >= d


@pytest.mark.parametrize("name", SHIPPED)
def test_sparsity_only_on_ampere_and_later(name):
    d = load_device(name)
    if d.sparsity_2_4:
        assert _cc(d) >= 8.0
    else:
        assert d.peak.fp16_tflops_sparse is None and d.peak.int8_tops_sparse is None


@pytest.mark.parametrize("name", SHIPPED)
def test_dla_figures_only_with_dla_cores(name):
    d = load_device(name)
    if d.dla_cores == 0:
        assert d.peak.dla_int8_tops is None and d.peak.dla_int8_tops_sparse is None
    else:
        assert d.peak.dla_int8_tops


def test_agx_orin_64gb_beats_orin_nano_4gb_on_every_peak():
    big, small = load_device("jetson-agx-orin-64gb").peak, load_device("jetson-orin-nano-4gb").peak
    for field in ("fp32_tflops", "fp16_tflops", "int8_tops", "fp16_tflops_sparse", "int8_tops_sparse"):
        assert getattr(big, field) > getattr(small, field), field
    assert (
        load_device("jetson-agx-orin-64gb").memory_bandwidth_gbs
        > load_device("jetson-orin-nano-4gb").memory_bandwidth_gbs
    )


@pytest.mark.parametrize("name", [n for n in JETSONS if n.endswith("-super")])
def test_super_variant_is_the_same_module_with_higher_peaks(name):
    sup, base = load_device(name), load_device(name.removesuffix("-super"))
    for field in ("compute_capability", "cuda_cores", "tensor_cores", "cpu_cores", "dla_cores", "memory_gb"):
        assert getattr(sup, field) == getattr(base, field), field
    for field in ("fp32_tflops", "fp16_tflops", "int8_tops", "int8_tops_sparse"):
        assert getattr(sup.peak, field) > getattr(base.peak, field), field
    assert sup.memory_bandwidth_gbs >= base.memory_bandwidth_gbs
    assert max(m.gpu_max_mhz for m in sup.power_modes) > max(m.gpu_max_mhz for m in base.power_modes)


@pytest.mark.parametrize("name", JETSONS)
def test_opset_within_what_the_tensorrt_parser_reads(name):
    d = load_device(name)
    major, minor = (int(x) for x in d.software.tensorrt.split(".")[:2])
    spec = parser_spec(major, minor)
    assert spec is not None, f"no ONNX parser table for TensorRT {d.software.tensorrt}"
    assert spec.min_opset <= d.software.max_onnx_opset <= spec.max_opset


def test_generations_have_the_expected_capabilities():
    assert load_device("jetson-nano-4gb").compute_capability == "5.3"
    assert load_device("jetson-tx2").compute_capability == "6.2"
    for name in ("jetson-nano-4gb", "jetson-tx2"):  # Maxwell / Pascal sm_62: no fast INT8 in TensorRT
        assert "int8" not in load_device(name).precisions
        assert load_device(name).software.max_onnx_opset == 13  # TensorRT 8.2
    for name in ("jetson-xavier-nx", "jetson-agx-xavier"):
        d = load_device(name)
        assert d.compute_capability == "7.2" and d.software.max_onnx_opset == 17  # TensorRT 8.5
        assert "int8" in d.precisions and not d.sparsity_2_4
    for name in JETSONS:
        if "orin" in name:
            d = load_device(name)
            assert d.compute_capability == "8.7" and d.sparsity_2_4 and "int8" in d.precisions


def test_host_cpu_takes_its_figures_from_the_machine():
    host = load_device(HOST)
    assert host.kind == "host-cpu" and host.measurable_here
    assert host.runtime == "onnxruntime" and host.quantization_scheme == "onnxruntime-cpu"
    assert host.cpu_cores is not None and host.cpu_cores >= 1
    assert host.cpu and host.arch and host.arch != "unknown"
    raw = yaml.safe_load((DEVICES_DIR / "host-cpu.yaml").read_text())
    assert raw["memory_gb"] == 0  # a placeholder in the file...
    if Path("/proc/meminfo").exists():
        assert host.memory_gb > 0  # ...replaced at load time


def test_unknown_name_suggests_the_near_miss():
    with pytest.raises(RecipeError, match="did you mean 'jetson-orin-nano-8gb'"):
        load_device("jetson-orin-nano-8g")


def test_unknown_name_without_a_near_miss_lists_how_to_find_names():
    with pytest.raises(RecipeError, match="edgecv devices") as info:
        load_device("raspberry-pi-5")
    assert "did you mean" not in str(info.value)


def test_missing_yaml_path_is_a_recipe_error(tmp_path):
    with pytest.raises(RecipeError, match="does not exist"):
        load_device(str(tmp_path / "nope.yaml"))


def test_bad_field_names_the_file_and_field(tmp_path):
    path = tmp_path / "bad.yaml"
    data = yaml.safe_load((DEVICES_DIR / "jetson-orin-nano-8gb.yaml").read_text())
    data["peak"]["int8_topz"] = 1
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(RecipeError, match=r"bad\.yaml: field 'peak\.int8_topz'"):
        load_device_file(path)
