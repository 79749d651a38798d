"""What an H264 stream really is, read from its parameter sets (RFC 6184 / ITU-T H.264 7.3.2).

An offer's `profile-level-id` can be loose: FFmpeg's WHIP muxer says Baseline (42001f) for a stream that is in fact
Constrained Baseline. Passthrough sends the camera's own bytes to browsers, which decode Constrained Baseline, so
the first keyframe's SPS and PPS decide: a stream that uses what only full Baseline or higher profiles allow
(slice groups, or another profile altogether) is refused by name instead of showing viewers a broken picture.
"""

from __future__ import annotations

from dataclasses import dataclass

PROFILES = {
    66: "Baseline",
    77: "Main",
    88: "Extended",
    100: "High",
    110: "High 10",
    122: "High 4:2:2",
    244: "High 4:4:4",
}
_SPS, _PPS = 7, 8


@dataclass(frozen=True, slots=True)
class Parameters:
    """The parts of a stream's SPS and PPS that decide whether a browser can decode it."""

    profile_idc: int
    constraint_set0: bool  # the stream obeys Baseline's constraints
    constraint_set1: bool  # ... and Main's: together with profile 66, Constrained Baseline
    level_idc: int
    slice_groups: int  # more than one is FMO, which Constrained Baseline (and every browser) lacks

    def name(self) -> str:
        """The profile as people say it ("Constrained Baseline", "High") with its level ("3.1")."""
        profile = PROFILES.get(self.profile_idc, f"profile_idc {self.profile_idc}")
        if self.profile_idc == 66 and self.constraint_set1:
            profile = "Constrained Baseline"
        return f"{profile} level {self.level_idc // 10}.{self.level_idc % 10}"

    def browser_decodable(self) -> bool:
        """Whether it decodes as Constrained Baseline: Baseline (or a stream flagged as obeying Baseline's limits)
        with one slice group."""
        baseline = self.profile_idc == 66 or self.constraint_set0
        return baseline and self.slice_groups == 1


def nal_units(annex_b: bytes) -> list[bytes]:
    """The NAL units of an Annex B access unit (start codes 00 00 01 or 00 00 00 01), without their start codes."""
    units = []
    starts = []
    index = annex_b.find(b"\x00\x00\x01")
    while index != -1:
        starts.append(index + 3)
        index = annex_b.find(b"\x00\x00\x01", index + 3)
    for number, start in enumerate(starts):
        end = starts[number + 1] - 3 if number + 1 < len(starts) else len(annex_b)
        units.append(annex_b[start:end].rstrip(b"\x00"))
    return units


def parameters(annex_b: bytes) -> Parameters | None:
    """The stream's parameters from an access unit carrying an SPS (and usually a PPS); None without an SPS or
    when it cannot be read."""
    sps = next((unit for unit in nal_units(annex_b) if unit and unit[0] & 0x1F == _SPS), None)
    if sps is None or len(sps) < 4:
        return None
    pps = next((unit for unit in nal_units(annex_b) if unit and unit[0] & 0x1F == _PPS), None)
    slice_groups = 1
    if pps is not None:
        try:
            slice_groups = _slice_groups(_unescape(pps[1:]))
        except IndexError:
            return None
    flags = sps[2]
    return Parameters(
        profile_idc=sps[1],
        constraint_set0=bool(flags & 0x80),
        constraint_set1=bool(flags & 0x40),
        level_idc=sps[3],
        slice_groups=slice_groups,
    )


def _unescape(payload: bytes) -> bytes:
    # Emulation prevention: 00 00 03 in a NAL unit stands for 00 00.
    return payload.replace(b"\x00\x00\x03", b"\x00\x00")


def _slice_groups(pps: bytes) -> int:
    bits = _Bits(pps)
    bits.exp_golomb()  # pic_parameter_set_id
    bits.exp_golomb()  # seq_parameter_set_id
    bits.bit()  # entropy_coding_mode_flag
    bits.bit()  # bottom_field_pic_order_in_frame_present_flag
    return bits.exp_golomb() + 1  # num_slice_groups_minus1


class _Bits:
    """Reads bits and unsigned Exp-Golomb numbers, most significant bit first."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._at = 0

    def bit(self) -> int:
        byte = self._data[self._at // 8]
        value = (byte >> (7 - self._at % 8)) & 1
        self._at += 1
        return value

    def exp_golomb(self) -> int:
        zeros = 0
        while self.bit() == 0:
            zeros += 1
            if zeros > 31:
                raise IndexError("not an Exp-Golomb number")
        value = 1
        for _ in range(zeros):
            value = value << 1 | self.bit()
        return value - 1
