"""Pure pieces of the I/O layer: transfer functions, timecode arithmetic, paths, frame ranges."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from bokehfx.errors import OutputError, UnsupportedMediaError, UsageError
from bokehfx.io import colour
from bokehfx.io.paths import Codec, output_target, sequence_files
from bokehfx.io.source import parse_frame_range
from bokehfx.timecode import format_timecode, offset_timecode, parse_timecode
from cli.options import parse_fps


@pytest.mark.parametrize("trc", sorted(colour._CURVES))
def test_transfer_round_trip(trc: int) -> None:
    code = np.linspace(0.0, 1.0, 4097)
    back = colour.from_linear(colour.to_linear(code, trc), trc)
    assert np.abs(back - code).max() < 2e-5


def test_known_transfer_values() -> None:
    assert colour.to_linear(np.array([0.5]), colour.TRC_SRGB)[0] == pytest.approx(0.21404, abs=1e-5)
    assert colour.to_linear(np.array([0.081]), colour.TRC_BT709)[0] == pytest.approx(0.018, abs=1e-6)
    assert colour.to_linear(np.array([0.5]), colour.TRC_BT709)[0] == pytest.approx(0.2597, abs=1e-3)
    # PQ: 203 cd/m2 (BT.2408 reference white) is linear 1.0; 1000 cd/m2 is well above it.
    pq_203 = colour.from_linear(np.array([1.0]), colour.TRC_PQ)[0]
    assert pq_203 == pytest.approx(0.5806, abs=1e-3)
    assert colour.to_linear(np.array([0.7518]), colour.TRC_PQ)[0] == pytest.approx(1000 / 203, rel=1e-2)
    assert colour.to_linear(np.array([0.75]), colour.TRC_HLG)[0] == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize("trc", [colour.TRC_BT709, colour.TRC_SRGB, colour.TRC_PQ])
def test_encode_reads_any_memory_layout_alike(trc: int) -> None:
    # A renderer's output reaches the sink as a planar (3, H, W) array seen as (H, W, 3); bands of
    # it, flipped views and interleaved copies all give the same code values, and the input is kept.
    gen = np.random.default_rng(4)
    planes = (gen.random((3, 40, 56), dtype=np.float32) * 1.6 - 0.1) ** 3
    kept = planes.copy()
    views = [planes.transpose(1, 2, 0), planes.transpose(1, 2, 0)[5:23], planes.transpose(1, 2, 0)[::-1, ::2]]
    for view in views:
        expected = colour.encode_unclipped(np.ascontiguousarray(view), trc)
        assert np.array_equal(colour.encode_unclipped(view, trc), expected)
    assert np.array_equal(planes, kept)
    toe = np.array([-0.5, 0.0, 0.001, 0.0031308, 0.5], np.float32)
    assert colour.encode_unclipped(toe, colour.TRC_SRGB)[:3] == pytest.approx(12.92 * toe[:3])


def test_untagged_sources_fall_back_by_kind_and_height() -> None:
    untagged = colour.ColourTags()
    assert colour.effective_transfer(untagged, is_image=False) == colour.TRC_BT709
    assert colour.effective_transfer(untagged, is_image=True) == colour.TRC_SRGB
    assert colour.sws_matrix(colour.SPC_UNSPECIFIED, 1080) == "ITU709"
    assert colour.sws_matrix(colour.SPC_UNSPECIFIED, 480) == "ITU601"
    assert colour.sws_matrix(colour.SPC_BT2020_NCL, 480) == "BT2020"


def test_unsupported_transfer_is_a_clear_error() -> None:
    with pytest.raises(UnsupportedMediaError, match="log100"):
        colour.to_linear(np.array([0.5]), 9)


def test_lut_is_exact_for_sixteen_bit_codes() -> None:
    codes = np.arange(0, 65536, 97, dtype=np.uint16)
    direct = colour.to_linear(codes / 65535.0, colour.TRC_BT709)
    assert np.array_equal(colour.linearize_u16(codes, colour.TRC_BT709), direct)
    assert np.array_equal(colour.encode_u16(direct, colour.TRC_BT709), codes)


def test_timecode_arithmetic() -> None:
    ntsc = Fraction(30000, 1001)
    assert parse_timecode("00:01:00;02", ntsc) == 1800
    assert format_timecode(1800, ntsc, drop_frame=True) == "00:01:00;02"
    assert parse_timecode("00:10:00;00", ntsc) == 17982
    assert format_timecode(17982, ntsc, drop_frame=True) == "00:10:00;00"
    assert offset_timecode("01:00:00:00", 10, Fraction(25)) == "01:00:00:10"
    assert offset_timecode("00:00:59:23", 1, Fraction(24000, 1001)) == "00:01:00:00"
    assert offset_timecode("00:00:59;29", 1, ntsc) == "00:01:00;02"
    for n in range(0, 40000, 1234):
        assert parse_timecode(format_timecode(n, ntsc, drop_frame=True), ntsc) == n
    with pytest.raises(UsageError):
        parse_timecode("1:2", Fraction(24))


def test_output_targets() -> None:
    assert output_target("a.mov").codec is Codec.prores_hq
    assert output_target("a.mp4").codec is Codec.h264
    assert output_target("a.mov", "prores_4444").codec is Codec.prores_4444
    assert output_target("shot.%04d.exr").is_sequence
    with pytest.raises(OutputError):
        output_target("a.mp4", "prores_hq")
    with pytest.raises(OutputError):
        output_target("a.%04d.jpg")
    with pytest.raises(UsageError):
        output_target("a.%04d.png", "h264")


def test_sequence_files_match_only_the_pattern(tmp_path: Path) -> None:
    for name in ("s.0001.png", "s.0002.png", "s.0010.png", "s.1.png", "t.0001.png", "s.0003.tif"):
        (tmp_path / name).write_bytes(b"")
    found = sequence_files(tmp_path / "s.%04d.png")
    assert [n for n, _ in found] == [1, 2, 10]


def test_frame_ranges_and_rates() -> None:
    assert parse_frame_range("10-19") == (10, 20)
    assert parse_frame_range("5-") == (5, None)
    assert parse_frame_range("7") == (7, 8)
    assert parse_frame_range(None) is None
    for bad in ("x", "5-3", "-2-4"):
        with pytest.raises(UsageError):
            parse_frame_range(bad)
    assert parse_fps("23.976") == Fraction(24000, 1001)
    assert parse_fps("24000/1001") == Fraction(24000, 1001)
    assert parse_fps("25") == 25
    for bad in ("0", "fast", "1/0"):
        with pytest.raises(UsageError):
            parse_fps(bad)


def test_prefetch_keeps_order_surfaces_errors_and_stops_early() -> None:
    from bokehfx.io.source import _Prefetch

    closed = []

    def produce():
        try:
            for i in range(5):
                yield i
            raise UnsupportedMediaError("broken at 5")
        finally:
            closed.append(True)

    got = []
    with pytest.raises(UnsupportedMediaError, match="broken at 5"):
        for item in _Prefetch(produce, 2):
            got.append(item)
    assert got == [0, 1, 2, 3, 4] and closed == [True]

    def endless():
        try:
            i = 0
            while True:
                yield i
                i += 1
        finally:
            closed.append("endless")

    stream = _Prefetch(endless, 2)
    assert [next(stream) for _ in range(3)] == [0, 1, 2]
    stream.close()
    assert closed[-1] == "endless"
    assert next(stream, "ended") == "ended"


def test_source_decodes_the_same_with_and_without_prefetch(media) -> None:
    from bokehfx.io.source import VideoSource

    path = media / "skv_carphone_pristine.mp4"
    with VideoSource(path, prefetch=0, frame_range=(0, 10)) as a, VideoSource(path, prefetch=3, frame_range=(0, 10)) as b:
        pairs = list(zip(a, b))
    assert len(pairs) == 10
    assert all(x.pts == y.pts and np.array_equal(x.image, y.image) for x, y in pairs)


def test_abandoned_iterations_are_cleaned_up_on_their_own_threads(media) -> None:
    """Iterations dropped half-way (as by an error in a consumer) while other sources decode: the
    decoders close on the threads that used them, and the garbage collector never tears one down
    from another thread (this crashed the interpreter before)."""
    import gc
    import threading

    from bokehfx.io.source import VideoSource

    path = media / "skv_carphone_pristine.mp4"
    for _ in range(6):
        busy = VideoSource(path, frame_range=(0, 40))
        running = iter(busy)
        for _ in range(3):
            dropped = iter(VideoSource(path, frame_range=(0, 40)))
            next(dropped)
            del dropped
            next(running)
            gc.collect()
        with busy:
            assert sum(1 for _ in running) > 0
    for worker in [t for t in threading.enumerate() if t.name == "bokehfx-decode"]:
        worker.join(timeout=5.0)
        assert not worker.is_alive(), "a forgotten iteration must stop its decoder"
