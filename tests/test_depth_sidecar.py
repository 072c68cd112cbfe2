"""Sidecar depth: reading stored values, encodings, hole filling and one normalization per clip."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from bokehfx.depth.convert import (
    DisparityRange,
    decode_depth_values,
    fill_invalid,
    normalize_disparity,
    parse_depth_range,
    to_disparity,
)
from bokehfx.depth.sidecar import SidecarOptions
from bokehfx.errors import InputNotFoundError, UnsupportedMediaError, UsageError
from bokehfx.io.depthmaps import open_depth_sidecar, raw_depth_frames, read_sidecar_disparity, read_still_values


def write_images(folder: Path, name: str, codec: str, pix_fmt: str, frames: list[np.ndarray]) -> None:
    """Write each array as one image file through PyAV's image2 muxer (``name`` holds %0Nd)."""
    folder.mkdir(parents=True, exist_ok=True)
    h, w = frames[0].shape[:2]
    with av.open(str(folder / name), "w", format="image2") as c:
        s = c.add_stream(codec)
        s.width, s.height, s.pix_fmt = w, h, pix_fmt
        for a in frames:
            for p in s.encode(av.VideoFrame.from_ndarray(a, format=pix_fmt)):
                c.mux(p)
        for p in s.encode():
            c.mux(p)


def expected_normalized(disp_frames, valid_frames):
    lo = min(d[v].min() for d, v in zip(disp_frames, valid_frames))
    hi = max(d[v].max() for d, v in zip(disp_frames, valid_frames))
    return [(d - lo) / (hi - lo) for d in disp_frames]


# --- pure conversions ------------------------------------------------------------------------


def test_fill_prefers_the_farther_nearest_neighbour_along_rows():
    disp = np.array([[5, 0, 0, 2, 0], [0, 0, 0, 0, 0], [0, 7, 0, 0, 9]], dtype=np.float32)
    valid = disp > 0
    out = fill_invalid(disp, valid)
    np.testing.assert_array_equal(out[0], [5, 2, 2, 2, 2])
    np.testing.assert_array_equal(out[2], [7, 7, 7, 7, 9])
    np.testing.assert_array_equal(out[1], [5, 2, 2, 2, 2])  # empty row: filled along columns
    assert (out > 0).all()


def test_fill_of_an_empty_frame_needs_a_fallback():
    disp = np.zeros((2, 3), np.float32)
    with pytest.raises(UsageError, match="no valid pixel"):
        fill_invalid(disp, disp > 0)
    np.testing.assert_array_equal(fill_invalid(disp, disp > 0, fallback=0.25), np.full((2, 3), 0.25))


def test_zero_depth_is_unknown_not_infinitely_near():
    raw = np.array([[0, 1000, 2000], [4000, 0, 1000]], dtype=np.uint16)
    values, valid = decode_depth_values(raw, "mm")
    disp, valid = to_disparity(values, valid, "depth")
    assert valid.tolist() == [[False, True, True], [True, False, True]]
    assert np.isfinite(disp).all()
    assert disp[valid].max() == pytest.approx(1.0)  # 1 m is the nearest measured point
    filled = fill_invalid(disp, valid)
    assert filled[0, 0] == pytest.approx(1.0) and filled[1, 1] == pytest.approx(0.25)


def test_encodings_decode_known_values():
    mm, _ = decode_depth_values(np.array([[1500]], np.uint16), "mm")
    tum, _ = decode_depth_values(np.array([[5000]], np.uint16), "tum")
    sun, _ = decode_depth_values(np.array([[(2301 << 3) | (2301 >> 13)]], np.uint16), "sun")
    nyu_raw = np.array([[980, 2047]], np.uint16).byteswap()  # as FFmpeg reads the LE PGM
    nyu, nyu_valid = decode_depth_values(nyu_raw, "nyu")
    assert mm[0, 0] == pytest.approx(1.5)
    assert tum[0, 0] == pytest.approx(1.0)
    assert sun[0, 0] == pytest.approx(2.301)
    assert nyu[0, 0] == pytest.approx(351.3 / (1092.5 - 980))
    assert nyu_valid.tolist() == [[True, False]]
    with pytest.raises(UsageError, match="encoding 'mm' needs 16-bit integer data, got dtype float32"):
        decode_depth_values(np.ones((2, 2), np.float32), "mm")
    with pytest.raises(UsageError, match="encoding must be one of .* got 'cm'"):
        decode_depth_values(np.ones((2, 2), np.uint16), "cm")


def test_metric_depth_range_maps_near_to_one_and_far_to_zero():
    depth = np.array([[0.5, 1.0, 2.0, 4.0, 8.0]], np.float32)
    disp, _ = to_disparity(depth, depth > 0, "depth", depth_range=(1.0, 4.0))
    np.testing.assert_allclose(disp[0], [1.0, 1.0, (0.5 - 0.25) / 0.75, 0.0, 0.0], atol=1e-6)
    disp_inf, _ = to_disparity(depth, depth > 0, "depth", depth_range=(1.0, float("inf")))
    np.testing.assert_allclose(disp_inf[0], [1.0, 1.0, 0.5, 0.25, 0.125], atol=1e-6)
    with pytest.raises(UsageError, match=r"depth_range must satisfy 0 < NEAR < FAR, got \(4.0, 1.0\)"):
        to_disparity(depth, depth > 0, "depth", depth_range=(4.0, 1.0))
    with pytest.raises(UsageError, match="depth_range applies to kind 'depth' only"):
        SidecarOptions(kind="disparity", depth_range=(1.0, 2.0))


def test_parse_depth_range_flag():
    assert parse_depth_range("0.5,20") == (0.5, 20.0)
    assert parse_depth_range(" 1 , inf ") == (1.0, float("inf"))
    for bad in ["5", "a,b", "2,1", "0,3", "1,2,3"]:
        with pytest.raises(UsageError, match="depth_range must"):
            parse_depth_range(bad)


def test_normalization_is_one_range_for_the_whole_clip():
    frames = [np.array([[1.0, 2.0]]), np.array([[3.0, 5.0]])]
    clip = DisparityRange()
    for f in frames:
        clip.update(f)
    assert (clip.low, clip.high) == (1.0, 5.0)
    np.testing.assert_allclose(clip.normalize(frames[0]), [[0.0, 0.25]])
    np.testing.assert_allclose(clip.normalize(frames[1]), [[0.5, 1.0]])
    np.testing.assert_array_equal(normalize_disparity(np.ones((2, 2)), 3.0, 3.0), np.full((2, 2), 0.5))
    with pytest.raises(UsageError, match="low_percentile and high_percentile"):
        DisparityRange(50.0, 10.0)


# --- real RGB-D material ---------------------------------------------------------------------


def test_redwood_millimetre_sequence(shared):
    pattern = shared / "rgbd/redwood_seq/depth/%05d.png"
    sidecar = open_depth_sidecar(pattern)
    assert sidecar.layout == "sequence" and len(sidecar.files) == 5
    raws = list(raw_depth_frames(sidecar))
    assert all(r.dtype == np.uint16 and r.shape == (480, 640) for r in raws)
    metres = [decode_depth_values(r, "mm") for r in raws]
    for values, valid in metres:
        assert 0.05 < (~valid).mean() < 0.3  # real holes, 0 = unknown
        assert 0.3 < np.median(values[valid]) < 4.0  # an indoor scene in metres
    out = list(read_sidecar_disparity(pattern, options=SidecarOptions(encoding="mm")))
    assert len(out) == 5
    disps = [to_disparity(v, m, "depth") for v, m in metres]
    expected = expected_normalized([d for d, _ in disps], [m for _, m in disps])
    for got, exp, (_, valid) in zip(out, expected, disps):
        np.testing.assert_allclose(got[valid], exp[valid], atol=1e-6)
        assert np.isfinite(got).all() and got.min() >= 0 and got.max() <= 1
    # one normalization for the clip: not every frame spans [0, 1] on its own
    assert sum(f.max() == pytest.approx(1.0) for f in out) < 5


def test_redwood_frame_count_contract(shared):
    pattern = shared / "rgbd/redwood_seq/depth/%05d.png"
    assert len(list(read_sidecar_disparity(pattern, num_frames=3))) == 3
    with pytest.raises(UsageError, match="has 5 frames but the clip needs num_frames=7"):
        list(read_sidecar_disparity(pattern, num_frames=7))


def test_nyu_kinect_disparity_pgm(shared):
    raw = read_still_values(shared / "rgbd/single/NYU_depth.pgm")
    assert raw.dtype == np.uint16 and raw.shape == (480, 640)
    values, valid = decode_depth_values(raw, "nyu")
    assert valid.mean() > 0.7
    assert 0.5 < np.percentile(values[valid], 1) and np.percentile(values[valid], 99) < 10.0
    without_swap = raw.astype(np.float64)
    assert (without_swap >= 2047).mean() > 0.9  # read as-is, almost everything would be "invalid"


def test_sun_bit_rotated_millimetres(shared):
    raw = read_still_values(shared / "rgbd/single/SUN_depth.png")
    values, valid = decode_depth_values(raw, "sun")
    assert 0.1 < (~valid).mean() < 0.3
    assert 0.3 < np.percentile(values[valid], 1) and np.percentile(values[valid], 99) < 10.0
    assert np.percentile(raw[raw > 0] / 1000.0, 99) > 30.0  # un-rotated, the room would be 30 m+ deep


def test_tum_five_thousand_per_metre(shared):
    raw = read_still_values(shared / "rgbd/single/TUM_depth.png")
    values, valid = decode_depth_values(raw, "tum")
    assert 0.3 < np.median(values[valid]) < 5.0
    options = SidecarOptions(encoding="tum")
    out = list(read_sidecar_disparity(shared / "rgbd/single/TUM_depth.png", num_frames=4, options=options))
    assert len(out) == 4 and all(np.array_equal(out[0], f) for f in out)  # one still for every frame
    (small,) = read_sidecar_disparity(shared / "rgbd/single/TUM_depth.png", options=options, size=(120, 160))
    assert small.shape == (120, 160)  # resized to the source's size when stored at another
    assert abs(float(small.mean()) - float(out[0].mean())) < 0.01


def test_middlebury_disparity_with_unknown_pixels(shared):
    path = shared / "rgbd/middlebury_cones/disp_left.tif"
    raw = read_still_values(path)
    assert raw.dtype == np.float32 and raw.shape == (375, 450)
    valid = raw > 0
    assert 0.01 < (~valid).mean() < 0.1
    (out,) = read_sidecar_disparity(path, options=SidecarOptions(encoding="middlebury"))
    lo, hi = raw[valid].min(), raw[valid].max()
    np.testing.assert_allclose(out[valid], (raw[valid] - lo) / (hi - lo), atol=1e-6)
    # every unknown pixel takes the value of a measured pixel of its own row (never 0 = "infinitely far")
    for y, x in zip(*np.nonzero(~valid)):
        row_values = out[y][valid[y]]
        assert np.isclose(row_values, out[y, x]).any()
    assert (out[~valid] == 0).mean() < 0.05


# --- formats written here --------------------------------------------------------------------


def test_exr_float_sequence_and_rgb_exr(tmp_path):
    rng = np.random.default_rng(1)
    depth = [rng.uniform(0.5, 20.0, size=(6, 10)).astype(np.float32) for _ in range(3)]
    write_images(tmp_path / "exr", "d.%04d.exr", "exr", "grayf32le", depth)
    sidecar = open_depth_sidecar(tmp_path / "exr/d.%04d.exr")
    assert [f.name for f in sidecar.files] == ["d.0001.exr", "d.0002.exr", "d.0003.exr"]
    raws = list(raw_depth_frames(sidecar))
    for r, d in zip(raws, depth):
        np.testing.assert_array_equal(r, d)  # raw floats, no transfer function
    out = list(read_sidecar_disparity(tmp_path / "exr/d.%04d.exr"))
    lo = min((1 / d).min() for d in depth)
    hi = max((1 / d).max() for d in depth)
    for o, d in zip(out, depth):
        np.testing.assert_allclose(o, (1 / d - lo) / (hi - lo), atol=1e-5)
    rgb = np.stack([depth[0], depth[0] * 7, depth[0] * 9], axis=-1)
    write_images(tmp_path / "rgb", "r%d.exr", "exr", "gbrpf32le", [rgb])
    np.testing.assert_array_equal(read_still_values(tmp_path / "rgb/r1.exr"), depth[0])


def test_sixteen_bit_png_still_and_gray_video(tmp_path):
    ramp = (np.arange(48, dtype=np.uint16).reshape(6, 8) * 1300 + 17)
    write_images(tmp_path, "s%d.png", "png", "gray16be", [ramp])
    values = read_still_values(tmp_path / "s1.png")
    assert values.dtype == np.uint16
    np.testing.assert_array_equal(values, ramp)
    frames = [np.full((16, 16), v, np.uint8) + np.arange(16, dtype=np.uint8) for v in (10, 60, 110)]
    video = tmp_path / "depth.mkv"
    with av.open(str(video), "w") as c:
        s = c.add_stream("ffv1", rate=24)
        s.width, s.height, s.pix_fmt = 16, 16, "gray"
        for a in frames:
            for p in s.encode(av.VideoFrame.from_ndarray(a, format="gray")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    sidecar = open_depth_sidecar(video)
    assert sidecar.layout == "video"
    raws = list(raw_depth_frames(sidecar))
    assert len(raws) == 3
    for r, a in zip(raws, frames):
        np.testing.assert_array_equal(r, a)
    out = list(read_sidecar_disparity(video, options=SidecarOptions(kind="disparity")))
    np.testing.assert_allclose(out[1], (frames[1] - 10.0) / (125.0 - 10.0), atol=1e-6)


def test_sidecar_errors(tmp_path):
    with pytest.raises(InputNotFoundError, match="does not exist"):
        open_depth_sidecar(tmp_path / "missing.exr")
    with pytest.raises(InputNotFoundError, match="matches no file"):
        open_depth_sidecar(tmp_path / "none.%04d.png")
    with pytest.raises(UnsupportedMediaError, match="is a directory"):
        open_depth_sidecar(tmp_path)
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"not an image")
    with pytest.raises(UnsupportedMediaError, match="cannot be decoded"):
        read_still_values(junk)
    empty = np.zeros((4, 4), np.uint16)
    write_images(tmp_path, "z%d.png", "png", "gray16be", [empty])
    with pytest.raises(UnsupportedMediaError, match="has no valid pixel in any frame"):
        read_sidecar_disparity(tmp_path / "z1.png")
