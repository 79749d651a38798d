"""Privacy masks: polygons the owner drew, blacked out or blurred in the home before a frame is encoded.

Polygons arrive in coordinates relative to the frame (0..1 on both axes), so one set fits every capture size.
A mask covers every pixel its polygon touches, edge pixels included: the interior is filled by the nonzero
winding rule (the canvas default, so a self-crossing polygon masks everything it winds around, unlike
OpenCV's even-odd fillPoly), and a 2 px outline adds the pixels the edges only graze.

The set in force is swapped whole (one reference assignment), so each frame is masked with one set, old or
new, never half of each; `LiveMasks` also tells the hub once frames carry a new set.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import cv2
import numpy as np
import numpy.typing as npt

from device_agent.stamp import Image

MaskStyle = Literal["black", "blur"]
MIN_POINTS = 3
MAX_POINTS = 64
MAX_MASKS = 32
MAX_VERSION = 2**53 - 1  # the largest integer a JavaScript page or hub can hold exactly
# Blur: the bounding box shrinks to one pixel per block of 24 px; on frames over 650 px wide a block is 1/26 of the
# width instead, so a 4K picture is not blurred any less than a VGA one.
_MIN_BLOCK = 24
_BLOCKS_ACROSS = 26
_UPSAMPLE = 8  # px per block while smoothing
_SHIFT = 4  # fixed-point fraction bits for OpenCV drawing: vertices kept to 1/16 px
_OUTLINE = 2  # reaches ~1 px either side of an edge: every pixel whose square the edge crosses

Coverage = npt.NDArray[np.bool_]
Area = npt.NDArray[np.uint8]  # an OpenCV mask: 255 where a mask applies


class MaskError(ValueError):
    """A mask list that does not follow the protocol; the message says what is wrong."""


@dataclass(frozen=True, slots=True)
class Mask:
    """One polygon (relative coordinates, 0..1) and how its pixels are hidden."""

    points: tuple[tuple[float, float], ...]
    style: MaskStyle


@dataclass(frozen=True, slots=True)
class MaskSet:
    """The masks of one version, as the hub numbered them (None: the agent was never told any)."""

    version: int | None
    masks: tuple[Mask, ...] = ()
    # Coverage per frame size, computed on first use: the frame size of a running source never changes.
    _compiled: dict[tuple[int, int], _Compiled] = field(default_factory=dict, compare=False, repr=False)

    def apply(self, image: Image) -> Image:
        """`image` with these masks applied (a new array), or `image` itself when there are none."""
        if not self.masks:
            return image
        height, width = image.shape[:2]
        compiled = self._compiled.get((height, width))
        if compiled is None:
            compiled = self._compiled[height, width] = _compile(self.masks, height, width)
        return compiled.apply(image)


NO_MASKS = MaskSet(None)


def _number(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise MaskError("coordinates must be numbers")
    number = float(value)
    if not (math.isfinite(number) and 0.0 <= number <= 1.0):
        raise MaskError("coordinates must be within 0..1")
    return number


def _mask(item: object) -> Mask:
    if not isinstance(item, dict):
        raise MaskError("each mask is an object")
    style, points = item.get("style"), item.get("points")
    if style == "black" or style == "blur":
        checked: MaskStyle = style
    else:
        raise MaskError("a mask's style must be 'black' or 'blur'")
    if not isinstance(points, list) or not MIN_POINTS <= len(points) <= MAX_POINTS:
        raise MaskError(f"a mask's points must be a list of {MIN_POINTS}..{MAX_POINTS} [x, y] pairs")
    pairs = []
    for point in points:
        if not isinstance(point, list) or len(point) != 2:
            raise MaskError("each point is an [x, y] pair")
        pairs.append((_number(point[0]), _number(point[1])))
    return Mask(tuple(pairs), checked)


def parse_masks(items: object) -> tuple[Mask, ...]:
    """Validate the hub's "masks" list (each {"points": [[x, y], ...], "style": ...}); MaskError if invalid.

    All or nothing: one bad polygon rejects the list, so the caller keeps masking with the set it had.
    """
    if not isinstance(items, list):
        raise MaskError("'masks' must be a list")
    if len(items) > MAX_MASKS:
        raise MaskError(f"at most {MAX_MASKS} masks")
    return tuple(_mask(item) for item in items)


def _pixel_points(mask: Mask, height: int, width: int) -> npt.NDArray[np.float64]:
    """Vertices in OpenCV pixel coordinates, where integer coordinates are pixel centres: relative 0 is the
    left (top) edge of the first pixel, -0.5, and relative 1 the right (bottom) edge of the last one."""
    return np.array(mask.points, dtype=np.float64) * (width, height) - 0.5


def _nonzero_fill(points: npt.NDArray[np.float64], height: int, width: int) -> Coverage:
    """Pixels whose centre has a nonzero winding number, found one scanline per pixel row."""
    start, end = points, np.roll(points, -1, axis=0)
    rows = np.arange(height, dtype=np.float64)[:, None]
    y0, y1 = start[:, 1], end[:, 1]
    # Half-open in y, so a row through a vertex counts each edge meeting there once; flat edges never cross.
    crosses = ((y0 <= rows) & (rows < y1)) | ((y1 <= rows) & (rows < y0))
    with np.errstate(divide="ignore", invalid="ignore"):
        xs = start[:, 0] + (rows - y0) / (y1 - y0) * (end[:, 0] - start[:, 0])
    xs = np.where(crosses, xs, np.inf)
    directions = np.where(crosses, np.where(y1 > y0, 1, -1), 0)
    order = np.argsort(xs, axis=1)
    xs = np.take_along_axis(xs, order, axis=1)
    winding = np.cumsum(np.take_along_axis(directions, order, axis=1), axis=1)
    # Between the k-th and (k+1)-th crossing the winding number is winding[:, k]; fill where it is not zero.
    inside = (winding[:, :-1] != 0) & np.isfinite(xs[:, 1:])
    first = np.clip(np.ceil(xs[:, :-1]), 0, width).astype(np.int64)
    last = np.clip(np.floor(xs[:, 1:]), -1, width - 1).astype(np.int64)
    runs = inside & (first <= last)
    # A run adds 1 from its first pixel and takes it back after its last; a cumulative sum along each row
    # then counts the runs over every pixel. Counting through flat indices is much faster than np.add.at.
    row_start = np.arange(height, dtype=np.int64)[:, None] * (width + 1)
    size = height * (width + 1)
    starts = np.bincount((row_start + first)[runs], minlength=size)
    marks = starts - np.bincount((row_start + last + 1)[runs], minlength=size)
    return np.cumsum(marks.reshape(height, width + 1)[:, :width], axis=1) > 0


def coverage(mask: Mask, height: int, width: int) -> Coverage:
    """Every pixel of a `height` x `width` frame that `mask`'s polygon touches, edges included."""
    points = _pixel_points(mask, height, width)
    outline = np.zeros((height, width), np.uint8)
    fixed = np.round(points * (1 << _SHIFT)).astype(np.int32).reshape(-1, 1, 2)
    cv2.polylines(outline, [fixed], True, 1, _OUTLINE, cv2.LINE_8, _SHIFT)
    return _nonzero_fill(points, height, width) | (outline > 0)


@dataclass(frozen=True, slots=True)
class _Blur:
    """One blurred polygon for one frame size: its bounding box and, within it, the pixels to replace."""

    x: int
    y: int
    area: Area  # 255 where the polygon's pixels are, within the box

    def apply(self, image: Image, block: int) -> None:
        """Replace the area's pixels (in place) by a heavy pixelation of them, smoothed by a Gaussian blur."""
        height, width = self.area.shape
        region = image[self.y : self.y + height, self.x : self.x + width]
        across, down = max(1, round(width / block)), max(1, round(height / block))
        small = cv2.resize(region, (across, down), interpolation=cv2.INTER_AREA)  # one pixel per block
        # Pixelation alone leaves sharp block edges; the blur takes those out too, leaving only smooth colour.
        # It runs on blocks of _UPSAMPLE px and is then scaled up: nearly the picture a Gaussian of block/2 on
        # the full-size blocks, at a cost that does not grow with the block (a 4K frame's sigma is ~70 px).
        blocks = cv2.resize(small, (across * _UPSAMPLE, down * _UPSAMPLE), interpolation=cv2.INTER_NEAREST)
        smooth = cv2.GaussianBlur(blocks, (0, 0), sigmaX=_UPSAMPLE / 2)
        cv2.copyTo(cv2.resize(smooth, (width, height), interpolation=cv2.INTER_LINEAR), self.area, region)


@dataclass(frozen=True, slots=True)
class _Compiled:
    """A mask set turned into pixel areas for one frame size."""

    keep: Area | None  # 0 on every blacked-out pixel, 255 elsewhere; None without black masks
    blurs: tuple[_Blur, ...]
    block: int

    def apply(self, image: Image) -> Image:
        # Black first: a blur then reads zeros there, so no blacked-out pixel leaks into a blurred block.
        out: Image
        if self.keep is None:
            out = image.copy()
        else:
            out = np.asarray(cv2.bitwise_and(image, image, mask=self.keep), dtype=np.uint8)
        for blur in self.blurs:
            blur.apply(out, self.block)
        return out


def _compile(masks: Sequence[Mask], height: int, width: int) -> _Compiled:
    black = np.zeros((height, width), np.bool_)
    blurred = []
    for mask in masks:
        if mask.style == "black":
            black |= coverage(mask, height, width)
        else:
            blurred.append(coverage(mask, height, width))
    blurs = []
    for covered in blurred:
        # Where a blur and a black mask overlap, black wins: the blur must not repaint those pixels.
        area = np.where(covered & ~black, 255, 0).astype(np.uint8)
        x, y, w, h = cv2.boundingRect(area)
        if w and h:
            blurs.append(_Blur(x, y, np.ascontiguousarray(area[y : y + h, x : x + w])))
    keep = np.where(black, 0, 255).astype(np.uint8) if black.any() else None
    return _Compiled(keep, tuple(blurs), max(_MIN_BLOCK, width // _BLOCKS_ACROSS))


def apply_masks(image: Image, masks: Sequence[Mask]) -> Image:
    """`image` (BGR uint8) with `masks` applied, as a new array; `image` itself when `masks` is empty."""
    return MaskSet(None, tuple(masks)).apply(image)


class LiveMasks:
    """The mask set frames are masked with now, and the hub's confirmation that frames carry it.

    `on_applied(version)` is called once every frame produced from then on carries that version: after the
    first frame masked with it, or at once when no frames are being produced. A set replaced before any
    frame carried it is never confirmed: no frame ever carried it.
    """

    def __init__(self, on_applied: Callable[[int], None] | None = None) -> None:
        self.current: MaskSet = NO_MASKS
        self.on_applied = on_applied
        self._awaiting: MaskSet | None = None

    def replace(self, masks: MaskSet, producing: bool) -> None:
        """Mask from now on with `masks`; confirm at once unless frames are being produced."""
        self.current = masks  # the one assignment a frame in progress sees entirely or not at all
        self._awaiting = masks
        if not producing:
            self.idle()

    def produced(self, used: MaskSet) -> None:
        """A frame masked with `used` has been produced."""
        if used is self._awaiting:
            self._awaiting = None
            self._confirm(used)

    def idle(self) -> None:
        """No frames are produced any more (not publishing): a set awaiting confirmation is in force now."""
        awaiting, self._awaiting = self._awaiting, None
        if awaiting is not None:
            self._confirm(awaiting)

    def _confirm(self, masks: MaskSet) -> None:
        if self.on_applied is not None and masks.version is not None:
            self.on_applied(masks.version)
