"""Colour tags and transfer functions: code values <-> linear light.

Pure numpy; no files. Tags use FFmpeg's numeric codes (ITU-T H.273), which is what PyAV reports
for ``color_trc``, ``color_primaries``, ``colorspace`` and ``color_range``.

Linear light means "relative scene/display light in the source's own primaries": bokehfx does
not change the gamut, so a clip's primaries are carried to the output untouched.

For SDR curves 1.0 is the code-value maximum. For HDR curves 1.0 is BT.2408's reference white
(:data:`HDR_REFERENCE_WHITE_NITS` for PQ, 75 % signal for HLG), so HDR highlights are above 1.0.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import lru_cache

import numpy as np

from bokehfx.errors import UnsupportedMediaError

# --- H.273 code points --------------------------------------------------------------------------
TRC_BT709 = 1
TRC_UNSPECIFIED = 2
TRC_GAMMA22 = 4
TRC_GAMMA28 = 5
TRC_SMPTE170M = 6
TRC_SMPTE240M = 7
TRC_LINEAR = 8
TRC_IEC61966_2_4 = 11
TRC_BT1361 = 12
TRC_SRGB = 13
TRC_BT2020_10 = 14
TRC_BT2020_12 = 15
TRC_PQ = 16
TRC_SMPTE428 = 17
TRC_HLG = 18

SPC_RGB = 0
SPC_BT709 = 1
SPC_UNSPECIFIED = 2
SPC_FCC = 4
SPC_BT470BG = 5
SPC_SMPTE170M = 6
SPC_SMPTE240M = 7
SPC_BT2020_NCL = 9
SPC_BT2020_CL = 10

RANGE_UNSPECIFIED = 0
RANGE_LIMITED = 1  # "MPEG", video range
RANGE_FULL = 2  # "JPEG", full range

#: Frame height from which an untagged YUV source is taken as BT.709 rather than BT.601
#: (the convention of players and of ITU-R BT.1700 / BT.709 era HD).
HD_MIN_HEIGHT = 720

#: PQ: absolute luminance that maps to linear 1.0 (ITU-R BT.2408 HDR reference white).
HDR_REFERENCE_WHITE_NITS = 203.0
#: HLG: signal level of reference white (ITU-R BT.2408) that maps to linear 1.0.
HLG_REFERENCE_WHITE_SIGNAL = 0.75

TRC_NAMES = {
    TRC_BT709: "bt709", TRC_UNSPECIFIED: "unspecified", TRC_GAMMA22: "gamma22", TRC_GAMMA28: "gamma28",
    TRC_SMPTE170M: "smpte170m", TRC_SMPTE240M: "smpte240m", TRC_LINEAR: "linear", 9: "log100",
    10: "log316", TRC_IEC61966_2_4: "iec61966-2-4", TRC_BT1361: "bt1361e", TRC_SRGB: "iec61966-2-1",
    TRC_BT2020_10: "bt2020-10", TRC_BT2020_12: "bt2020-12", TRC_PQ: "smpte2084", TRC_SMPTE428: "smpte428",
    TRC_HLG: "arib-std-b67",
}
PRIMARIES_NAMES = {
    1: "bt709", 2: "unspecified", 4: "bt470m", 5: "bt470bg", 6: "smpte170m", 7: "smpte240m", 8: "film",
    9: "bt2020", 10: "smpte428", 11: "smpte431", 12: "smpte432", 22: "jedec-p22",
}
SPACE_NAMES = {
    SPC_RGB: "gbr", SPC_BT709: "bt709", SPC_UNSPECIFIED: "unspecified", SPC_FCC: "fcc", SPC_BT470BG: "bt470bg",
    SPC_SMPTE170M: "smpte170m", SPC_SMPTE240M: "smpte240m", 8: "ycgco", SPC_BT2020_NCL: "bt2020nc",
    SPC_BT2020_CL: "bt2020c", 11: "smpte2085", 12: "chroma-derived-nc", 13: "chroma-derived-c", 14: "ictcp",
}
RANGE_NAMES = {RANGE_UNSPECIFIED: "unspecified", RANGE_LIMITED: "tv", RANGE_FULL: "pc"}

# swscale's matrix names (PyAV's Colorspace enum) for each H.273 matrix code.
_SWS_MATRIX = {
    SPC_BT709: "ITU709", SPC_FCC: "FCC", SPC_BT470BG: "ITU601", SPC_SMPTE170M: "ITU601",
    SPC_SMPTE240M: "SMPTE240M", SPC_BT2020_NCL: "BT2020", SPC_BT2020_CL: "BT2020",
}


@dataclass(frozen=True)
class ColourTags:
    """The colour description of a stream, as H.273 codes (0/2 = unspecified)."""

    primaries: int = 2
    transfer: int = TRC_UNSPECIFIED
    matrix: int = SPC_UNSPECIFIED
    range: int = RANGE_UNSPECIFIED

    def describe(self) -> dict[str, object]:
        """Codes plus FFmpeg's names, for ``probe --json``."""
        out: dict[str, object] = asdict(self)
        out["primaries_name"] = PRIMARIES_NAMES.get(self.primaries, str(self.primaries))
        out["transfer_name"] = TRC_NAMES.get(self.transfer, str(self.transfer))
        out["matrix_name"] = SPACE_NAMES.get(self.matrix, str(self.matrix))
        out["range_name"] = RANGE_NAMES.get(self.range, str(self.range))
        return out


def effective_transfer(tags: ColourTags, *, is_image: bool) -> int:
    """The transfer function used to decode: the tagged one, else sRGB for stills, Rec.709 for video."""
    if tags.transfer not in (TRC_UNSPECIFIED, 0, 3):
        return tags.transfer
    return TRC_SRGB if is_image else TRC_BT709


def sws_matrix(matrix: int, height: int) -> str:
    """swscale matrix name for a YUV matrix code; untagged: BT.709 from HD heights, else BT.601."""
    if matrix in _SWS_MATRIX:
        return _SWS_MATRIX[matrix]
    return "ITU709" if height >= HD_MIN_HEIGHT else "ITU601"


# Rec.709 / BT.2020 OETF with the exact constants of ITU-R BT.2020 (the rounded 1.099 / 0.018 of
# BT.709 leave the two segments not quite meeting, which would break exact inversion).
_709_ALPHA = 1.09929682680944
_709_BETA = 0.018053968510807


def _bt709_to_linear(v: np.ndarray) -> np.ndarray:
    return np.where(v < 4.5 * _709_BETA, v / 4.5,
                    np.power(np.maximum(v + _709_ALPHA - 1.0, 0.0) / _709_ALPHA, 1.0 / 0.45))


def _piecewise_power_encode(x: np.ndarray, slope: float, knee: float, gain: float, offset: float,
                            exponent: float) -> np.ndarray:
    """``slope*x`` below ``knee``, ``gain*x**exponent - offset`` above, in place on a float32 copy.

    Written with ``out=`` arguments: the encode runs once per pixel per frame, and avoiding the
    temporaries of ``np.where`` halves its cost at 1080p. Every step is a ufunc over the copy in
    its own memory order (the toe goes back in with a masked ``copyto``, not a boolean selection,
    which walks the array in C order): a renderer's planar output seen as ``(H, W, 3)`` costs what
    interleaved pixels cost, and either costs half of what selecting the toe's values did.
    """
    x = np.array(x, dtype=np.float32)  # a copy we may overwrite, laid out as ``x`` is
    low = x < knee
    linear_part = x * slope
    np.maximum(x, knee, out=x)
    np.log(x, out=x)
    x *= exponent
    np.exp(x, out=x)
    x *= gain
    x -= offset
    np.copyto(x, linear_part, where=low)
    return x


def _bt709_from_linear(x: np.ndarray) -> np.ndarray:
    return _piecewise_power_encode(x, 4.5, _709_BETA, _709_ALPHA, _709_ALPHA - 1.0, 0.45)


def _srgb_to_linear(v: np.ndarray) -> np.ndarray:
    return np.where(v <= 0.04045, v / 12.92, np.power((v + 0.055) / 1.055, 2.4))


def _srgb_from_linear(x: np.ndarray) -> np.ndarray:
    return _piecewise_power_encode(x, 12.92, 0.0031308, 1.055, 0.055, 1.0 / 2.4)


def _smpte240m_to_linear(v: np.ndarray) -> np.ndarray:
    return np.where(v < 4.0 * 0.0228, v / 4.0, np.power((v + 0.1115) / 1.1115, 1.0 / 0.45))


def _smpte240m_from_linear(x: np.ndarray) -> np.ndarray:
    return np.where(x < 0.0228, 4.0 * x, 1.1115 * np.power(np.maximum(x, 0.0228), 0.45) - 0.1115)


# SMPTE ST 2084 (PQ) constants.
_PQ_M1, _PQ_M2 = 2610.0 / 16384.0, 2523.0 / 4096.0 * 128.0
_PQ_C1, _PQ_C2, _PQ_C3 = 3424.0 / 4096.0, 2413.0 / 4096.0 * 32.0, 2392.0 / 4096.0 * 32.0
_PQ_PEAK_NITS = 10000.0


def _pq_to_linear(v: np.ndarray) -> np.ndarray:
    p = np.power(np.clip(v, 0.0, 1.0), 1.0 / _PQ_M2)
    y = np.power(np.maximum(p - _PQ_C1, 0.0) / (_PQ_C2 - _PQ_C3 * p), 1.0 / _PQ_M1)
    return y * (_PQ_PEAK_NITS / HDR_REFERENCE_WHITE_NITS)


def _pq_from_linear(x: np.ndarray) -> np.ndarray:
    y = np.power(np.clip(x * (HDR_REFERENCE_WHITE_NITS / _PQ_PEAK_NITS), 0.0, 1.0), _PQ_M1)
    return np.power((_PQ_C1 + _PQ_C2 * y) / (1.0 + _PQ_C3 * y), _PQ_M2)


# ARIB STD-B67 (HLG) OETF constants.
_HLG_A = 0.17883277
_HLG_B = 1.0 - 4.0 * _HLG_A
_HLG_C = 0.5 - _HLG_A * np.log(4.0 * _HLG_A)


def _hlg_oetf_inverse(v: np.ndarray) -> np.ndarray:
    v = np.clip(v, 0.0, 1.0)
    return np.where(v <= 0.5, v * v / 3.0, (np.exp((v - _HLG_C) / _HLG_A) + _HLG_B) / 12.0)


def _hlg_oetf(e: np.ndarray) -> np.ndarray:
    e = np.clip(e, 0.0, 1.0)
    return np.where(e <= 1.0 / 12.0, np.sqrt(3.0 * e), _HLG_A * np.log(np.maximum(12.0 * e - _HLG_B, 1e-12)) + _HLG_C)


_HLG_WHITE = float(_hlg_oetf_inverse(np.array(HLG_REFERENCE_WHITE_SIGNAL)))


def _gamma(g: float):
    return (lambda v: np.power(np.maximum(v, 0.0), g)), (lambda x: np.power(np.maximum(x, 0.0), 1.0 / g))


_GAMMA22 = _gamma(2.2)
_GAMMA28 = _gamma(2.8)
_GAMMA26 = _gamma(2.6)

_CURVES = {
    TRC_BT709: (_bt709_to_linear, _bt709_from_linear),
    TRC_SMPTE170M: (_bt709_to_linear, _bt709_from_linear),
    TRC_BT2020_10: (_bt709_to_linear, _bt709_from_linear),
    TRC_BT2020_12: (_bt709_to_linear, _bt709_from_linear),
    TRC_IEC61966_2_4: (_bt709_to_linear, _bt709_from_linear),
    TRC_BT1361: (_bt709_to_linear, _bt709_from_linear),
    TRC_SRGB: (_srgb_to_linear, _srgb_from_linear),
    TRC_SMPTE240M: (_smpte240m_to_linear, _smpte240m_from_linear),
    TRC_GAMMA22: _GAMMA22,
    TRC_GAMMA28: _GAMMA28,
    TRC_SMPTE428: _GAMMA26,
    TRC_LINEAR: (lambda v: v, lambda x: x),
    TRC_PQ: (_pq_to_linear, _pq_from_linear),
    TRC_HLG: (lambda v: _hlg_oetf_inverse(v) / _HLG_WHITE, lambda x: _hlg_oetf(x * _HLG_WHITE)),
}


def _curve(transfer: int):
    try:
        return _CURVES[transfer]
    except KeyError:
        name = TRC_NAMES.get(transfer, str(transfer))
        raise UnsupportedMediaError(
            f"transfer characteristic {name!r} is not supported; supported: "
            + ", ".join(sorted({TRC_NAMES[k] for k in _CURVES}))
        ) from None


def to_linear(code: np.ndarray, transfer: int) -> np.ndarray:
    """Decode normalised code values (0..1) with ``transfer`` to linear light (float32)."""
    return _curve(transfer)[0](np.asarray(code, dtype=np.float64)).astype(np.float32)


def from_linear(linear: np.ndarray, transfer: int) -> np.ndarray:
    """Encode linear light with ``transfer`` to normalised code values, clipped to 0..1 (float32)."""
    x = np.asarray(linear, dtype=np.float32)
    return np.clip(_curve(transfer)[1](x), 0.0, 1.0).astype(np.float32, copy=False)


@lru_cache(maxsize=16)
def linearize_lut(transfer: int) -> np.ndarray:
    """A 65536-entry float32 table: 16-bit code value -> linear light (exact for 8..16-bit sources)."""
    lut = to_linear(np.arange(65536, dtype=np.float64) / 65535.0, transfer)
    lut.setflags(write=False)
    return lut


def linearize_u16(code: np.ndarray, transfer: int) -> np.ndarray:
    """Linear light from 16-bit code values through :func:`linearize_lut`."""
    return np.take(linearize_lut(transfer), code)


def encode_u16(linear: np.ndarray, transfer: int) -> np.ndarray:
    """16-bit code values (rounded) from linear light, clipped to the code range."""
    code = _curve(transfer)[1](np.asarray(linear, dtype=np.float32))
    code = np.asarray(code, dtype=np.float32)
    np.multiply(code, 65535.0, out=code)
    np.add(code, 0.5, out=code)
    np.clip(code, 0.0, 65535.0, out=code)
    return code.astype(np.uint16)


#: Code values (normalized) covered by :func:`linearize_float`: R'G'B' of legal Y'CbCr reaches about
#: -0.8 and 1.8 on saturated colours; outside this range values are held at its ends.
FLOAT_CODE_MIN, FLOAT_CODE_MAX = -1.0, 2.0
#: Table entries per unit of code value (16-bit steps).
FLOAT_CODE_STEPS = 65535
#: Values converted at a time by :func:`linearize_float` (a band of a few dozen 1080p rows, about 1 MB
#: of temporaries: it stays in the CPU's cache).
BAND_ELEMENTS = 1 << 18
#: Curves whose own formula already runs through 0 with odd symmetry (a linear toe), so values
#: below 0 follow it as they are; the others are extended as ``-curve(-v)``.
_NATURALLY_ODD = (TRC_BT709, TRC_SMPTE170M, TRC_BT2020_10, TRC_BT2020_12, TRC_IEC61966_2_4, TRC_BT1361,
                  TRC_SRGB, TRC_SMPTE240M, TRC_LINEAR)


@lru_cache(maxsize=16)
def _extended_lut(transfer: int) -> np.ndarray:
    code = np.arange(round((FLOAT_CODE_MAX - FLOAT_CODE_MIN) * FLOAT_CODE_STEPS) + 1) / FLOAT_CODE_STEPS
    code += FLOAT_CODE_MIN
    with np.errstate(invalid="ignore"):  # np.where also evaluates the branch not taken
        if transfer in _NATURALLY_ODD:
            lut = to_linear(code, transfer)
        else:
            lut = (np.sign(code) * to_linear(np.abs(code), transfer)).astype(np.float32)
    lut.setflags(write=False)
    return lut


def linearize_float(code: np.ndarray, transfer: int) -> np.ndarray:
    """Linear light from unclipped float32 code values (through a 16-bit-step table, float32 only).

    Values below 0 follow the curve's odd extension and values above 1 its own formula, so
    out-of-gamut R'G'B' survives the trip to linear light and back (:func:`encode_unclipped`).
    """
    lut = _extended_lut(transfer)
    if code.dtype != np.float32 or not code.flags.c_contiguous:
        return np.take(lut, _table_index(code, len(lut)))
    # In bands of BAND_ELEMENTS values: the band's index temporaries stay in the CPU cache instead of
    # five passes through memory over the whole frame (same arithmetic, the same values, 3x faster).
    flat = code.reshape(-1)
    out = np.empty(code.shape, np.float32)
    flat_out = out.reshape(-1)
    for start in range(0, flat.size, BAND_ELEMENTS):
        stop = min(start + BAND_ELEMENTS, flat.size)
        np.take(lut, _table_index(flat[start:stop], len(lut)), out=flat_out[start:stop])
    return out


def _table_index(code: np.ndarray, size: int) -> np.ndarray:
    """Index into the extended table of each code value: nearest 16-bit step, held at the table's ends."""
    index = code - np.float32(FLOAT_CODE_MIN)
    index *= np.float32(FLOAT_CODE_STEPS)
    index += np.float32(0.5)
    np.clip(index, 0, size - 1, out=index)
    return index.astype(np.int32)


def encode_unclipped(linear: np.ndarray, transfer: int) -> np.ndarray:
    """Normalized code values (float32) from linear light, not clipped: the inverse of :func:`linearize_float`."""
    encode = _curve(transfer)[1]
    x = np.asarray(linear, dtype=np.float32)
    if transfer in _NATURALLY_ODD:
        return np.asarray(encode(x), dtype=np.float32)
    return np.copysign(np.asarray(encode(np.abs(x)), dtype=np.float32), x)
