"""Every real clip in ../shared/media probes and decodes fully, or fails with a clear error."""

from __future__ import annotations

import time
from pathlib import Path

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
