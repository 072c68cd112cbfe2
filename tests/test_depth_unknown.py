"""Which stored depth values mean "unknown": decided by the encoding, never by a valid value.

Depth 0 is unknown (sensors); disparity 0 is the farthest point and valid; Middlebury's disparity
0 is unknown only when asked for (``--depth-encoding middlebury`` or ``--depth-invalid 0``); NaN and
inf are unknown everywhere.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from bokehfx.depth.convert import decode_depth_values, encoding_kind, to_disparity
from bokehfx.depth.sidecar import SidecarOptions
from bokehfx.errors import UsageError
from bokehfx.io.depthmaps import read_sidecar_disparity, read_still_values
from bokehfx.metrics.quality import psnr
from cli.main import app
from tests.media_factory import write_sequence

runner = CliRunner()
W, H, N = 160, 96, 4
BLUR_K = 12
#: Pixels kept clear of each foreground layer when measuring the background (more than the largest CoC).
BACKGROUND_MARGIN = 16
#: Foreground layers: (x0, y0, x1, y1, disparity); the backdrop is exactly 0.
LAYERS = ((16, 8, 56, 40, 0.4), (100, 50, 144, 88, 1.0))
MIN_BACKGROUND_PSNR = 50.0


def invoke(*args: object):
    return runner.invoke(app, [str(a) for a in args])


def disparity(raw: np.ndarray, **options: object) -> tuple[np.ndarray, np.ndarray]:
    opts = SidecarOptions(**options)
    values, valid = decode_depth_values(raw, opts.encoding, opts.invalid)
    return to_disparity(values, valid, opts.kind)


# --- pure: the encoding decides --------------------------------------------------------------


def test_disparity_zero_is_farthest_and_depth_zero_is_unknown():
    raw = np.array([[0.0, 0.5, 1.0]], np.float32)
    disp, valid = disparity(raw, kind="disparity")
    assert valid.tolist() == [[True, True, True]]
    np.testing.assert_array_equal(disp, raw)
    _, valid = disparity(raw, kind="depth")
    assert valid.tolist() == [[False, True, True]]
    for encoding in ("mm", "tum", "sun"):  # depth sensors keep 0 = unknown
        _, valid = disparity(np.array([[0, 1000]], np.uint16), encoding=encoding)
        assert valid.tolist() == [[False, True]], encoding


def test_nan_and_inf_are_unknown_in_every_encoding():
    raw = np.array([[np.nan, np.inf, -np.inf, 2.0]], np.float32)
    for options in ({"kind": "disparity"}, {"kind": "depth"}, {"encoding": "middlebury"}):
        disp, valid = disparity(raw, **options)
        assert valid.tolist() == [[False, False, False, True]], options
        assert np.isfinite(disp).all()


def test_middlebury_and_an_explicit_sentinel_make_zero_unknown():
    raw = np.array([[0.0, 3.0, 65535.0]], np.float32)
    _, valid = disparity(raw, encoding="middlebury")
    assert valid.tolist() == [[False, True, True]]
    _, valid = disparity(raw, kind="disparity", invalid=0)
    assert valid.tolist() == [[False, True, True]]
    _, valid = disparity(raw, kind="disparity", invalid=65535)
    assert valid.tolist() == [[True, True, False]]
    _, valid = disparity(np.array([[0, 1000, 65535]], np.uint16), encoding="mm", invalid=65535)
    assert valid.tolist() == [[False, True, False]]


def test_the_encoding_fixes_the_kind():
    assert encoding_kind("middlebury") == "disparity"
    assert encoding_kind("raw") == "depth" and encoding_kind("raw", "disparity") == "disparity"
    assert SidecarOptions(encoding="middlebury").kind == "disparity"
    with pytest.raises(UsageError, match="encoding 'middlebury' stores disparity, so kind 'depth' does not apply"):
        SidecarOptions(encoding="middlebury", kind="depth")
    with pytest.raises(UsageError, match="encoding 'mm' stores depth"):
        SidecarOptions(encoding="mm", kind="disparity")
    with pytest.raises(UsageError, match="finite number"):
        SidecarOptions(kind="disparity", invalid=float("nan"))


# --- a sidecar whose backdrop is exactly 0 ---------------------------------------------------


def layered_disparity(shift: int) -> np.ndarray:
    disp = np.zeros((H, W), np.float32)
    for x0, y0, x1, y1, value in LAYERS:
        disp[y0:y1, x0 + shift:x1 + shift] = value
    return disp


def background_mask(shift: int) -> np.ndarray:
    mask = np.ones((H, W), bool)
    m = BACKGROUND_MARGIN
    for x0, y0, x1, y1, _ in LAYERS:
        mask[max(y0 - m, 0):y1 + m, max(x0 + shift - m, 0):x1 + shift + m] = False
    return mask


@pytest.fixture()
def zero_backdrop(tmp_path: Path) -> tuple[Path, Path]:
    """A textured 16-bit PNG clip and its EXR disparity sequence with the backdrop at exactly 0."""
    rng = np.random.default_rng(8)
    base = rng.random((H, W, 3))
    frames = [(np.roll(base, i, axis=1) * 0.8 * 65535 + 0.1 * 65535).astype(np.uint16) for i in range(N)]
    clip = write_sequence(tmp_path / "plate.%04d.png", frames, codec="png", pix_fmt="rgb48be", in_fmt="rgb48le")
    depth = write_sequence(tmp_path / "disp.%04d.exr", [layered_disparity(i) for i in range(N)], codec="exr",
                           pix_fmt="grayf32le", in_fmt="grayf32le")
    return clip, depth


def test_a_zero_backdrop_stays_at_zero(zero_backdrop):
    _, depth = zero_backdrop
    out = list(read_sidecar_disparity(depth, options=SidecarOptions(kind="disparity")))
    for i, frame in enumerate(out):
        np.testing.assert_array_equal(frame, layered_disparity(i))  # already 0..1: normalized as it is


def test_zero_disparity_backdrop_renders_in_focus_at_focus_zero(zero_backdrop, tmp_path: Path):
    from bokehfx.io.source import read_frames

    clip, depth = zero_backdrop
    out = tmp_path / "dof.%04d.exr"
    result = invoke("render", clip, "-o", out, "--depth", depth, "--depth-kind", "disparity",
                    "--focus", "0", "--blur", BLUR_K, "--quiet")
    assert result.exit_code == 0, result.stderr
    src = np.stack([f.image for f in read_frames(clip)])
    dst = np.stack([f.image for f in read_frames(out)])
    mask = np.stack([background_mask(i) for i in range(N)])[..., None]
    background = psnr(dst, src, mask=mask)
    near = psnr(dst, src, mask=np.stack([layered_disparity(i) == 1.0 for i in range(N)])[..., None])
    print(f"zero-disparity backdrop at --focus 0: background {background:.2f} dB, near layer {near:.2f} dB")
    assert background >= MIN_BACKGROUND_PSNR
    assert near < 30.0  # the near layer is blurred: focus really is on the backdrop

    # Told that 0 marks holes, the backdrop is filled from the layers and no longer in focus.
    holes = tmp_path / "holes.%04d.exr"
    result = invoke("render", clip, "-o", holes, "--depth", depth, "--depth-kind", "disparity",
                    "--depth-invalid", "0", "--focus", "0", "--blur", BLUR_K, "--quiet")
    assert result.exit_code == 0, result.stderr
    filled = psnr(np.stack([f.image for f in read_frames(holes)]), src, mask=mask)
    print(f"same backdrop with --depth-invalid 0: background {filled:.2f} dB")
    assert filled < MIN_BACKGROUND_PSNR - 10


def test_contradicting_kind_and_encoding_is_a_clean_error(zero_backdrop, tmp_path: Path):
    clip, depth = zero_backdrop
    before = {p.name for p in tmp_path.iterdir()}
    result = invoke("render", clip, "-o", tmp_path / "out.mov", "--depth", depth, "--depth-encoding", "middlebury",
                    "--depth-kind", "depth", "--focus", "0")
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "middlebury" in lines[0]
    assert {p.name for p in tmp_path.iterdir()} == before


# --- Middlebury's own convention -------------------------------------------------------------


def test_middlebury_holes_are_filled_when_told_so(shared):
    path = shared / "rgbd/middlebury_cones/disp_left.tif"
    raw = read_still_values(path)
    holes = raw == 0
    assert 0.01 < holes.mean() < 0.1
    (told,) = read_sidecar_disparity(path, options=SidecarOptions(encoding="middlebury"))
    (flag,) = read_sidecar_disparity(path, options=SidecarOptions(kind="disparity", invalid=0))
    np.testing.assert_array_equal(told, flag)
    assert (told[holes] == 0).mean() < 0.05  # filled from measured neighbours, not left "infinitely far"
    (as_stored,) = read_sidecar_disparity(path, options=SidecarOptions(kind="disparity"))
    assert (as_stored[holes] == 0).all()  # read as plain disparity, a 0 is the farthest point


def test_middlebury_encoding_through_the_cli(shared, tmp_path: Path):
    from bokehfx.io.source import read_frames

    path = shared / "rgbd/middlebury_cones/disp_left.tif"
    raw = read_still_values(path)
    h, w = raw.shape
    plate = write_sequence(tmp_path / "plate.%04d.png", [np.full((h, w, 3), 30000, np.uint16)], codec="png",
                           pix_fmt="rgb48be", in_fmt="rgb48le")
    views = {}
    for name, flags in (("told", ["--depth-encoding", "middlebury"]), ("plain", ["--depth-kind", "disparity"])):
        out = tmp_path / f"{name}.%04d.exr"
        result = invoke("render", plate, "-o", out, "--depth", path, *flags, "--view", "disparity", "--quiet")
        assert result.exit_code == 0, result.stderr
        views[name] = next(read_frames(out)).image[..., 0]
    holes = raw == 0
    assert (views["told"][holes] < 1e-3).mean() < 0.05
    assert (views["plain"][holes] < 1e-3).all()
