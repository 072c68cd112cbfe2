"""`render --blur 0` loses nothing: timing, rotation, SAR, colour tags, audio packets, every stream."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from bokehfx.io.paths import Codec
from bokehfx.io.sink import EncodeSettings
from bokehfx.pipeline.job import RenderRequest, run_render
from tests.media_factory import decode_rgb48, gradient_frames, psnr16, write_clip, write_sequence


def render(src: Path, dst: Path, **kwargs) -> object:
    return run_render(RenderRequest(input=src, output=dst, **kwargs))


def frame_times(path: Path) -> list[tuple[Fraction, Fraction]]:
    """(presentation time, duration) of every video frame, in exact seconds."""
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        tb = Fraction(s.time_base)
        return [(f.pts * tb, f.duration * tb) for f in c.decode(s)]


def packets(path: Path, kind: str) -> list[list[tuple[Fraction | None, bytes]]]:
    """Per stream of ``kind``: (pts in seconds, payload) of every packet."""
    with av.open(str(path)) as c:
        streams = [s for s in c.streams if s.type == kind]
        out: dict[int, list] = {s.index: [] for s in streams}
        for p in c.demux(streams):
            if p.size:
                out[p.stream.index].append((None if p.pts is None else p.pts * Fraction(p.time_base), bytes(p)))
        return list(out.values())


def test_vfr_phone_clip_keeps_every_timestamp_duration_and_rotation(media: Path, tmp_path: Path) -> None:
    src = media / "mp_fire2.mp4"
    out = tmp_path / "fire.mov"
    result = render(src, out)
    assert result.frames == 25
    assert frame_times(out) == frame_times(src)
    with av.open(str(out)) as c:
        assert next(c.decode(video=0)).rotation == -180
    assert packets(out, "audio") == packets(src, "audio")


def test_rotation_and_start_offset_survive(media: Path, tmp_path: Path) -> None:
    src = media / "mb_rotate-buck-bunny.mp4"
    out = tmp_path / "rot.mov"
    render(src, out, frames=(0, 12))
    with av.open(str(out)) as c:
        first = next(c.decode(video=0))
        assert first.rotation == -90
    assert frame_times(out) == frame_times(src)[:12]


def test_sample_aspect_ratio_survives(media: Path, tmp_path: Path) -> None:
    out = tmp_path / "sar.mp4"
    render(media / "mb_sar_2x1.mp4", out, frames=(0, 9))
    with av.open(str(out)) as c:
        assert c.streams.video[0].sample_aspect_ratio == 2
    out_mov = tmp_path / "sar.mov"
    render(media / "mb_sar_2x1.mp4", out_mov, frames=(0, 9))
    with av.open(str(out_mov)) as c:
        assert c.streams.video[0].sample_aspect_ratio == 2


def test_full_range_bt709_tags_survive_h264(media: Path, tmp_path: Path) -> None:
    src = media / "tc_bt709_full_range.mp4"
    out = tmp_path / "full.mp4"
    render(src, out)
    with av.open(str(out)) as c:
        f = next(c.decode(video=0))
        assert (f.color_primaries, f.color_trc, f.colorspace, f.color_range) == (1, 1, 1, 2)
    a, b = decode_rgb48(src, limit=5), decode_rgb48(out, limit=5)
    assert min(psnr16(x, y) for x, y in zip(a, b)) > 40


@pytest.mark.parametrize("name", ["skv_bigbuckbunny.mp4", "mp_chaplin.mp4"])
def test_audio_packets_are_copied_byte_for_byte(media: Path, tmp_path: Path, name: str) -> None:
    src = media / name
    out = tmp_path / (Path(name).stem + ".mov")
    render(src, out)
    assert packets(out, "audio") == packets(src, "audio")
    with av.open(str(src)) as a, av.open(str(out)) as b:
        assert b.streams.audio[0].codec_context.channels == a.streams.audio[0].codec_context.channels


def test_every_stream_of_multistream_file_survives(media: Path, tmp_path: Path) -> None:
    src = media / "tc_nasa_13013.mp4"
    out = tmp_path / "nasa.mp4"
    result = render(src, out)
    with av.open(str(src)) as a, av.open(str(out)) as b:
        assert [(s.type, s.codec_context.codec.canonical_name) for s in b.streams] == \
            [(s.type, s.codec_context.codec.canonical_name) for s in a.streams]
        assert [s.language for s in b.streams] == [s.language for s in a.streams]
    assert packets(out, "audio") == packets(src, "audio")
    assert packets(out, "subtitle") == packets(src, "subtitle")
    assert any("copied video stream #3" in n for n in result.notes)


def test_stream_the_container_refuses_is_transcoded_with_a_note(media: Path, tmp_path: Path) -> None:
    result = render(media / "ft_fixture-mjpeg.mov", tmp_path / "mjpeg.mp4")
    assert any("transcoded audio stream #1 (pcm_u8) losslessly to flac" in n for n in result.notes)
    result_mov = render(media / "ft_fixture-mjpeg.mov", tmp_path / "mjpeg.mov")
    assert not any("dropped" in n for n in result_mov.notes)
    assert packets(tmp_path / "mjpeg.mov", "audio") == packets(media / "ft_fixture-mjpeg.mov", "audio")


def test_prores_hq_fidelity_on_real_footage(media: Path, tmp_path: Path) -> None:
    src = media / "skv_bikes.mp4"
    out = tmp_path / "bikes.mov"
    render(src, out, frames=(0, 11))
    with av.open(str(out)) as c:
        s = c.streams.video[0]
        assert s.codec_context.name == "prores" and s.codec_context.pix_fmt == "yuv422p10le"
        assert s.codec_context.profile == "HQ"
    values = [psnr16(a, b) for a, b in zip(decode_rgb48(src, limit=12), decode_rgb48(out))]
    print(f"ProRes HQ round trip PSNR: min {min(values):.2f} dB, median {np.median(values):.2f} dB")
    assert min(values) >= 45.0


def test_ten_bit_source_keeps_ten_bit_precision(tmp_path: Path) -> None:
    # A green ramp over a tenth of the range: video-range 10-bit keeps ~88 distinct steps, 8-bit ~22.
    frames = gradient_frames(6, 256, 128, levels=1024, green_span=(0.4, 0.5))
    src = write_clip(tmp_path / "ten.mov", frames, codec="prores_ks", pix_fmt="yuv422p10le", options={"profile": "hq"})
    for out, kwargs in ((tmp_path / "ten_out.mov", {}),
                        (tmp_path / "ten_out.mp4", {"encode": EncodeSettings(crf=0, bit_depth=10)})):
        render(src, out, **kwargs)
        with av.open(str(out)) as c:
            assert c.streams.video[0].codec_context.pix_fmt.endswith("10le")
        a, b = decode_rgb48(src), decode_rgb48(out)
        assert len(a) == len(b) == 6
        column = b[0][:, 128, 1].astype(np.int64)
        levels = len(np.unique(np.round(column / 64.0)))
        green_err = np.abs(a[0][..., 1].astype(np.int64) - b[0][..., 1].astype(np.int64)) / 64.0
        quality = min(psnr16(x, y) for x, y in zip(a, b))
        print(f"{out.suffix}: {levels} ten-bit levels, median green error {np.median(green_err):.2f} codes, "
              f"PSNR {quality:.1f} dB")
        assert levels >= 60, "10-bit ramp collapsed to 8-bit steps"
        assert np.median(green_err) <= 1.0
        assert quality >= 50.0


def test_prores_4444_keeps_alpha(tmp_path: Path) -> None:
    frames = gradient_frames(4, 64, 48)
    alpha = [np.tile(np.linspace(0, 65535, 64).astype(np.uint16), (48, 1)) for _ in frames]
    src = write_clip(tmp_path / "alpha.mov", frames, codec="prores_ks", pix_fmt="yuva444p10le",
                     options={"profile": "4444"}, alpha=alpha)
    out = tmp_path / "alpha_out.mov"
    render(src, out, codec=Codec.prores_4444)
    with av.open(str(out)) as c:
        assert c.streams.video[0].codec_context.pix_fmt.startswith("yuva444p")  # the decoder reports 12-bit
    a = decode_rgb48(src, fmt="rgba64le")[0][..., 3].astype(np.float64)
    b = decode_rgb48(out, fmt="rgba64le")[0][..., 3].astype(np.float64)
    assert np.abs(a - b).max() < 65535 / 1000


def test_timecode_is_carried_and_moves_with_the_range(tmp_path: Path) -> None:
    src = write_clip(tmp_path / "tc.mov", gradient_frames(20, 64, 36), codec="prores_ks", pix_fmt="yuv422p10le",
                     rate=Fraction(25), timecode="01:00:00:00")
    render(src, tmp_path / "all.mov")
    render(src, tmp_path / "part.mov", frames=(10, 15))
    from bokehfx.io.probe import probe

    assert probe(tmp_path / "all.mov").video.timecode == "01:00:00:00"
    part = probe(tmp_path / "part.mov")
    assert part.video.timecode == "01:00:00:10"
    assert [t for t, _ in frame_times(tmp_path / "part.mov")] == [Fraction(i, 25) for i in range(5)]


def test_frame_range_trims_audio_to_the_rendered_span(tmp_path: Path) -> None:
    src = write_clip(tmp_path / "av.mp4", gradient_frames(72, 64, 36), codec="libx264", pix_fmt="yuv420p",
                     audio_seconds=3.0)
    out = tmp_path / "cut.mov"
    result = render(src, out, frames=(24, 36))  # 1.0 s to 1.5 s of a 3 s clip
    assert result.frames == 12
    with av.open(str(out)) as c:
        a = c.streams.audio[0]
        pkts = [p for p in c.demux(a) if p.size]
        times = [p.pts * Fraction(p.time_base) for p in pkts]
    packet = Fraction(1024, 48000)
    assert times and min(times) >= 0 and max(times) < Fraction(12, 24)
    assert max(times) >= Fraction(12, 24) - 2 * packet  # and the span is filled to its end
    assert min(times) <= packet


def test_odd_sizes_are_padded_for_h264_and_kept_for_prores(tmp_path: Path) -> None:
    src = write_clip(tmp_path / "odd.mov", gradient_frames(3, 101, 57), codec="prores_ks", pix_fmt="yuv444p10le",
                     options={"profile": "4444"})
    result = render(src, tmp_path / "odd.mp4")
    assert any("padded to 102x58" in n for n in result.notes)
    with av.open(str(tmp_path / "odd.mp4")) as c:
        cc = c.streams.video[0].codec_context
        assert (cc.width, cc.height) == (102, 58)
    render(src, tmp_path / "odd_out.mov")
    with av.open(str(tmp_path / "odd_out.mov")) as c:
        cc = c.streams.video[0].codec_context
        assert (cc.width, cc.height) == (101, 57)


def test_png_and_tiff_sequences_round_trip_16_bit(tmp_path: Path) -> None:
    frames = gradient_frames(3, 48, 32, levels=65536)
    src = write_sequence(tmp_path / "in.%04d.png", frames, codec="png", pix_fmt="rgb48be", in_fmt="rgb48le",
                         start_number=1001)
    out_png = tmp_path / "out.%04d.png"
    render(src, out_png)
    assert sorted(p.name for p in tmp_path.glob("out.*.png")) == ["out.1001.png", "out.1002.png", "out.1003.png"]
    for a, b in zip(decode_rgb48(tmp_path / "in.1001.png"), decode_rgb48(tmp_path / "out.1001.png")):
        assert np.abs(a.astype(np.int64) - b.astype(np.int64)).max() <= 2
    out_tif = tmp_path / "out.%04d.tif"
    render(src, out_tif)
    b = decode_rgb48(tmp_path / "out.1001.tif")[0]
    assert np.abs(decode_rgb48(tmp_path / "in.1001.png")[0].astype(np.int64) - b.astype(np.int64)).max() <= 2
    assert not list(tmp_path.glob(".*partial*"))


def test_exr_sequences_keep_values_above_one(tmp_path: Path) -> None:
    from bokehfx.io.source import VideoSource

    rng = np.random.default_rng(0)
    frames = [(rng.random((16, 24, 3)) * 6.0).astype(np.float32) for _ in range(2)]
    src = write_sequence(tmp_path / "hdr.%03d.exr", frames, codec="exr", pix_fmt="gbrpf32le", in_fmt="gbrpf32le",
                         options={"format": "float"}, start_number=0)
    with VideoSource(src) as s:
        got = [f.image for f in s]
    assert np.allclose(got[0], frames[0]) and got[0].max() > 5.0
    render(src, tmp_path / "out.%03d.exr")
    with VideoSource(tmp_path / "out.%03d.exr") as s:
        back = [f.image for f in s]
    assert len(back) == 2
    np.testing.assert_allclose(back[1], frames[1], rtol=1e-3, atol=1e-4)  # half float


def test_amr_audio_survives_in_quicktime(media: Path, tmp_path: Path) -> None:
    # QuickTime holds AMR-NB although FFmpeg's codec table for it says otherwise: the muxer is asked.
    out = tmp_path / "phone.mov"
    result = render(media / "ft_fixture.3gp", out, frames=(0, 9))
    assert not any("dropped" in n for n in result.notes)
    with av.open(str(out)) as c:
        assert [s.codec_context.name for s in c.streams if s.type == "audio"] == ["amrnb"]


@pytest.mark.parametrize("suffix", [".mov", ".mp4"])
def test_interlaced_camcorder_clip_stays_interlaced(media: Path, tmp_path: Path, suffix: str) -> None:
    src = media / "ft_fixture-raw.mts"
    from bokehfx.io.probe import probe

    assert probe(src).video.interlaced
    out = tmp_path / f"i{suffix}"
    render(src, out, frames=(0, 5))
    with av.open(str(out)) as c:
        v = c.streams.video[0]
        assert int(v.codec_context.field_order) == 2  # top field first, as the source
        assert next(c.decode(v)).interlaced_frame
    progressive = tmp_path / f"p{suffix}"
    render(media / "skv_bikes.mp4", progressive, frames=(0, 2))
    with av.open(str(progressive)) as c:
        assert not next(c.decode(video=0)).interlaced_frame


@pytest.mark.parametrize("suffix", [".mov", ".mp4"])
def test_hdr_pq_clip_keeps_its_tags_and_highlights(tmp_path: Path, suffix: str) -> None:
    from bokehfx.io.colour import TRC_PQ
    from bokehfx.io.source import VideoSource

    frames = gradient_frames(4, 96, 64, levels=1024, green_span=(0.3, 0.8))
    hdr = (9, TRC_PQ, 9, 1)  # BT.2020 primaries, SMPTE ST 2084 (PQ), BT.2020 non-constant matrix, video range
    src = write_clip(tmp_path / "hdr.mov", frames, codec="prores_ks", pix_fmt="yuv422p10le", options={"profile": "hq"},
                     colour=hdr)
    with VideoSource(src) as s:
        assert (s.info.video.colour.primaries, s.info.video.colour.transfer) == (9, TRC_PQ)
        peak = max(float(f.image.max()) for f in s)
    assert peak > 2.0, "PQ highlights decode above SDR reference white (1.0 = 203 cd/m2)"
    out = tmp_path / f"out{suffix}"
    render(src, out, **({"encode": EncodeSettings(crf=4, bit_depth=10)} if suffix == ".mp4" else {}))
    with av.open(str(out)) as c:
        f = next(c.decode(video=0))
        assert (f.color_primaries, f.color_trc, f.colorspace) == (9, TRC_PQ, 9)
    assert min(psnr16(a, b) for a, b in zip(decode_rgb48(src), decode_rgb48(out))) > 45


def test_an_intra_only_source_does_not_force_a_keyframe_on_every_h264_frame(tmp_path: Path) -> None:
    src = write_clip(tmp_path / "intra.mov", gradient_frames(24, 64, 48), codec="prores_ks", pix_fmt="yuv422p10le")
    out = tmp_path / "copy.mp4"
    render(src, out)
    with av.open(str(out)) as c:
        keys = [p.is_keyframe for p in c.demux(video=0) if p.size]
    assert len(keys) == 24 and sum(keys) == 1  # ProRes marks every picture I; the copy is one GOP
