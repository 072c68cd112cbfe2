"""Every real clip in ../shared/media probes and decodes fully, or fails with a clear error."""

from __future__ import annotations

import time
from pathlib import Path

import av
import numpy as np
import pytest

from bokehfx.errors import BokehfxError
from bokehfx.io.probe import probe
from bokehfx.io.source import VideoSource
from tests.conftest import shared_dir

CLIPS = sorted(p.name for p in (shared_dir() / "media").glob("*")) or ["<no shared media>"]

#: Frames of each clip known from an independent decode (ffprobe-style counts in MANIFEST).
KNOWN_COUNTS = {"ft_fixture2.mkv": 37, "mp_fire2.mp4": 25, "tc_nasa_13013.mp4": 325, "skv_bigbuckbunny.mp4": 132}


@pytest.mark.parametrize("name", CLIPS)
def test_clip_probes_and_decodes_fully_or_fails_clearly(media: Path, name: str) -> None:
    path = media / name
    started = time.monotonic()
    try:
        info = probe(path)
    except BokehfxError as err:
        assert str(err) and "\n" not in str(err)
        return
    count = 0
    with VideoSource(path, info=info) as src:
        for frame in src:
            assert frame.image.shape == (info.video.height, info.video.width, 3)
            assert frame.image.dtype == np.float32
            assert np.isfinite(frame.image).all()
            count += 1
    assert count > 0
    if name in KNOWN_COUNTS:
        assert count == KNOWN_COUNTS[name]
    if info.video.frame_count_exact:
        assert count == info.video.frame_count
    assert time.monotonic() - started < 120, "decoding must never hang"


def test_vfr_phone_clip_reports_exact_rational_rate_and_rotation(media: Path) -> None:
    info = probe(media / "mp_fire2.mp4")
    assert info.video.rotation == -180
    assert str(info.video.frame_rate) == "750000/71393"
    assert info.to_json()["video"]["frame_rate"] == "750000/71393"


def test_ntsc_rate_is_exact(media: Path) -> None:
    info = probe(media / "ft_fixture2.mkv")
    assert str(info.video.frame_rate) == "24000/1001"


def test_metadata_carried_alongside(media: Path) -> None:
    sar = probe(media / "mb_sar_2x1.mp4").video
    assert sar.sample_aspect_ratio == 2
    full = probe(media / "tc_bt709_full_range.mp4").video.colour
    assert (full.primaries, full.transfer, full.matrix, full.range) == (1, 1, 1, 2)
    ten = probe(media / "tc_h265_10bits.mp4").video
    assert ten.bit_depth == 10
    mxf = probe(media / "ft_fixture.mxf").video
    assert mxf.timecode == "00:00:00:00"
    nasa = probe(media / "tc_nasa_13013.mp4")
    assert [s.type for s in nasa.streams] == ["audio", "subtitle", "video", "audio", "subtitle"]


@pytest.mark.parametrize("name", CLIPS)
@pytest.mark.parametrize("suffix", [".mov", ".mp4"])
def test_every_clip_renders_a_faithful_copy_or_fails_clearly(media: Path, tmp_path: Path, name: str,
                                                               suffix: str) -> None:
    """Whatever streams a real clip carries, they are copied, transcoded losslessly, or dropped with a note."""
    from bokehfx.pipeline.job import RenderRequest, run_render

    out = tmp_path / f"copy{suffix}"
    try:
        result = run_render(RenderRequest(input=media / name, output=out, frames=(0, 4)))
    except BokehfxError as err:
        assert str(err) and not out.exists()
        return
    assert result.frames >= 1 and out.is_file()
    with av.open(str(out)) as c:
        assert sum(1 for _ in c.decode(video=0)) == result.frames
        kept = sum(1 for s in c.streams if s.type != "data")  # a timecode track is written as data
    dropped = sum("dropped" in n for n in result.notes)
    assert kept + dropped == 1 + sum(1 for s in result.info.streams if s.type != "data")


def test_a_stream_the_muxer_refuses_is_transcoded_with_its_reason(media: Path, tmp_path: Path) -> None:
    from bokehfx.pipeline.job import RenderRequest, run_render

    result = run_render(RenderRequest(input=media / "mp_no_duration.webm", output=tmp_path / "o.mov", frames=(0, 4)))
    assert any(n.startswith("transcoded audio stream #1 (opus) losslessly to pcm_f32le") and
               "opus only supported in MP4" in n for n in result.notes)
    kept = run_render(RenderRequest(input=media / "mp_no_duration.webm", output=tmp_path / "o.mp4", frames=(0, 4)))
    assert not any("dropped" in n for n in kept.notes)


@pytest.mark.parametrize("name", CLIPS)
def test_every_clip_renders_depth_of_field(media: Path, tmp_path: Path, name: str) -> None:
    """The whole depth-of-field path (sidecar, plan, engine, sink) on every real clip's first frames."""
    from bokehfx.depth.source import DepthSpec
    from bokehfx.pipeline.job import RenderRequest
    from bokehfx.pipeline.render import DofSettings, FocusRequest, render_clip
    from tests.media_factory import write_sequence

    try:
        info = probe(media / name)
    except BokehfxError:
        return
    w, h = info.video.width, info.video.height
    ramp = (np.tile(np.linspace(0.2, 1.0, w), (h, 1)) * 65535).astype(np.uint16)
    write_sequence(tmp_path / "d.%d.png", [np.dstack([ramp] * 3)], codec="png", pix_fmt="rgb48be", in_fmt="rgb48le",
                   start_number=0)
    settings = DofSettings(focus=FocusRequest(focus="0.5", blur="12"),
                           depth=DepthSpec(path=tmp_path / "d.0.png", kind="disparity"))
    out = tmp_path / "dof.mov"
    result, stage = render_clip(RenderRequest(input=media / name, output=out, frames=(0, 3)), settings)
    assert result.frames >= 1 and out.is_file()
    assert stage is not None and stage.blur == [12.0] * result.frames
    assert any("interlaced" in n for n in result.notes) == info.video.interlaced
