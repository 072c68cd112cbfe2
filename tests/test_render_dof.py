"""`bokehfx render` with depth of field: sidecars, estimated depth and its cache, plans reaching the
renderer (checked through the focus-map diagnostic), timelines, --save-depth."""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from typer.testing import CliRunner

from bokehfx.renderers.diagnostics import FAR_COLOUR, IN_FOCUS_COLOUR, NEAR_COLOUR
from cli.main import app
from tests.depth_helpers import save_tiny_depth_anything
from tests.media_factory import decode_rgb48, write_clip, write_sequence

runner = CliRunner()
W, H, N = 96, 48, 12


def invoke(*args) -> object:
    return runner.invoke(app, [str(a) for a in args])


def textured_frames(n: int = N) -> list[np.ndarray]:
    rng = np.random.default_rng(3)
    base = rng.random((H, W, 3))
    return [(np.roll(base, i, axis=1) * 0.8 * 65535 + 0.1 * 65535).astype(np.uint16) for i in range(n)]


@pytest.fixture()
def scene(tmp_path: Path) -> tuple[Path, Path]:
    """A textured clip and a still disparity sidecar: left half near, right half far (0 is "unknown" in
    stored depth, so far is stored as a fifth of near; per-clip normalization maps it to 0)."""
    clip = write_clip(tmp_path / "clip.mov", textured_frames(), codec="prores_ks", pix_fmt="yuv422p10le",
                      options={"profile": "hq"}, rate=Fraction(24))
    disp = np.full((H, W, 3), 65535 // 5, np.uint16)
    disp[:, : W // 2] = 65535
    write_sequence(tmp_path / "disp.%d.png", [disp], codec="png", pix_fmt="rgb48be", in_fmt="rgb48le",
                   start_number=0)
    return clip, tmp_path / "disp.0.png"


def classify(rgb16: np.ndarray) -> str:
    """Which diagnostic colour a patch shows (the view is shaded by the image, so compare hue)."""
    mean = rgb16.reshape(-1, 3).mean(axis=0)
    mean = mean / max(mean.max(), 1e-9)
    best = min(((np.abs(mean - np.array(c) / max(c)).sum(), name) for name, c in
                (("near", NEAR_COLOUR), ("focus", IN_FOCUS_COLOUR), ("far", FAR_COLOUR))))
    return best[1]


def halves(path: Path) -> list[tuple[str, str]]:
    out = []
    for frame in decode_rgb48(path):
        out.append((classify(frame[:, 4: W // 2 - 4]), classify(frame[:, W // 2 + 4: -4])))
    return out


def test_sidecar_render_blurs_far_and_keeps_focus_sharp(scene, tmp_path: Path) -> None:
    from bokehfx.io.source import read_frames

    clip, depth = scene
    # Half-float EXR output: lossless enough that only the renderer's work shows.
    result = invoke("render", clip, "-o", tmp_path / "dof.%04d.exr", "--depth", depth, "--depth-kind", "disparity",
                    "--focus", "1.0", "--blur", "12", "--quiet")
    assert result.exit_code == 0, result.stderr
    src = next(read_frames(clip)).image
    dst = next(read_frames(tmp_path / "dof.%04d.exr")).image
    near_err = np.abs(src[:, : W // 2] - dst[:, : W // 2]).max()
    far_detail_src = np.abs(np.diff(src[:, W // 2 + 8:], axis=1)).mean()
    far_detail_dst = np.abs(np.diff(dst[:, W // 2 + 8:], axis=1)).mean()
    assert near_err < 2e-3  # half-float precision
    assert far_detail_dst < 0.35 * far_detail_src


def test_prompt_rack_focus_reaches_the_renderer(scene, tmp_path: Path) -> None:
    clip, depth = scene
    out = tmp_path / "map.mov"
    result = invoke("render", clip, "-o", out, "--depth", depth, "--depth-kind", "disparity", "--prompt",
                    "the focus transitions from the foreground to the background, introducing a large blur",
                    "--view", "focus_map", "--quiet")
    assert result.exit_code == 0, result.stderr
    views = halves(out)
    assert views[0] == ("focus", "far")
    assert views[-1] == ("near", "focus")


def test_flags_override_the_prompt(scene, tmp_path: Path) -> None:
    clip, depth = scene
    out = tmp_path / "map.mov"
    result = invoke("render", clip, "-o", out, "--depth", depth, "--depth-kind", "disparity",
                    "--prompt", "focus on the foreground", "--focus", "far", "--blur", "20", "--view", "focus_map")
    assert result.exit_code == 0, result.stderr
    assert set(halves(out)) == {("near", "focus")}


def test_timeline_markers_drive_each_clip_and_relink(scene, tmp_path: Path) -> None:
    import opentimelineio as otio

    clip, depth = scene
    rate = 24
    tl = otio.schema.Timeline(name="cut")
    track = otio.schema.Track(kind=otio.schema.TrackKind.Video)
    tl.tracks.append(track)
    ref = otio.schema.ExternalReference(target_url=clip.name,
                                        available_range=otio.opentime.TimeRange(
                                            otio.opentime.RationalTime(0, rate), otio.opentime.RationalTime(N, rate)))
    item = otio.schema.Clip(name="shot", media_reference=ref, source_range=otio.opentime.TimeRange(
        otio.opentime.RationalTime(2, rate), otio.opentime.RationalTime(8, rate)))
    for frame, focus in ((2, 1.0), (6, 0.0)):
        marker = otio.schema.Marker(name=f"f{frame}", marked_range=otio.opentime.TimeRange(
            otio.opentime.RationalTime(frame, rate), otio.opentime.RationalTime(0, rate)))
        marker.metadata["bokehfx"] = {"schema": "bokehfx.focus/1", "focus": focus, "blur": 20}
        item.markers.append(marker)
    track.append(item)
    plain = otio.schema.Clip(name="plain", media_reference=otio.schema.ExternalReference(
        target_url=clip.name), source_range=otio.opentime.TimeRange(otio.opentime.RationalTime(0, rate),
                                                                   otio.opentime.RationalTime(3, rate)))
    track.append(plain)
    missing = otio.schema.Clip(name="gone", media_reference=otio.schema.ExternalReference(target_url="gone.mov"),
                               source_range=otio.opentime.TimeRange(otio.opentime.RationalTime(0, rate),
                                                                    otio.opentime.RationalTime(4, rate)))
    track.append(missing)
    tl_path = tmp_path / "cut.otio"
    otio.adapters.write_to_file(tl, str(tl_path))
    outdir = tmp_path / "renders"
    result = invoke("render", "--timeline", tl_path, "-o", outdir, "--depth", depth, "--depth-kind", "disparity",
                    "--view", "focus_map", "--prompt", "focus on the background")
    assert result.exit_code == 0, result.stderr
    assert "not rendered: clip 2 'gone'" in result.stderr
    rendered = sorted(p.name for p in outdir.glob("*.mov"))
    assert rendered == ["000_shot.mov", "001_plain.mov"]
    assert set(halves(outdir / "001_plain.mov")) == {("near", "focus")}  # no markers: the prompt's plan
    views = halves(outdir / "000_shot.mov")
    assert len(views) == 8
    assert views[:4] == [("focus", "far")] * 4  # markers at source frames 2 and 6 (cuts)
    assert views[4:] == [("near", "focus")] * 4
    relinked = otio.adapters.read_from_file(str(outdir / "cut.bokehfx.otio"))
    clips = list(relinked.find_clips())
    assert clips[0].media_reference.target_url.endswith("000_shot.mov")


def test_save_depth_writes_the_normalized_disparity(scene, tmp_path: Path) -> None:
    clip, depth = scene
    result = invoke("render", clip, "-o", tmp_path / "o.mov", "--depth", depth, "--depth-kind", "disparity",
                    "--blur", "8", "--save-depth", tmp_path / "d.%04d.exr", "--quiet")
    assert result.exit_code == 0, result.stderr
    files = sorted(tmp_path.glob("d.*.exr"))
    assert len(files) == N
    with av.open(str(files[0])) as c:
        values = next(c.decode(video=0)).to_ndarray(format="grayf32le")
    assert values[:, : W // 2 - 2].min() > 0.99 and values[:, W // 2 + 2:].max() < 0.01


def test_estimated_depth_is_cached_and_reused(scene, tmp_path: Path) -> None:
    clip, _ = scene
    model = save_tiny_depth_anything(tmp_path / "tiny-da")
    cache = tmp_path / "cache"
    args = ["render", clip, "--depth-model", model, "--depth-cache", cache, "--blur", "8", "--quiet", "-f"]
    first = invoke(*args, "-o", tmp_path / "a.mov")
    assert first.exit_code == 0, first.stderr
    entries = sorted(p for p in cache.rglob("*") if p.is_file())
    assert entries, "the estimated depth must be stored in the cache"
    stamps = {p: p.stat().st_mtime_ns for p in entries}
    second = invoke(*args, "--focus", "0.2", "-o", tmp_path / "b.mov")
    assert second.exit_code == 0, second.stderr
    assert {p: p.stat().st_mtime_ns for p in entries} == stamps
    assert sorted(p for p in cache.rglob("*") if p.is_file()) == entries


def test_missing_depth_model_is_a_clear_error_and_writes_nothing(scene, tmp_path: Path, monkeypatch) -> None:
    clip, _ = scene
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty-hf-home"))
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    result = invoke("render", clip, "-o", out_dir / "x.mov", "--blur", "10")
    assert result.exit_code == 2
    assert result.stderr.startswith("error:") and "Depth-Anything-V2-Small-hf" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not [p for p in out_dir.rglob("*") if p.is_file()]


def test_tracked_point_with_a_late_range_is_refused(scene, tmp_path: Path) -> None:
    clip, depth = scene
    result = invoke("render", clip, "-o", tmp_path / "x.mov", "--depth", depth, "--focus-point", "0.25,0.5",
                    "--blur", "10", "--frames", "4-8")
    assert result.exit_code == 2 and "render from frame 0" in result.stderr


def test_save_depth_as_sixteen_bit_video(scene, tmp_path: Path) -> None:
    clip, depth = scene
    result = invoke("render", clip, "-o", tmp_path / "o.mov", "--depth", depth, "--depth-kind", "disparity",
                    "--blur", "8", "--save-depth", tmp_path / "depth.mkv", "--quiet")
    assert result.exit_code == 0, result.stderr
    with av.open(str(tmp_path / "depth.mkv")) as c:
        assert c.streams.video[0].codec_context.name == "ffv1"
        maps = [f.to_ndarray(format="gray16le") for f in c.decode(video=0)]
    assert len(maps) == N
    assert maps[0][:, : W // 2 - 2].min() == 65535 and maps[0][:, W // 2 + 2:].max() == 0
    bad = invoke("render", clip, "-o", tmp_path / "p.mov", "--depth", depth, "--blur", "8",
                 "--save-depth", tmp_path / "depth.avi")
    assert bad.exit_code == 2 and bad.stderr.startswith("error:")
    assert not (tmp_path / "p.mov").exists(), "a bad --save-depth is refused before anything is written"


def test_depth_of_another_aspect_ratio_is_refused_not_stretched(scene, tmp_path: Path) -> None:
    clip, _ = scene
    square = np.full((H, H, 3), 30000, np.uint16)
    square[:, : H // 2] = 60000
    write_sequence(tmp_path / "sq.%d.png", [square], codec="png", pix_fmt="rgb48be", in_fmt="rgb48le", start_number=0)
    result = invoke("render", clip, "-o", tmp_path / "x.mov", "--depth", tmp_path / "sq.0.png", "--blur", "8")
    assert result.exit_code == 2 and "aspect ratio" in result.stderr
    assert not (tmp_path / "x.mov").exists()
    half = np.full((H // 2, W // 2, 3), 30000, np.uint16)
    half[:, : W // 4] = 60000
    write_sequence(tmp_path / "half.%d.png", [half], codec="png", pix_fmt="rgb48be", in_fmt="rgb48le", start_number=0)
    ok = invoke("render", clip, "-o", tmp_path / "y.mov", "--depth", tmp_path / "half.0.png", "--blur", "8", "-q")
    assert ok.exit_code == 0, ok.stderr  # same aspect at another size is resampled


def test_save_depth_works_with_the_faithful_copy_too(scene, tmp_path: Path) -> None:
    clip, depth = scene
    result = invoke("render", clip, "-o", tmp_path / "copy.mov", "--blur", "0", "--depth", depth,
                    "--depth-kind", "disparity", "--save-depth", tmp_path / "d.%03d.png", "-q")
    assert result.exit_code == 0, result.stderr
    assert len(list(tmp_path.glob("d.*.png"))) == N


def test_focus_region_box_and_mask(scene, tmp_path: Path) -> None:
    clip, depth = scene
    base = ["render", clip, "--depth", depth, "--depth-kind", "disparity", "--blur", "20", "--view", "focus_map"]
    box = invoke(*base, "-o", tmp_path / "box.mov", "--focus-region", "0.6,0.2,0.9,0.8")
    assert box.exit_code == 0, box.stderr
    assert set(halves(tmp_path / "box.mov")) == {("near", "focus")}  # the box lies on the far half
    pixel_box = invoke(*base, "-o", tmp_path / "pbox.mov", "--focus-region", "4,4,30,40px")
    assert pixel_box.exit_code == 0, pixel_box.stderr
    assert set(halves(tmp_path / "pbox.mov")) == {("focus", "far")}
    mask = np.zeros((H, W, 3), np.uint16)
    mask[10:30, 60:80] = 65535
    write_sequence(tmp_path / "mask.%d.png", [mask], codec="png", pix_fmt="rgb48be", in_fmt="rgb48le",
                   start_number=0)
    masked = invoke(*base, "-o", tmp_path / "mask.mov", "--focus-region", tmp_path / "mask.0.png")
    assert masked.exit_code == 0, masked.stderr
    assert set(halves(tmp_path / "mask.mov")) == {("near", "focus")}
    both = invoke(*base, "-o", tmp_path / "x.mov", "--focus-region", "0,0,1,1", "--focus", "0.5")
    assert both.exit_code == 2 and "--focus-region" in both.stderr


def test_quiet_render_with_estimated_depth_prints_nothing(scene, tmp_path: Path) -> None:
    import subprocess
    import sys

    clip, _ = scene
    model = save_tiny_depth_anything(tmp_path / "tiny-da")
    proc = subprocess.run([sys.executable, "-m", "cli.main", "render", str(clip), "-o", str(tmp_path / "q.mov"),
                           "--depth-model", str(model), "--blur", "8", "--quiet"],
                          capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == "" and proc.stdout == ""


def test_alpha_is_rendered_with_the_picture(tmp_path: Path) -> None:
    frames = textured_frames(3)
    alpha = np.zeros((H, W), np.uint16)
    alpha[:, W // 2:] = 65535  # the far half is opaque, the near half transparent
    src = write_clip(tmp_path / "a.mov", frames, codec="prores_ks", pix_fmt="yuva444p10le",
                     options={"profile": "4444"}, alpha=[alpha] * 3)
    disp = np.full((H, W, 3), 65535 // 5, np.uint16)
    disp[:, : W // 2] = 65535
    write_sequence(tmp_path / "d.%d.png", [disp], codec="png", pix_fmt="rgb48be", in_fmt="rgb48le", start_number=0)
    out = tmp_path / "o.mov"
    result = invoke("render", src, "-o", out, "--codec", "prores_4444", "--depth", tmp_path / "d.0.png",
                    "--depth-kind", "disparity", "--focus", "1.0", "--blur", "16", "-q")
    assert result.exit_code == 0, result.stderr
    a = decode_rgb48(out, fmt="rgba64le")[0][..., 3].astype(float) / 65535
    assert a[:, : W // 2 - 20].max() < 0.02 and a[:, W // 2 + 20:].min() > 0.98
    edge = a[H // 2, W // 2 - 12: W // 2 + 12]
    assert 0.05 < edge.mean() < 0.95 and np.all(np.diff(edge) >= -0.02)  # the far edge is defocused
