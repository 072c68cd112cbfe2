"""Y'CbCr <-> R'G'B' in float, with nothing clipped and chroma resampled once per direction.

swscale clips every RGB it produces to the code range (integer and float outputs alike), so a
saturated chroma edge, whose Y'CbCr is legal but whose R'G'B' lies outside 0..1, loses its luma
on the way to linear light and back. Measured on ``mb_rotate-buck-bunny.mp4`` to ProRes HQ, that
clip cost 13-15 dB of luma PSNR against a plain decode -> reformat -> encode loop. Here the matrix
runs in float32 on the decoded planes and keeps such values; only the final code values written
to the encoder are clipped to the code range.

Chroma is upsampled on decode by linear interpolation at the stored samples' sites (co-sited
horizontally, midway between rows for 4:2:0, as MPEG-2, H.264, HEVC and ProRes place them) and
downsampled on encode by that interpolation's transpose (the matched triangle filter), so a
flat or linear chroma ramp survives both directions exactly.

Pure numpy; the frames given and returned are PyAV video frames.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import av
import numpy as np

from bokehfx.io.colour import (
    HD_MIN_HEIGHT, RANGE_FULL, SPC_BT470BG, SPC_BT709, SPC_BT2020_CL, SPC_BT2020_NCL, SPC_FCC, SPC_SMPTE170M,
    SPC_SMPTE240M,
)

#: Luma coefficients (Kr, Kb) of each H.273 matrix code; Kg = 1 - Kr - Kb.
LUMA_COEFFICIENTS = {
    SPC_BT709: (0.2126, 0.0722),
    SPC_FCC: (0.30, 0.11),
    SPC_BT470BG: (0.299, 0.114),
    SPC_SMPTE170M: (0.299, 0.114),
    SPC_SMPTE240M: (0.212, 0.087),
    SPC_BT2020_NCL: (0.2627, 0.0593),
    SPC_BT2020_CL: (0.2627, 0.0593),
}
#: Video-range luma black, luma excursion and chroma excursion, in 8-bit code values (BT.601/709/2020).
VIDEO_BLACK_8, VIDEO_LUMA_SPAN_8, VIDEO_CHROMA_SPAN_8 = 16.0, 219.0, 224.0
#: Chroma subsampling factors handled directly; others go through swscale to 4:4:4 first.
DIRECT_FACTORS = (1, 2)
#: Pixels converted at a time (a band of rows): the band's float temporaries, about 1.5 MB, stay in
#: the CPU's cache instead of each pass going through memory over the whole frame.
BAND_PIXELS = 1 << 16
#: Significant bits -> the planar name suffix of that depth.
_DEPTH_SUFFIX = {8: "", 9: "9le", 10: "10le", 12: "12le", 14: "14le", 16: "16le"}
_SUBSAMPLING_NAME = {(1, 1): "444", (2, 1): "422", (2, 2): "420"}


def luma_coefficients(matrix: int, height: int) -> tuple[float, float]:
    """(Kr, Kb) of a matrix code; untagged: BT.709 from HD heights, else BT.601 (as swscale is told)."""
    if matrix in LUMA_COEFFICIENTS:
        return LUMA_COEFFICIENTS[matrix]
    return LUMA_COEFFICIENTS[SPC_BT709 if height >= HD_MIN_HEIGHT else SPC_SMPTE170M]


@dataclass(frozen=True)
class Layout:
    """How one planar Y'CbCr format stores code values.

    Attributes:
        bits: significant bits per sample.
        factor_x, factor_y: chroma subsampling factors (1 or 2).
        full_range: full-range (JPEG) codes instead of video range.
        kr, kb: luma coefficients of the matrix.
        alpha: a fourth plane holds alpha.
    """

    bits: int
    factor_x: int
    factor_y: int
    full_range: bool
    kr: float
    kb: float
    alpha: bool = False

    @property
    def dtype(self) -> type:
        return np.uint8 if self.bits <= 8 else np.uint16

    @property
    def max_code(self) -> int:
        return (1 << self.bits) - 1

    def luma_scale(self) -> tuple[float, float]:
        """(offset, span): code = offset + span * Y'."""
        if self.full_range:
            return 0.0, float(self.max_code)
        step = float(1 << (self.bits - 8))
        return VIDEO_BLACK_8 * step, VIDEO_LUMA_SPAN_8 * step

    def chroma_scale(self) -> tuple[float, float]:
        """(offset, span): code = offset + span * C (C in -0.5..0.5)."""
        offset = float(1 << (self.bits - 1))
        if self.full_range:
            return offset, float(self.max_code)
        return offset, VIDEO_CHROMA_SPAN_8 * float(1 << (self.bits - 8))


def planar_name(fmt: av.VideoFormat, frame_width: int, frame_height: int) -> str | None:
    """The planar Y'CbCr(A) format this module reads ``fmt`` as, or None when ``fmt`` is not Y'CbCr."""
    if fmt.is_rgb or fmt.has_palette or fmt.is_bayer or len(fmt.components) < 3:
        return None
    bits = max(c.bits for c in fmt.components)
    if bits not in _DEPTH_SUFFIX:
        return None
    factors = (max(1, round(frame_width / max(fmt.chroma_width(frame_width), 1))),
               max(1, round(frame_height / max(fmt.chroma_height(frame_height), 1))))
    sub = _SUBSAMPLING_NAME.get(factors, "444")
    alpha = len(fmt.components) == 4
    return f"yuv{'a' if alpha else ''}{sub}p{_DEPTH_SUFFIX[bits]}"


def layout_of(name: str, width: int, height: int, *, full_range: bool, matrix: int) -> Layout:
    """The :class:`Layout` of a planar Y'CbCr format name."""
    fmt = av.VideoFormat(name)
    kr, kb = luma_coefficients(matrix, height)
    fx = max(1, round(width / max(fmt.chroma_width(width), 1)))
    fy = max(1, round(height / max(fmt.chroma_height(height), 1)))
    return Layout(max(c.bits for c in fmt.components), fx, fy, full_range, kr, kb, len(fmt.components) == 4)


def _plane(frame: av.VideoFrame, index: int, dtype: type) -> np.ndarray:
    plane = frame.planes[index]
    row = plane.line_size // np.dtype(dtype).itemsize
    return np.frombuffer(plane, dtype=dtype).reshape(-1, row)[: plane.height, : plane.width]


# --- chroma resampling (linear interpolation up, its transpose down) --------------------------
def _upsample_x(c: np.ndarray, width: int) -> np.ndarray:
    """Co-sited 2x: even columns are the samples, odd ones the mean of their two neighbours."""
    out = np.empty((c.shape[0], width), np.float32)
    out[:, 0::2] = c[:, : (width + 1) // 2]
    odd = out[:, 1::2]
    n = odd.shape[1]
    nxt = c[:, 1: n + 1]
    np.add(c[:, : nxt.shape[1]], nxt, out=odd[:, : nxt.shape[1]])
    odd[:, : nxt.shape[1]] *= 0.5
    if nxt.shape[1] < n:  # the last odd column has no right neighbour
        odd[:, -1] = c[:, n - 1]
    return out


def _upsample_y(c: np.ndarray, height: int) -> np.ndarray:
    """Midway-sited 2x: each row is 3/4 of its own sample and 1/4 of the nearer neighbour."""
    above = np.concatenate([c[:1], c[:-1]])
    below = np.concatenate([c[1:], c[-1:]])
    out = np.empty((2 * c.shape[0], c.shape[1]), np.float32)
    np.multiply(c, 0.75, out=out[0::2])
    out[0::2] += 0.25 * above
    np.multiply(c, 0.75, out=out[1::2])
    out[1::2] += 0.25 * below
    return out[:height]


def _downsample_x(x: np.ndarray, width: int) -> np.ndarray:
    """Transpose of :func:`_upsample_x`, normalized: (1, 2, 1) / 4 around each even column."""
    padded = np.concatenate([x[:, :1], x, x[:, -1:], x[:, -1:]], axis=1)
    n = width
    centre = padded[:, 1: 2 * n: 2]
    out = centre * 0.5
    out += 0.25 * padded[:, 0: 2 * n - 1: 2]
    out += 0.25 * padded[:, 2: 2 * n + 1: 2]
    return out


def _downsample_y(x: np.ndarray, height: int) -> np.ndarray:
    """Transpose of :func:`_upsample_y`, normalized: (1, 3, 3, 1) / 8 around each pair of rows."""
    rows = 2 * height
    if x.shape[0] < rows:
        x = np.concatenate([x, np.repeat(x[-1:], rows - x.shape[0], axis=0)])
    top, bottom = x[0:rows:2], x[1:rows:2]
    above = np.concatenate([x[:1], x[1: rows - 1: 2]])
    below = np.concatenate([x[2:rows:2], x[rows - 1: rows]])
    out = top + bottom
    out *= 0.375
    out += 0.125 * above
    out += 0.125 * below
    return out


def upsample(c: np.ndarray, layout: Layout, width: int, height: int) -> np.ndarray:
    """A chroma plane at full resolution."""
    if layout.factor_x == 2:
        c = _upsample_x(c, width)
    if layout.factor_y == 2:
        c = _upsample_y(c, height)
    return c


def downsample(c: np.ndarray, layout: Layout) -> np.ndarray:
    """A full-resolution chroma plane at the layout's sampling."""
    height, width = c.shape
    if layout.factor_x == 2:
        c = _downsample_x(c, (width + 1) // 2)
    if layout.factor_y == 2:
        c = _downsample_y(c, (height + 1) // 2)
    return c


# --- decode ------------------------------------------------------------------------------------
def _matrix_into(out: np.ndarray, luma: np.ndarray, cb: np.ndarray, cr: np.ndarray, layout: Layout) -> None:
    """R'G'B' ``(..., 3)`` into ``out`` from full-resolution Y', Cb, Cr."""
    kr, kb = layout.kr, layout.kb
    kg = 1.0 - kr - kb
    r, g, b = out[..., 0], out[..., 1], out[..., 2]
    np.multiply(cr, 2.0 * (1.0 - kr), out=r)
    r += luma
    np.multiply(cb, 2.0 * (1.0 - kb), out=b)
    b += luma
    np.multiply(r, -kr / kg, out=g)
    g -= (kb / kg) * b
    g += luma * (1.0 / kg)


def band_rows(width: int) -> int:
    """Rows of a picture ``width`` wide converted at a time (:data:`BAND_PIXELS` pixels, at least one row)."""
    return max(1, BAND_PIXELS // max(width, 1))


def decode_rgb(frame: av.VideoFrame, *, full_range: bool, matrix: int,
               finish: Callable[[np.ndarray], np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """Normalized, unclipped R'G'B' ``(H, W, 3)`` float32 of a Y'CbCr frame, and alpha in 0..1 or None.

    The picture is stored as planes (``(3, H, W)`` memory seen as ``(H, W, 3)``): the matrix
    writes each plane in one run, and a renderer reads planes (a planar view reaches torch as a
    contiguous ``(3, H, W)`` tensor, with no copy).

    ``finish``, when given, maps each band of rows of each plane, elementwise, to what is returned
    instead (e.g. linear light: :func:`bokehfx.io.colour.linearize_float`), while the band is
    still in the cache.

    Formats that are not planar 4:2:0 / 4:2:2 / 4:4:4 (semi-planar, packed, 4:1:1) are first
    rearranged by swscale into the planar format of the same depth, which changes no value
    (4:1:1 and 4:1:0 are brought to 4:4:4 there).
    """
    name = planar_name(frame.format, frame.width, frame.height)
    if name is None:
        raise ValueError(f"{frame.format.name} is not a Y'CbCr format")
    full_range = full_range or frame.format.name.startswith("yuvj")  # JPEG's formats are full range
    if name != frame.format.name.replace("yuvj", "yuv"):
        rng = "JPEG" if full_range else "MPEG"
        frame = frame.reformat(format=name, src_color_range=rng, dst_color_range=rng)
    layout = layout_of(name, frame.width, frame.height, full_range=full_range, matrix=matrix)
    w, h = frame.width, frame.height
    y_off, y_span = layout.luma_scale()
    c_off, c_span = layout.chroma_scale()
    planes = np.empty((3, h, w), np.float32)
    luma = _plane(frame, 0, layout.dtype).astype(np.float32)
    luma -= y_off
    luma *= 1.0 / y_span
    cb = _plane(frame, 1, layout.dtype).astype(np.float32)
    cb -= c_off
    cb *= 1.0 / c_span
    cr = _plane(frame, 2, layout.dtype).astype(np.float32)
    cr -= c_off
    cr *= 1.0 / c_span
    cb, cr = upsample(cb, layout, w, h), upsample(cr, layout, w, h)
    for start in range(0, h, band_rows(w)):  # a band's temporaries stay in the CPU's cache
        rows = slice(start, start + band_rows(w))
        _matrix_into(planes[:, rows].transpose(1, 2, 0), luma[rows], cb[rows], cr[rows], layout)
        if finish is not None:
            for plane in planes:
                plane[rows] = finish(plane[rows])
    alpha = None
    if layout.alpha:
        alpha = _plane(frame, 3, layout.dtype).astype(np.float32) * (1.0 / layout.max_code)
    return planes.transpose(1, 2, 0), alpha


# --- encode ------------------------------------------------------------------------------------
def _quantize_into(values: np.ndarray, offset: float, span: float, layout: Layout, dest: np.ndarray) -> None:
    v = values * span
    v += offset + 0.5
    np.clip(v, 0.0, layout.max_code, out=v)
    dest[...] = v.astype(layout.dtype)


def encode_frame(rgb: np.ndarray, pix_fmt: str, *, full_range: bool, matrix: int, height: int,
                 alpha: np.ndarray | None = None,
                 prepare: Callable[[np.ndarray], np.ndarray] | None = None) -> av.VideoFrame:
    """A planar Y'CbCr(A) frame of ``pix_fmt`` from unclipped normalized R'G'B' ``(H, W, 3)``.

    Only the final code values are clipped to the code range. ``height`` picks the default
    matrix of untagged sources (the picture's own height, before any padding). ``prepare``, when
    given, maps each band of rows of ``rgb`` to the R'G'B' encoded (e.g. linear light to code
    values: :func:`bokehfx.io.colour.encode_unclipped`), while the band is in the CPU's cache.
    """
    h, w = rgb.shape[:2]
    layout = layout_of(pix_fmt, w, h, full_range=full_range, matrix=matrix)
    kr, kb = luma_coefficients(matrix, height)
    kg = 1.0 - kr - kb
    frame = av.VideoFrame(w, h, pix_fmt)
    y_off, y_span = layout.luma_scale()
    c_off, c_span = layout.chroma_scale()
    luma_plane = _plane(frame, 0, layout.dtype)
    cb, cr = np.empty((h, w), np.float32), np.empty((h, w), np.float32)
    for start in range(0, h, band_rows(w)):
        rows = slice(start, start + band_rows(w))
        band = rgb[rows] if prepare is None else prepare(rgb[rows])
        r, g, b = band[..., 0], band[..., 1], band[..., 2]
        luma = r * kr
        luma += g * kg
        luma += b * kb
        np.subtract(b, luma, out=cb[rows])
        cb[rows] *= 0.5 / (1.0 - kb)
        np.subtract(r, luma, out=cr[rows])
        cr[rows] *= 0.5 / (1.0 - kr)
        _quantize_into(luma, y_off, y_span, layout, luma_plane[rows])
    _quantize_into(downsample(cb, layout), c_off, c_span, layout, _plane(frame, 1, layout.dtype))
    _quantize_into(downsample(cr, layout), c_off, c_span, layout, _plane(frame, 2, layout.dtype))
    if layout.alpha:
        a = np.ones((h, w), np.float32) if alpha is None else alpha
        _quantize_into(a, 0.0, float(layout.max_code), layout, _plane(frame, 3, layout.dtype))
    return frame


def composite_planes(rendered: av.VideoFrame, kept: av.VideoFrame, keep: np.ndarray) -> None:
    """Copy ``kept``'s code values into ``rendered`` (same format and size) wherever ``keep`` is True.

    A chroma sample is copied only when every pixel it covers is kept, so no rendered pixel
    takes a kept pixel's colour or the other way round.
    """
    fmt = rendered.format
    layout = layout_of(fmt.name, rendered.width, rendered.height, full_range=False, matrix=SPC_BT709)
    h, w = keep.shape
    for index in range(len(rendered.planes)):
        dest, src = _plane(rendered, index, layout.dtype), _plane(kept, index, layout.dtype)
        mask = keep
        if index in (1, 2):
            fx, fy = layout.factor_x, layout.factor_y
            ch, cw = dest.shape
            padded = np.ones((ch * fy, cw * fx), bool)
            padded[:h, :w] = keep
            mask = padded.reshape(ch, fy, cw, fx).all(axis=(1, 3))
        else:
            mask = np.pad(keep, ((0, dest.shape[0] - h), (0, dest.shape[1] - w)), mode="edge")
        np.copyto(dest, src, where=mask)


def is_full_range(range_code: int) -> bool:
    """True for the full-range (JPEG) code."""
    return range_code == RANGE_FULL
