"""Unreadable images in an ImageFolder (folder or tar) are found when the dataset opens: refused, or skipped."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from edgecv.data.imagefolder import image_folder, image_problem
from edgecv.errors import DataError


def _png(value: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.full((8, 8, 3), value, np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def _damaged_folder(root: Path) -> Path:
    for name in ("cat", "dog"):
        (root / name).mkdir(parents=True)
        for i in range(3):
            (root / name / f"{i}.png").write_bytes(_png(40 * i))
    (root / "dog" / "1.png").write_bytes(_png(9)[:30])  # truncated
    (root / "cat" / "x.jpg").write_bytes(b"not an image at all")
    (root / "cat" / "empty.png").write_bytes(b"")
    return root


def test_image_problem_tells_good_from_bad() -> None:
    assert image_problem(_png(1)) is None
    assert image_problem(_png(1)[:30]) and image_problem(b"") and image_problem(b"GIF89a garbage")


def test_a_bad_image_is_refused_naming_the_first_file(tmp_path: Path) -> None:
    root = _damaged_folder(tmp_path / "imgs")
    with pytest.raises(DataError) as err:
        image_folder(root, "data.train")
    message = str(err.value)
    assert message.startswith(f"data.train: {root / 'cat' / 'empty.png'} is not a readable image")
    assert "(+2 more)" in message and "data.skip_bad_images: true" in message and "\n" not in message


def test_bad_images_are_skipped_and_counted_on_request(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = _damaged_folder(tmp_path / "imgs")
    dataset = image_folder(root, "data.train", skip_bad=True)
    assert len(dataset) == 5 and dataset.classes == ["cat", "dog"]
    assert all(image.shape == (3, 8, 8) for image, _ in (dataset[i] for i in range(len(dataset))))
    assert "skipped 3 unreadable image(s)" in capsys.readouterr().err


def test_a_bad_image_inside_a_tar_is_named_by_its_member(tmp_path: Path) -> None:
    path = tmp_path / "val.tar"
    with tarfile.open(path, "w") as tar:
        for name, data in [("val/a/0.png", _png(1)), ("val/a/1.png", _png(2)), ("val/b/0.png", b"\x89PNG broken")]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    with pytest.raises(DataError, match=r"data.val: .*val.tar:val/b/0.png is not a readable image"):
        image_folder(path, "data.val")
