"""The val sets detection and segmentation bundles carry, on small synthetic datasets: letterboxed images and boxes
that map back to the original pixels, label maps resized by nearest neighbour with ignored pixels kept."""

from __future__ import annotations

import numpy as np
import torch

from edgecv.artifacts import Preprocessing
from edgecv.deploy.box_geometry import letterbox_geometry, to_source_pixels
from edgecv.tasks import get_task
from edgecv.tasks.detection.transforms import LETTERBOX_FILL, unletterbox


class _Detections(torch.utils.data.Dataset):
    def __init__(self) -> None:
        gen = torch.Generator().manual_seed(0)
        self.images = [torch.randint(0, 256, (3, 60, 100), dtype=torch.uint8, generator=gen) for _ in range(4)]
        self.boxes = [torch.tensor([[10.0, 5.0, 40.0, 50.0], [55.5, 20.25, 98.0, 59.0]]) for _ in range(4)]
        self.targets = [0, 1, 0, 1]

    def __len__(self) -> int:
        return 4

    def __getitem__(self, i: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        return self.images[i], {"boxes": self.boxes[i].clone(), "labels": torch.tensor([i % 2, 1])}


def test_letterboxed_detection_val_set_maps_back_to_source_pixels() -> None:
    pre = Preprocessing(size=(64, 64), resize="letterbox", mean=(0.5, 0.5, 0.5), std=(0.2, 0.2, 0.2))
    task = get_task("detection")
    arrays = task.bundle_val(_Detections(), pre, 4)
    assert arrays["images"].shape == (4, 3, 64, 64) and arrays["images"].dtype == np.uint8
    assert list(arrays["box_counts"]) == [2, 2, 2, 2] and arrays["source_sizes"].tolist() == [[60, 100]] * 4
    scale, left, top = letterbox_geometry((60, 100), (64, 64))
    assert (scale, left, top) == (0.64, 0, 13) and (arrays["images"][:, :, :top] == LETTERBOX_FILL).all()
    back = to_source_pixels(arrays["boxes"][:2], (60, 100), (64, 64), "letterbox")
    np.testing.assert_allclose(back, [[10.0, 5.0, 40.0, 50.0], [55.5, 20.25, 98.0, 59.0]], atol=1e-4)
    theirs = unletterbox(torch.from_numpy(arrays["boxes"][:2]).double(), (60, 100), (64, 64)).numpy()
    np.testing.assert_allclose(back, theirs, atol=1e-12)
    image, target = task.bundle_dataset(arrays)[3]
    assert torch.equal(image, torch.from_numpy(arrays["images"][3])) and target["labels"].tolist() == [1, 1]


def test_stretched_boxes_map_back() -> None:
    boxes = np.array([[10.0, 6.0, 50.0, 30.0]])
    back = to_source_pixels(boxes * [0.5, 2.0, 0.5, 2.0], (30, 100), (60, 50), "stretch")
    np.testing.assert_allclose(back, boxes)


class _Masks(torch.utils.data.Dataset):
    def __init__(self) -> None:
        self.targets = [0, 1, 2]

    def __len__(self) -> int:
        return 3

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        label = torch.zeros(40, 60, dtype=torch.int64)
        label[10:30, 20:40] = i + 1
        label[:4] = -100  # the data's ignore index, as edgecv's loaders give it
        return torch.full((3, 40, 60), 7 * i, dtype=torch.uint8), label


def test_segmentation_val_set_resizes_label_maps_by_nearest_neighbour() -> None:
    from edgecv.tasks.segmentation.transforms import resize_label

    task = get_task("segmentation")
    arrays = task.bundle_val(_Masks(), Preprocessing(size=(20, 30)), 3)
    masks = arrays["labels"]
    assert masks.dtype == np.int16 and masks.shape == (3, 20, 30) and arrays["images"].shape == (3, 3, 20, 30)
    assert set(np.unique(masks)) == {-100, 0, 1, 2, 3}  # classes and ignored pixels, never blended
    for i in range(3):
        np.testing.assert_array_equal(masks[i], resize_label(_Masks()[i][1], (20, 30)).numpy())
    _, label = task.bundle_dataset(arrays)[0]
    assert label.dtype == torch.int64 and (label[:2] == -100).all()
