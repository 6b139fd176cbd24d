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
