"""Capture-time stamps burned into a frame's pixels.

A stamp is a mid-gray band across the top of the image holding two rows of large black/white blocks (48 bits
of Unix milliseconds and a CRC-8, framed by fixed guard blocks), with the same time as readable text below.
Blocks are width/32 pixels square, so they survive lossy VP8/H264 encoding from 320 px wide upwards; the
decoder samples only the centre of each block and rejects anything that is not clearly black or white.

Tests and benchmarks use `read_stamp` on received frames to tell when each one was captured.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

Image = npt.NDArray[np.uint8]

MS_BITS = 48
CRC_BITS = 8
COLUMNS = 32  # block grid across the width: 2 margin + 1 guard + 28 data + 1 guard
DATA_COLUMNS = 28
ROWS = 2
MIN_WIDTH = 160

_GRAY = 128
_DARK_MAX = 96  # a block centre must be clearly dark or clearly bright to count
_BRIGHT_MIN = 160
# Guard blocks (row, first/last) make a random image fail before the checksum is even looked at.
_GUARDS = ((True, False), (False, True))  # (first guard is white, last guard is white) per row


@dataclass(frozen=True, slots=True)
class _Layout:
    block: int
    top: int  # y of the first block row
    left: int  # x of the first guard column
    band: int  # height of the gray band

    def cell(self, row: int, column: int) -> tuple[int, int]:
        """Top-left corner of block (row, column), column 0 being the first guard."""
        return self.left + column * self.block, self.top + row * self.block


def _layout(width: int) -> _Layout:
    block = width // COLUMNS
    return _Layout(block=block, top=block // 2, left=block * 2, band=block * 4)


def crc8(data: bytes) -> int:
    """CRC-8 (polynomial 0x07): catches every single- and double-bit error in the 48-bit payload."""
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = ((crc << 1) ^ 0x07) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


def _bits(ms: int) -> list[bool]:
    payload = ms.to_bytes(MS_BITS // 8, "big")
    word = (ms << CRC_BITS) | crc8(payload)
    return [bool(word >> (MS_BITS + CRC_BITS - 1 - i) & 1) for i in range(MS_BITS + CRC_BITS)]


def _fill(img: Image, layout: _Layout, row: int, column: int, white: bool) -> None:
    x, y = layout.cell(row, column)
    img[y : y + layout.block, x : x + layout.block] = 255 if white else 0


def stamp_frame(img: Image, ms: int) -> None:
    """Burn `ms` (integer Unix milliseconds) into the top band of `img` (BGR uint8, modified in place)."""
    height, width = img.shape[:2]
    if width < MIN_WIDTH or not 0 <= ms < 1 << MS_BITS:
        raise ValueError("image too narrow for a stamp or time out of range")
    layout = _layout(width)
    if height < layout.band:
        raise ValueError("image too short for a stamp")
    img[: layout.band] = _GRAY
    bits = _bits(ms)
    for row, (first_white, last_white) in enumerate(_GUARDS):
        _fill(img, layout, row, 0, first_white)
        _fill(img, layout, row, DATA_COLUMNS + 1, last_white)
        for i in range(DATA_COLUMNS):
            _fill(img, layout, row, i + 1, bits[row * DATA_COLUMNS + i])
    text = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ms // 1000)) + f".{ms % 1000:03d}Z"
    scale = layout.block / 28
    baseline = layout.top + ROWS * layout.block + int(layout.block * 1.2)
    cv2.putText(
        img,
        text,
        (layout.left, baseline),
        cv2.FONT_HERSHEY_SIMPLEX,
        scale,
        (255, 255, 255),
        max(1, layout.block // 10),
        cv2.LINE_AA,
    )


def _sample(gray: npt.NDArray[np.float32], layout: _Layout, row: int, column: int) -> bool | None:
    """True for white, False for black, None when the block centre is neither."""
    x, y = layout.cell(row, column)
    q = max(1, layout.block // 4)
    value = float(gray[y + q : y + layout.block - q, x + q : x + layout.block - q].mean())
    if value <= _DARK_MAX:
        return False
    if value >= _BRIGHT_MIN:
        return True
    return None


def read_stamp(img: Image) -> int | None:
    """The milliseconds stamped into `img` (BGR uint8), or None when it carries no valid stamp."""
    if img.ndim != 3 or img.shape[2] != 3:
        return None
    height, width = img.shape[:2]
    if width < MIN_WIDTH:
        return None
    layout = _layout(width)
    if height < layout.band:
        return None
    gray = cv2.cvtColor(img[: layout.band], cv2.COLOR_BGR2GRAY).astype(np.float32)
    bits: list[bool] = []
    for row, guards in enumerate(_GUARDS):
        seen = (_sample(gray, layout, row, 0), _sample(gray, layout, row, DATA_COLUMNS + 1))
        if seen != guards:
            return None
        for i in range(DATA_COLUMNS):
            bit = _sample(gray, layout, row, i + 1)
            if bit is None:
                return None
            bits.append(bit)
    word = 0
    for bit in bits:
        word = (word << 1) | int(bit)
    ms, crc = word >> CRC_BITS, word & 0xFF
    if crc8(ms.to_bytes(MS_BITS // 8, "big")) != crc:
        return None
    return ms
