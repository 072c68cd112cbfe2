"""The identity path keeps what the codec keeps; a depth-of-field render keeps its in-focus pixels exactly."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from bokehfx.io.colour import encode_unclipped, linearize_float
from bokehfx.io.sink import EncodeSettings
from bokehfx.io.ycbcr import decode_rgb, encode_frame
from bokehfx.pipeline.job import RenderRequest, run_render

#: Largest loss (dB) allowed against the plain PyAV loop.
TOLERANCE_DB = 1.0


def planes(frame: av.VideoFrame) -> list[np.ndarray]:
    """Y, Cb, Cr (and A) code values as int64 arrays."""
    bits = max(c.bits for c in frame.format.components)
    dtype = np.uint8 if bits <= 8 else np.dtype("<u2")
    out = []
    for plane in frame.planes:
        row = plane.line_size // np.dtype(dtype).itemsize
        out.append(np.frombuffer(plane, dtype=dtype).reshape(-1, row)[: plane.height, : plane.width].astype(np.int64))
    return out


def units(frame: av.VideoFrame) -> list[np.ndarray]:
    """Y', Cb, Cr in 8-bit video-range units (float), at the frame's own sampling."""
    bits = max(c.bits for c in frame.format.components)
    full = frame.color_range == 2
    result = []
    for index, plane in enumerate(planes(frame)[:3]):
        code = plane / 2 ** (bits - 8)
        if index == 0:
            result.append(code if not full else 16.0 + code * 219.0 / 255.0)
        else:
            result.append(code if not full else 128.0 + (code - 128.0) * 224.0 / 255.0)
    return result


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a - b) ** 2))
    return 99.0 if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)


def fidelity(source: Path, output: Path, first: int, count: int) -> tuple[float, float]:
    """(min luma PSNR, min chroma PSNR) of ``output``'s frames against the source's ``first``... frames,
    at the source's chroma sampling (the output's chroma averaged down to it)."""
    luma, chroma = [], []
    with av.open(str(source)) as a, av.open(str(output)) as b:
        src = [f for i, f in enumerate(a.decode(video=0)) if first <= i < first + count]
        for x, y in zip(src, b.decode(video=0)):
            px, py = units(x), units(y)
            luma.append(psnr(px[0], py[0]))
            for k in (1, 2):
                h, w = px[k].shape
                fy, fx = py[k].shape[0] // h, py[k].shape[1] // w
                down = py[k][: h * fy, : w * fx].reshape(h, fy, w, fx).mean(axis=(1, 3))
                chroma.append(psnr(px[k], down))
    return min(luma), min(chroma)


def plain_loop(source: Path, output: Path, first: int, count: int, codec: str, pix_fmt: str,
               options: dict[str, str]) -> None:
    """The named baseline: PyAV decode -> ``reformat(pix_fmt)`` -> encode."""
    with av.open(str(source)) as inp, av.open(str(output), mode="w") as out:
        vin = inp.streams.video[0]
        vout = out.add_stream(codec, rate=vin.average_rate, options=options)
        vout.width, vout.height, vout.pix_fmt = vin.codec_context.width, vin.codec_context.height, pix_fmt
        vout.codec_context.color_range = vin.codec_context.color_range
        for index, frame in enumerate(inp.decode(vin)):
            if first <= index < first + count:
                picture = frame.reformat(format=pix_fmt)
                picture.pts = None
                out.mux(vout.encode(picture))
        out.mux(vout.encode(None))


ROUTES = {
    "prores": (".mov", "prores_ks", "yuv422p10le", {"profile": "hq", "vendor": "apl0"}, EncodeSettings()),
    "h264-10": (".mp4", "libx264", "yuv420p10le", {"crf": "0"}, EncodeSettings(crf=0, bit_depth=10)),
}


@pytest.mark.parametrize("clip, first, route", [
    ("mb_rotate-buck-bunny.mp4", 40, "prores"),  # saturated chroma edges: 41.6 dB luma before, 56.3 plain
    ("mb_rotate-buck-bunny.mp4", 40, "h264-10"),
    ("tc_h264_10bits.mp4", 0, "prores"),
    ("tc_bt709_full_range.mp4", 0, "h264-10"),
])
def test_identity_render_is_as_faithful_as_a_plain_transcode(media: Path, tmp_path: Path, clip: str, first: int,
                                                             route: str) -> None:
    suffix, codec, pix_fmt, options, settings = ROUTES[route]
    count = 3
    source = media / clip
    plain, ours = tmp_path / f"plain{suffix}", tmp_path / f"ours{suffix}"
    plain_loop(source, plain, first, count, codec, pix_fmt, options)
    run_render(RenderRequest(input=source, output=ours, frames=(first, first + count - 1), encode=settings))
    want_y, want_c = fidelity(source, plain, first, count)
    got_y, got_c = fidelity(source, ours, first, count)
    assert got_y >= want_y - TOLERANCE_DB, (got_y, want_y)
    assert got_c >= want_c - TOLERANCE_DB, (got_c, want_c)


def saturated_planes(pix_fmt: str, width: int, height: int, full: bool) -> av.VideoFrame:
    """Legal Y'CbCr whose R'G'B' falls far outside 0..1: bright luma under extreme chroma, in bands."""
    frame = av.VideoFrame(width, height, pix_fmt)
    bits = max(c.bits for c in frame.format.components)
    top = (1 << bits) - 1
    lo, hi = (0, top) if full else (16 << (bits - 8), 235 << (bits - 8))
    clo, chi = (0, top) if full else (16 << (bits - 8), 240 << (bits - 8))
    rng = np.random.default_rng(7)
    for index, plane in enumerate(frame.planes):
        dtype = np.uint8 if bits <= 8 else np.dtype("<u2")
        row = plane.line_size // np.dtype(dtype).itemsize
        view = np.frombuffer(plane, dtype=dtype).reshape(-1, row)[: plane.height, : plane.width]
        a, b = (lo, hi) if index in (0, 3) else (clo, chi)
        view[...] = rng.integers(a, b + 1, size=view.shape)
        if index in (1, 2):  # bands of extreme, flat chroma
            view[: plane.height // 2] = b if index == 1 else a
    return frame


@pytest.mark.parametrize("bits", [8, 10, 12])
@pytest.mark.parametrize("sampling", ["420", "422", "444"])
@pytest.mark.parametrize("full", [False, True])
def test_float_conversion_keeps_out_of_gamut_values(bits: int, sampling: str, full: bool) -> None:
    """Y'CbCr -> linear light -> Y'CbCr: luma code values come back exactly, chroma where it is flat."""
    suffix = "" if bits == 8 else f"{bits}le"
    pix_fmt = f"yuv{sampling}p{suffix}"
    frame = saturated_planes(pix_fmt, 64, 32, full)
    frame.color_range = 2 if full else 1
    code, _ = decode_rgb(frame, full_range=full, matrix=1)
    assert code.min() < -0.2 and code.max() > 1.2  # far out of gamut, kept
    linear = linearize_float(code, 1)
    back = encode_frame(encode_unclipped(linear, 1), pix_fmt, full_range=full, matrix=1, height=32)
    before, after = planes(frame), planes(back)
    assert np.abs(after[0] - before[0]).max() == 0
    rows = before[1].shape[0] // 2
    for k in (1, 2):  # the flat half survives the chroma down/up pair exactly; all of it at 4:4:4
        span = slice(None) if sampling == "444" else slice(0, rows - 1)
        assert np.array_equal(after[k][span], before[k][span])


def test_decoded_pictures_are_planes_and_finish_sees_each_plane() -> None:
    # The renderer reads planes: a decoded picture reaches torch as a contiguous (3, H, W) tensor
    # with no copy, and linearising band by band per plane equals linearising the whole picture.
    import torch

    frame = saturated_planes("yuv420p10le", 64, 32, False)
    code, _ = decode_rgb(frame, full_range=False, matrix=1)
    linear, _ = decode_rgb(frame, full_range=False, matrix=1, finish=lambda band: linearize_float(band, 1))
    assert code.shape == linear.shape == (32, 64, 3)
    assert torch.from_numpy(linear).permute(2, 0, 1).is_contiguous()
    assert np.array_equal(linear, linearize_float(np.ascontiguousarray(code), 1))


def test_in_focus_pixels_of_a_depth_of_field_render_are_written_as_the_identity_path_writes_them(
        tmp_path: Path) -> None:
    from bokehfx.depth.source import DepthSpec
    from bokehfx.pipeline.render import DofSettings, FocusRequest, render_clip
    from tests.media_factory import write_clip, write_sequence

    width, height = 96, 48
    rng = np.random.default_rng(5)
    frames = [(rng.random((height, width, 3)) ** 3 * 65535).astype(np.uint16) for _ in range(3)]  # saturated
    clip = write_clip(tmp_path / "clip.mp4", frames, codec="libx264", pix_fmt="yuv420p", options={"qp": "0"})
    disp = np.full((height, width, 3), 65535 // 5, np.uint16)
    disp[:, : width // 2] = 65535  # left half nearest: normalized disparity exactly 1
    write_sequence(tmp_path / "disp.%d.png", [disp], codec="png", pix_fmt="rgb48be", in_fmt="rgb48le",
                   start_number=0)
    # Lossless output (8-bit H.264 at CRF 0), so what reached the encoder is what is compared.
    identity, dof = tmp_path / "identity.mp4", tmp_path / "dof.mp4"
    lossless = EncodeSettings(crf=0)
    run_render(RenderRequest(input=clip, output=identity, encode=lossless))
    settings = DofSettings(focus=FocusRequest(focus="1", blur="20"),
                           depth=DepthSpec(path=tmp_path / "disp.0.png", kind="disparity"))
    render_clip(RenderRequest(input=clip, output=dof, encode=lossless), settings)
    with av.open(str(identity)) as a, av.open(str(dof)) as b:
        for x, y in zip(a.decode(video=0), b.decode(video=0)):
            px, py = planes(x), planes(y)
            left = width // 4  # well inside the in-focus half
            assert np.array_equal(px[0][:, :left], py[0][:, :left])
            assert np.array_equal(px[1][:, : left // 2], py[1][:, : left // 2])
            assert np.array_equal(px[2][:, : left // 2], py[2][:, : left // 2])
            assert not np.array_equal(px[0][:, -left:], py[0][:, -left:])  # the far half is blurred
