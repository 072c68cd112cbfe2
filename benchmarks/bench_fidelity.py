"""Fidelity of ``render --blur 0`` against a plain PyAV decode -> reformat -> encode loop, per real clip.

For every clip of ``../shared/media`` (or ``$BOKEHFX_SHARED/media``) that decodes, both sides write
ProRes 422 HQ and 10-bit H.264 at CRF 0 from the same first frames:

- baseline: PyAV decode, ``frame.reformat(format=<encoder's pix_fmt>)``, encode, mux;
- pipeline: :func:`bokehfx.pipeline.job.run_render` with no renderer (the faithful copy).

Each output is compared with the source's decoded Y'CbCr planes at the source's chroma format (the
output's chroma averaged down to it), as normalized code values in 8-bit units (peak 255), so
different bit depths and ranges compare fairly. Printed per clip and codec: luma and worst-chroma
PSNR (min over frames) of each side and the difference pipeline - baseline (target: > -1 dB).

Run from the repository root::

    python benchmarks/bench_fidelity.py            # 6 frames per clip
    python benchmarks/bench_fidelity.py --frames 24 --clips mb_rotate-buck-bunny.mp4
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import av
import numpy as np

import _common

#: Frames compared per clip by default.
DEFAULT_FRAMES = 6
#: Largest allowed loss (dB) of the pipeline against the baseline.
DEFAULT_TOLERANCE_DB = 1.0
#: PSNR reported for identical planes.
IDENTICAL_DB = 99.0
#: Peak of the 8-bit units the planes are compared in.
PEAK = 255.0
#: (label, suffix, codec, baseline pix_fmt, encoder options, pipeline settings).
ROUTES = (
    ("ProRes HQ", ".mov", "prores_ks", "yuv422p10le", {"profile": "hq", "vendor": "apl0"}, {}),
    ("H.264 10-bit CRF 0", ".mp4", "libx264", "yuv420p10le", {"crf": "0", "preset": "medium"},
     {"crf": 0, "bit_depth": 10}),
)


def normalized_planes(frame: av.VideoFrame) -> list[np.ndarray]:
    """Y', Cb, Cr of a planar Y'CbCr frame in 8-bit video-range units (float64), at its own sampling."""
    bits = max(c.bits for c in frame.format.components)
    dtype = np.uint8 if bits <= 8 else np.dtype("<u2")
    full = frame.color_range == 2 or frame.format.name.startswith("yuvj")
    planes = []
    for index, plane in enumerate(frame.planes[:3]):
        row = plane.line_size // np.dtype(dtype).itemsize
        raw = np.frombuffer(plane, dtype=dtype).reshape(-1, row)[: plane.height, : plane.width]
        code = raw.astype(np.float64) / 2 ** (bits - 8)
        if index == 0:
            value = code / PEAK if full else (code - 16.0) / 219.0
        else:
            value = (code - 128.0) / PEAK if full else (code - 128.0) / 224.0
        planes.append(value * PEAK)
    return planes


def to_shape(chroma: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Average a chroma plane down by integer factors to ``shape``."""
    fy, fx = chroma.shape[0] // shape[0], chroma.shape[1] // shape[1]
    if fy == fx == 1:
        return chroma[: shape[0], : shape[1]]
    h, w = shape
    return chroma[: h * fy, : w * fx].reshape(h, fy, w, fx).mean(axis=(1, 3))


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a - b) ** 2))
    return IDENTICAL_DB if mse == 0 else 10.0 * np.log10(PEAK ** 2 / mse)


def planar(frame: av.VideoFrame) -> av.VideoFrame:
    """The frame as planar Y'CbCr (semi-planar and packed formats rearranged, values unchanged)."""
    from bokehfx.io.ycbcr import planar_name

    name = planar_name(frame.format, frame.width, frame.height)
    if name is None or name == frame.format.name.replace("yuvj", "yuv"):
        return frame
    return frame.reformat(format=name)


def compare(source: Path, output: Path, frames: int) -> tuple[float, float]:
    """(min luma PSNR, min worst-chroma PSNR) over the first ``frames`` frames."""
    luma, chroma = [], []
    with av.open(str(source)) as a, av.open(str(output)) as b:
        for index, (x, y) in enumerate(zip(a.decode(video=0), b.decode(video=0))):
            if index >= frames:
                break
            px, py = normalized_planes(planar(x)), normalized_planes(y)
            luma.append(psnr(px[0], py[0]))
            chroma.append(min(psnr(px[k], to_shape(py[k], px[k].shape)) for k in (1, 2)))
    return min(luma), min(chroma)


def baseline(source: Path, output: Path, codec: str, pix_fmt: str, options: dict[str, str], frames: int) -> None:
    """The plain loop: decode, reformat to ``pix_fmt``, encode, mux (colour tags and interlacing carried).

    Interlaced sources are coded field-aware as the pipeline codes them: ProRes loses about 2.5 dB
    of luma on interlaced coding, which is the encoder's doing, not the pipeline's.
    """
    from bokehfx.io.probe import probe

    video = probe(source).video
    with av.open(str(source)) as inp, av.open(str(output), mode="w") as out:
        vin = inp.streams.video[0]
        vin.thread_type = "AUTO"
        vout = out.add_stream(codec, rate=vin.average_rate or 24, options=options)
        vout.width, vout.height, vout.pix_fmt = vin.codec_context.width, vin.codec_context.height, pix_fmt
        cc = vin.codec_context
        vout.codec_context.color_range = cc.color_range
        vout.codec_context.colorspace = cc.colorspace
        if video.interlaced:
            vout.codec_context.flags |= av.codec.context.Flags.interlaced_dct
            vout.codec_context.field_order = video.field_order
        for index, frame in enumerate(inp.decode(vin)):
            if index >= frames:
                break
            picture = frame.reformat(format=pix_fmt)
            picture.pts = None
            out.mux(vout.encode(picture))
        out.mux(vout.encode(None))


def pipeline(source: Path, output: Path, settings: dict, frames: int) -> None:
    from bokehfx.io.sink import EncodeSettings
    from bokehfx.pipeline.job import RenderRequest, run_render

    run_render(RenderRequest(input=source, output=output, frames=(0, frames - 1), force=True,
                             encode=EncodeSettings(**settings)))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--frames", type=int, default=DEFAULT_FRAMES, help="frames compared per clip")
    p.add_argument("--clips", nargs="*", help="clip names (default: every clip in the shared media folder)")
    p.add_argument("--tolerance", type=float, default=DEFAULT_TOLERANCE_DB, help="largest allowed loss in dB")
    args = p.parse_args(argv)
    root = _common.repo_root()
    import os

    media = Path(os.environ.get("BOKEHFX_SHARED", root.parent / "shared")) / "media"
    if not media.is_dir():
        print(f"no shared media at {media}; set BOKEHFX_SHARED")
        return 2
    print(_common.machine_banner())
    names = args.clips or sorted(x.name for x in media.iterdir())
    worst = 0.0
    print(f"{'clip':<34} {'route':<20} {'baseline Y / C':>15} {'pipeline Y / C':>15} {'diff Y / C':>13}")
    with tempfile.TemporaryDirectory(prefix="bokehfx-bench-fidelity-") as tmp:
        for name in names:
            source = media / name
            for label, suffix, codec, pix_fmt, options, settings in ROUTES:
                base_out, pipe_out = Path(tmp) / f"base{suffix}", Path(tmp) / f"pipe{suffix}"
                try:
                    baseline(source, base_out, codec, pix_fmt, options, args.frames)
                    pipeline(source, pipe_out, settings, args.frames)
                    by, bc = compare(source, base_out, args.frames)
                    py, pc = compare(source, pipe_out, args.frames)
                except Exception as err:  # a clip that does not decode, or an RGB source
                    print(f"{name:<34} {label:<20} skipped: {type(err).__name__}: {str(err)[:60]}")
                    continue
                worst = min(worst, py - by, pc - bc)
                print(f"{name:<34} {label:<20} {by:6.1f} / {bc:6.1f} {py:6.1f} / {pc:6.1f} "
                      f"{py - by:+6.2f} / {pc - bc:+5.2f}")
    print(f"worst pipeline - baseline: {worst:+.2f} dB (target > -{args.tolerance})")
    return 0 if worst > -args.tolerance else 1


if __name__ == "__main__":
    sys.exit(main())
