"""`edgecv check model.onnx --device NAME`: exit 0 when it passes, 1 with problems (each with its node), 2 on bad
input."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from edgecv.cli import app
from tests.deploy.onnx_models import classifier, save

runner = CliRunner()


def _check(path: Path, *devices: str) -> tuple[int, str]:
    args = ["check", str(path)]
    for device in devices:
        args += ["--device", device]
    result = runner.invoke(app, args)
    return result.exit_code, result.output


def test_tensorrt_scheme_qdq_model_passes(tmp_path: Path) -> None:
    code, out = _check(save(classifier(qdq=True), tmp_path / "q.onnx"), "jetson-orin-nano-8gb", "jetson-agx-xavier")
    assert code == 0, out
    assert "on jetson-orin-nano-8gb (TensorRT 10.3, model opset 17" in out and ": passes" in out
    assert "jetson-agx-xavier (TensorRT 8.5.2" in out


def test_uint8_activations_are_flagged_node_by_node(tmp_path: Path) -> None:
    code, out = _check(save(classifier(qdq=True, uint8_activations=True), tmp_path / "u8.onnx"), "jetson-agx-xavier")
    assert code == 1
    assert "fails" in out
    assert "error   [qdq-uint8] node 'input_q' (QuantizeLinear)" in out
    assert "[qdq-uint8] node 'input_dq' (DequantizeLinear)" in out
    assert "[qdq-zero-point] node 'input_q'" in out


def test_per_channel_activations_are_flagged(tmp_path: Path) -> None:
    code, out = _check(
        save(classifier(qdq=True, per_channel_activation=True), tmp_path / "pc.onnx"), "jetson-orin-nano-8gb"
    )
    assert code == 1
    assert "[qdq-per-channel-activation] node 'input_q' (QuantizeLinear)" in out


def test_opset_too_new_for_the_profile_is_flagged(tmp_path: Path) -> None:
    path = save(classifier(opset=18), tmp_path / "o18.onnx")
    code, out = _check(path, "jetson-agx-xavier")
    assert code == 1 and "[opset] node '(model)'" in out and "model opset 18 is above 17" in out
    code, out = _check(path, "jetson-orin-nano-8gb")  # TensorRT 10.3 reads opset 18
    assert code == 0, out


def test_int8_model_on_a_device_without_int8(tmp_path: Path) -> None:
    code, out = _check(save(classifier(qdq=True), tmp_path / "q.onnx"), "jetson-nano-4gb")
    assert code == 1 and "[precision]" in out


def test_one_failing_device_fails_the_command(tmp_path: Path) -> None:
    code, out = _check(save(classifier(opset=18), tmp_path / "o18.onnx"), "jetson-orin-nano-8gb", "jetson-agx-xavier")
    assert code == 1 and out.count("\n") >= 3


def test_bad_input_exits_2(tmp_path: Path) -> None:
    code, out = _check(tmp_path / "missing.onnx", "jetson-agx-xavier")
    assert code == 2 and "does not exist" in out
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"not onnx")
    code, out = _check(garbage, "jetson-agx-xavier")
    assert code == 2 and "not a readable ONNX model" in out
    model = save(classifier(), tmp_path / "m.onnx")
    code, out = _check(model, "host-cpu")
    assert code == 2 and "TensorRT checks apply only to TensorRT devices" in out
    code, out = _check(model, "jetson-orin-nano-8")
    assert code == 2 and "did you mean" in out
    result = runner.invoke(app, ["check", str(model)])
    assert result.exit_code == 2  # --device is required
