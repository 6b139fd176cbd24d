"""Recipe loading: validation, did-you-mean, env expansion, overrides, path resolution, hashing."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from edgecv.errors import RecipeError
from edgecv.recipe import load_recipe
from tests.conftest import write_recipe


def test_valid_recipe_resolves_paths_against_its_folder(tmp_path: Path) -> None:
    path = write_recipe(tmp_path, model={"arch": "small_cnn", "checkpoint": "ckpt/model.pt"}, output="out")
    recipe = load_recipe(path)
    assert recipe.model.checkpoint == (tmp_path / "ckpt" / "model.pt").resolve()
    assert recipe.output == (tmp_path / "out").resolve()
    assert recipe.source == path.resolve()


def test_unknown_key_suggests_the_close_one(tmp_path: Path) -> None:
    path = write_recipe(tmp_path, train={"epochs": 1, "learning_rate": 0.1, "lr": 0.1})
    path.write_text(path.read_text().replace("epochs:", "epoch:"))
    with pytest.raises(RecipeError) as err:
        load_recipe(path)
    assert str(path) in str(err.value)
    assert "train.epoch" in str(err.value) and "did you mean 'epochs'" in str(err.value)


def test_wrong_type_names_key_and_value(tmp_path: Path) -> None:
    path = write_recipe(tmp_path, train={"epochs": "ten"})
    with pytest.raises(RecipeError, match=r"key 'train.epochs'.*'ten'"):
        load_recipe(path)


def test_malformed_yaml_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("name: x\nmodel: {arch: small_cnn\n")
    with pytest.raises(RecipeError, match=r"bad.yaml: malformed YAML at line \d+"):
        load_recipe(path)


def test_env_expansion_with_default_and_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "r.yaml"
    path.write_text("name: x\nmodel: {arch: '${ARCH:-resnet20}'}\ndata: {val: '${EDGECV_TEST_DIR}/val'}\n")
    monkeypatch.setenv("EDGECV_TEST_DIR", "/data")
    recipe = load_recipe(path)
    assert recipe.model.arch == "resnet20"
    assert recipe.data.val == Path("/data/val")
    monkeypatch.delenv("EDGECV_TEST_DIR")
    with pytest.raises(RecipeError, match=r"EDGECV_TEST_DIR\} is not set"):
        load_recipe(path)


def test_overrides_are_validated_like_the_file(tmp_path: Path) -> None:
    path = write_recipe(tmp_path)
    recipe = load_recipe(path, ["train.epochs=3", "validate.batch_sizes=[1, 8]", "data.val=somewhere"])
    assert recipe.train.epochs == 3
    assert recipe.validate_.batch_sizes == [1, 8]
    assert recipe.data.val == (Path.cwd() / "somewhere").resolve()
    with pytest.raises(RecipeError, match=r"key 'train.epochs'"):
        load_recipe(path, ["train.epochs=-1"])
    with pytest.raises(RecipeError, match=r"key\.path=value"):
        load_recipe(path, ["train.epochs"])


def test_overrides_reach_into_the_stage_list(tmp_path: Path) -> None:
    path = write_recipe(tmp_path, stages=[{"type": "prune", "ratio": 0.3}, {"type": "quantize"}])
    recipe = load_recipe(path, ["stages.0.ratio=0.5", "stages.1.precision=fp16"])
    assert recipe.stages[0].ratio == 0.5 and recipe.stages[1].precision == "fp16"
    with pytest.raises(RecipeError, match=r"'2' is not an index of a 2-entry list"):
        load_recipe(path, ["stages.2.ratio=0.5"])
    with pytest.raises(RecipeError, match=r"key 'stages\[0\]\.ratio'"):
        load_recipe(path, ["stages.0.ratio=2"])


def test_unknown_stage_type_lists_known_ones(tmp_path: Path) -> None:
    path = write_recipe(tmp_path, stages=[{"type": "finetun", "epochs": 1}])
    with pytest.raises(RecipeError, match=r"stages\[0\].*unknown stage type 'finetun'.*finetune"):
        load_recipe(path)


def test_digest_changes_with_content_only(tmp_path: Path) -> None:
    path = write_recipe(tmp_path)
    first, again = load_recipe(path).digest(), load_recipe(path).digest()
    changed = load_recipe(path, ["train.epochs=2"]).digest()
    assert first == again and first != changed


def test_recipes_shipped_in_the_repo_validate() -> None:
    root = Path(__file__).resolve().parents[1] / "recipes"
    files = sorted(root.glob("*.yaml"))
    assert files, "recipes/ holds example recipes"
    for path in files:
        recipe = load_recipe(path)
        assert recipe.name == yaml.safe_load(path.read_text())["name"]


def test_duplicate_keys_are_refused_with_their_lines(tmp_path: Path) -> None:
    path = tmp_path / "dup.yaml"
    path.write_text("name: x\nmodel:\n  arch: small_cnn\n  arch: resnet20\n")
    with pytest.raises(RecipeError, match=r"dup.yaml: key 'arch' is given twice \(lines 3 and 4\); keep one"):
        load_recipe(path)


def test_yaml_merge_keys_are_not_duplicates(tmp_path: Path) -> None:
    path = tmp_path / "merge.yaml"
    text = "name: x\nmodel:\n  <<: {arch: resnet20}\n  arch: small_cnn\n"
    path.write_text(text)
    assert load_recipe(path).model.arch == "small_cnn"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("name: x\nmodel: {arch: small_cnn}\n".encode("utf-16"), "UTF-16 encoded; save it as UTF-8"),
        ("name: x\nmodel: {arch: small_cnn}\n".encode("utf-16-le"), "UTF-16 encoded; save it as UTF-8"),
        (b"\x7fELF\x02\x01\x01\x00\x00\x00" + bytes(range(256)), "a binary file, not a YAML recipe"),
        ("name: caf\xe9\n".encode("latin-1"), "not UTF-8 text (byte 0xe9 at offset 9); save the recipe as UTF-8"),
    ],
)
def test_undecodable_recipe_files_are_one_clear_error(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "odd.yaml"
    path.write_bytes(content)
    with pytest.raises(RecipeError) as err:
        load_recipe(path)
    assert str(err.value).startswith(f"{path}: ") and message in str(err.value)


def test_env_variables_in_comments_are_ignored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EDGECV_UNSET", raising=False)
    monkeypatch.setenv("EDGECV_EPOCHS", "2")
    path = tmp_path / "r.yaml"
    path.write_text(
        "# run with ${EDGECV_UNSET}\n"
        "name: x  # ${EDGECV_UNSET}\n"
        "data: {val: '/v#${EDGECV_EPOCHS}'}\n"
        "model: {arch: small_cnn}  # ${EDGECV_UNSET} too\n"
        "train:\n  epochs: ${EDGECV_EPOCHS}  #${EDGECV_UNSET}\n"
        "validate: {devices: [host-cpu, '${EDGECV_DEV:-host-cpu}'], batch_sizes: [${EDGECV_BATCH:-4}]}\n"
    )
    recipe = load_recipe(path)
    assert recipe.data.val == Path("/v#2") and recipe.train.epochs == 2 and recipe.validate_.batch_sizes == [4]
    path.write_text(path.read_text() + "output: ${EDGECV_UNSET}/runs\n")
    with pytest.raises(RecipeError, match=r"r.yaml: line 8: environment variable \$\{EDGECV_UNSET\} is not set"):
        load_recipe(path)


def test_device_and_bundle_paths_resolve_against_the_recipe_folder(tmp_path: Path) -> None:
    folder = tmp_path / "recipes"
    folder.mkdir()
    path = write_recipe(
        folder,
        validate={"devices": ["host-cpu", "devices/mine.yaml", "../other.yml"]},
        export={"bundles": ["jetson-orin-nano-8gb", "devices/mine.yaml"]},
    )
    recipe = load_recipe(path)
    assert recipe.validate_.devices == ["host-cpu", str(folder / "devices/mine.yaml"), str(tmp_path / "other.yml")]
    assert recipe.export.bundles == ["jetson-orin-nano-8gb", str(folder / "devices/mine.yaml")]
    again = load_recipe(path, ["validate.devices=[host-cpu, here/dev.yaml]"])
    assert again.validate_.devices == ["host-cpu", str(Path.cwd() / "here/dev.yaml")]


def test_absurd_epochs_and_input_size_are_refused(tmp_path: Path) -> None:
    with pytest.raises(RecipeError, match=r"key 'train.epochs': .*10000 \(got 1000000000\)"):
        load_recipe(write_recipe(tmp_path, train={"epochs": 1_000_000_000}))
    with pytest.raises(RecipeError, match=r"key 'model.input_size': .*8 \(got 1\)"):
        load_recipe(write_recipe(tmp_path, model={"arch": "small_cnn", "input_size": 1}))


def test_a_device_profile_next_to_the_recipe_loads_from_any_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from edgecv.api import plan_recipe

    folder = tmp_path / "project"
    (folder / "devices").mkdir(parents=True)
    shipped = Path(__file__).resolve().parents[1] / "devices" / "jetson-orin-nano-8gb.yaml"
    profile = yaml.safe_load(shipped.read_text())
    profile["name"] = "my-orin"
    (folder / "devices" / "my-orin.yaml").write_text(yaml.safe_dump(profile))
    path = write_recipe(folder, validate={"devices": ["host-cpu", "devices/my-orin.yaml"]})
    monkeypatch.chdir(tmp_path)
    assert plan_recipe(path)["devices"] == ["host-cpu", "my-orin"]
