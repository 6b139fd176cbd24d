"""Drawing the report's val pictures with PIL: enlarge a model input, draw boxes with labels, overlay class maps.

Colours are deterministic: :func:`label_palette` is the PASCAL VOC label palette (class 0 black, the usual
background) for class maps, :func:`box_palette` evenly spread bright hues for boxes.

Example::

    thumb, factor = enlarge(image)                       # uint8 (H, W, 3) -> PIL image, longest side THUMB_SIDE
    draw_box(ImageDraw.Draw(thumb), box * factor, (255, 0, 0), "cat 0.91")
    overlay(image, mask, label_palette(3)).save("mask.png")
"""

from __future__ import annotations

import colorsys
from collections.abc import Sequence
from functools import cache

import numpy as np
from PIL import Image, ImageDraw, ImageFont

THUMB_SIDE = 240
"""Longest side of a picture in pixels: small inputs are enlarged (nearest), large ones reduced."""
MASK_ALPHA = 0.5
"""Weight of a class colour over the image in an overlay."""
TRUTH_COLOUR = (255, 255, 255)
"""Outline of true boxes (no class colour is white)."""

Colour = tuple[int, int, int]


def label_palette(count: int) -> list[Colour]:
    """The PASCAL VOC label palette's first ``count`` colours (bits of the class index spread over R, G, B)."""
    colours = []
    for index in range(count):
        r = g = b = 0
        value = index
        for shift in range(7, -1, -1):
            r |= ((value >> 0) & 1) << shift
            g |= ((value >> 1) & 1) << shift
            b |= ((value >> 2) & 1) << shift
            value >>= 3
        colours.append((r, g, b))
    return colours


def box_palette(count: int) -> list[Colour]:
    """``count`` saturated, bright colours with evenly spread hues (golden-ratio steps): class ``i`` keeps its
    colour whatever the class count."""
    return [tuple(round(c * 255) for c in colorsys.hsv_to_rgb((i * 0.618034) % 1.0, 0.85, 1.0))  # type: ignore[misc]
            for i in range(count)]


def hex_colour(colour: Sequence[int]) -> str:
    """``#rrggbb``."""
    return "#{:02x}{:02x}{:02x}".format(*colour[:3])


def thumb_factor(height: int, width: int) -> float:
    """The scale from a (height, width) image to its picture."""
    return THUMB_SIDE / max(height, width)


def enlarge(image: np.ndarray, resample: Image.Resampling = Image.Resampling.BILINEAR) -> tuple[Image.Image, float]:
    """A uint8 (H, W, 3) image as a picture whose longest side is THUMB_SIDE, and the scale factor."""
    height, width = image.shape[:2]
    factor = thumb_factor(height, width)
    size = (max(1, round(width * factor)), max(1, round(height * factor)))
    return Image.fromarray(np.ascontiguousarray(image, dtype=np.uint8)).resize(size, resample), factor


@cache
def _font() -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=11)
    except (TypeError, OSError):  # Pillow without FreeType: the bitmap font
        return ImageFont.load_default()


def draw_box(draw: ImageDraw.ImageDraw, box: Sequence[float], colour: Colour, text: str = "",
             width: int = 2) -> None:
    """An xyxy outline of ``width`` pixels and, when ``text`` is given, a tag with it above (or inside) the box."""
    x1, y1, x2, y2 = (round(float(v)) for v in box)
    draw.rectangle((x1, y1, x2, y2), outline=colour, width=width)
    if not text:
        return
    left, top, right, bottom = draw.textbbox((0, 0), text, font=_font())
    w, h = right - left + 4, bottom - top + 2
    ty = y1 - h if y1 - h >= 0 else y1 + width
    draw.rectangle((x1, ty, x1 + w, ty + h), fill=colour)
    dark = sum(colour) > 3 * 150  # black text on a light tag
    draw.text((x1 + 2 - left, ty + 1 - top), text, fill=(0, 0, 0) if dark else (255, 255, 255), font=_font())


def overlay(image: np.ndarray, mask: np.ndarray, palette: Sequence[Colour], alpha: float = MASK_ALPHA) -> Image.Image:
    """The picture of ``image`` (uint8 (H, W, 3)) with class map ``mask`` (H, W) blended in: each pixel of class c
    becomes ``(1 - alpha) * pixel + alpha * palette[c]``; pixels outside the palette (ignored) stay as they are.
    The mask is enlarged by nearest neighbour, so class borders stay sharp."""
    picture, _ = enlarge(image)
    labels = Image.fromarray(np.asarray(mask, dtype=np.int32)).resize(picture.size, Image.Resampling.NEAREST)
    classes = np.asarray(labels, dtype=np.int64)
    colours = np.asarray(palette, dtype=np.float64).reshape(-1, 3)
    known = (classes >= 0) & (classes < len(colours))
    blended = np.asarray(picture, dtype=np.float64)
    blended[known] = (1 - alpha) * blended[known] + alpha * colours[classes[known]]
    return Image.fromarray(np.round(blended).astype(np.uint8))
