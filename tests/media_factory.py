"""Clips made in the tests with PyAV: what no file in ../shared has (ProRes, 10-bit, alpha, timecode,
odd sizes, float EXR)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np


def gradient_frames(n: int, width: int, height: int, *, levels: int = 1024, period: float = 40.0,
                    green_span: tuple[float, float] = (0.0, 1.0)) -> list[np.ndarray]:
    """Smooth moving content in 16-bit RGB; a narrow ``green_span`` ramp needs 10 bits to keep its steps."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    lo, hi = green_span
    frames = []
    for i in range(n):
        r = (x + 3 * i) / (width + 3 * n)
        g = lo + (hi - lo) * y / max(height - 1, 1)
        b = 0.5 + 0.4 * np.sin((x + y) / period + i / 3.0)
        rgb = np.stack([r, g, b], axis=2)
        q = np.round(rgb * (levels - 1)) / (levels - 1)
        frames.append((q * 65535 + 0.5).astype(np.uint16))
    return frames


def write_clip(path: Path, frames: list[np.ndarray], *, codec: str, pix_fmt: str, rate: Fraction = Fraction(24),
               options: dict[str, str] | None = None, timecode: str | None = None, colour: tuple[int, int, int, int]
               | None = None, alpha: list[np.ndarray] | None = None, audio_seconds: float = 0.0) -> Path:
    """Encode 16-bit RGB(A) frames to ``path`` with PyAV."""
    out = av.open(str(path), mode="w")
    height, width = frames[0].shape[:2]
    stream = out.add_stream(codec, rate=rate, options=options or {})
    stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
    if colour is not None:
        cc = stream.codec_context
        cc.color_primaries, cc.color_trc, cc.colorspace, cc.color_range = colour
    if timecode:
        stream.metadata["timecode"] = timecode
    astream = None
    if audio_seconds:
        astream = out.add_stream("aac", rate=48000)
        astream.layout = "stereo"
    for i, rgb in enumerate(frames):
        if alpha is not None:
            a = alpha[i][..., None]
            arr, fmt = np.concatenate([rgb, a], axis=2), "rgba64le"
        else:
            arr, fmt = rgb, "rgb48le"
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(arr), format=fmt)
        kwargs = {}
        if colour is not None:
            matrix = "BT2020" if colour[2] in (9, 10) else "ITU709"
            kwargs = {"dst_colorspace": matrix, "dst_color_range": "JPEG" if colour[3] == 2 else "MPEG"}
        frame = frame.reformat(format=pix_fmt, **kwargs)
        if colour is not None:
            frame.color_primaries, frame.color_trc, frame.colorspace, frame.color_range = colour
        frame.pts = i
        for packet in stream.encode(frame):
            out.mux(packet)
    for packet in stream.encode(None):
        out.mux(packet)
    if astream is not None:
        samples = int(48000 * audio_seconds)
        t = np.arange(samples) / 48000.0
        tone = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
        pos = 0
        while pos < samples:
            chunk = tone[pos:pos + 1024]
            aframe = av.AudioFrame.from_ndarray(np.stack([chunk, chunk]), format="fltp", layout="stereo")
            aframe.sample_rate = 48000
            aframe.pts = pos
            for packet in astream.encode(aframe):
                out.mux(packet)
            pos += len(chunk)
        for packet in astream.encode(None):
            out.mux(packet)
    out.close()
    return path


def write_sequence(pattern: Path, frames: list[np.ndarray], *, codec: str, pix_fmt: str, in_fmt: str,
                   options: dict[str, str] | None = None, start_number: int = 1) -> Path:
    """Write an image sequence (PNG/TIFF from 16-bit RGB, EXR from float RGB)."""
    out = av.open(str(pattern), mode="w", format="image2", options={"start_number": str(start_number)})
    height, width = frames[0].shape[:2]
    stream = out.add_stream(codec, rate=24, options=options or {})
    stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
    for i, arr in enumerate(frames):
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(arr), format=in_fmt)
        if frame.format.name != pix_fmt:
            frame = frame.reformat(format=pix_fmt)
        frame.pts = i
        for packet in stream.encode(frame):
            out.mux(packet)
    for packet in stream.encode(None):
        out.mux(packet)
    out.close()
    return pattern


def decode_rgb48(path: Path | str, *, limit: int | None = None, fmt: str = "rgb48le") -> list[np.ndarray]:
    """Decode with plain PyAV (independent of bokehfx) to 16-bit RGB, honouring the tagged matrix/range."""
    from bokehfx.io.colour import sws_matrix

    out = []
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        for f in c.decode(s):
            kwargs = {}
            if not f.format.is_rgb:
                rng = "JPEG" if (f.color_range == 2 or f.format.name.startswith("yuvj")) else "MPEG"
                kwargs = dict(src_colorspace=sws_matrix(int(f.colorspace or 2), f.height), src_color_range=rng,
                              dst_color_range="JPEG", interpolation="BICUBIC")
            out.append(f.reformat(format=fmt, **kwargs).to_ndarray())
            if limit and len(out) >= limit:
                break
    return out


def psnr16(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR of two 16-bit images in dB."""
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(65535.0 ** 2 / mse)
