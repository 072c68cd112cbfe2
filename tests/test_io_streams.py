"""No stream is dropped when a lossless route exists: copied, else transcoded exactly, else said why."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from bokehfx.io.streams import lossless_audio_codecs
from bokehfx.pipeline.job import RenderRequest, run_render


def decoded_samples(path: Path, index: int | None = None) -> tuple[np.ndarray, int]:
    """Every decoded sample of an audio stream, interleaved as one row of (value per channel), and its rate."""
    with av.open(str(path)) as c:
        stream = c.streams.audio[0] if index is None else c.streams[index]
        chunks = []
        for frame in c.decode(stream):
            arr = frame.to_ndarray()
            chunks.append(arr.T.reshape(-1) if frame.format.is_planar else arr.reshape(-1))
        return np.concatenate(chunks), stream.codec_context.sample_rate


def test_lossless_audio_codecs_follow_the_container_and_the_samples() -> None:
    assert lossless_audio_codecs("fltp", "mov")[0] == ("pcm_f32le", "flt")
    assert lossless_audio_codecs("u8", "mp4")[0] == ("flac", "s16")
    assert lossless_audio_codecs("s16p", "matroska") == [("flac", "s16"), ("pcm_s16le", "s16")]
    assert ("flac", "s16") not in lossless_audio_codecs("s32", "mp4")  # FLAC would not hold 32 bits
    assert lossless_audio_codecs("dbl", "mov") == [("pcm_f64le", "dbl")]


def test_opus_into_quicktime_is_kept_sample_exact(media: Path, tmp_path: Path) -> None:
    src = media / "mp_no_duration.webm"
    out = tmp_path / "o.mov"
    result = run_render(RenderRequest(input=src, output=out))
    notes = [n for n in result.notes if "audio stream #1" in n]
    assert len(notes) == 1 and notes[0].startswith("transcoded audio stream #1 (opus) losslessly to pcm_f32le")
    with av.open(str(out)) as c:
        assert [s.codec_context.name for s in c.streams.audio] == ["pcm_f32le"]
    got, rate = decoded_samples(out)
    want, source_rate = decoded_samples(src)
    assert rate == source_rate
    assert got.dtype == want.dtype and np.array_equal(got, want)
    assert abs(len(got) / 2 / rate - 4.86) < 1e-3


def test_eight_bit_pcm_into_mp4_becomes_flac_with_the_same_values(media: Path, tmp_path: Path) -> None:
    src = media / "ft_fixture-mjpeg.mov"
    out = tmp_path / "o.mp4"
    result = run_render(RenderRequest(input=src, output=out))
    assert any(n.startswith("transcoded audio stream #1 (pcm_u8) losslessly to flac") for n in result.notes)
    assert not any("dropped" in n for n in result.notes)
    got, _ = decoded_samples(out)
    want, _ = decoded_samples(src)
    assert got.dtype == np.int16
    assert np.array_equal(got, (want.astype(np.int16) - 128) * 256)


def test_text_subtitles_into_matroska_keep_every_event(media: Path, tmp_path: Path) -> None:
    src = media / "tc_nasa_13013.mp4"
    out = tmp_path / "o.mkv"
    result = run_render(RenderRequest(input=src, output=out, frames=(0, 60)))
    assert sum("transcoded subtitle stream" in n for n in result.notes) == 2

    def events(path: Path) -> list[tuple[float, bytes]]:
        with av.open(str(path)) as c:
            s = c.streams.subtitles[0]
            found = []
            for p in c.demux(s):
                subs = s.codec_context.decode2(p) if p.size else None
                if subs is not None:
                    found.append((round(float(p.pts * p.time_base), 3), b"".join(r.dialogue for r in subs)))
            return found

    with av.open(str(out)) as c:  # Matroska shifts every stream alike past the encoder's delay
        shift = float(c.streams.video[0].start_time * c.streams.video[0].time_base)
    got = [(round(t - shift, 3), text) for t, text in events(out)]
    want = [e for e in events(src) if e[0] < result.frames / float(result.info.video.frame_rate)]
    assert got and got == want


@pytest.mark.parametrize("suffix", [".mov", ".mp4", ".mkv"])
def test_every_shared_stream_is_copied_transcoded_or_dropped_with_a_reason(media: Path, tmp_path: Path,
                                                                           suffix: str) -> None:
    from bokehfx.errors import BokehfxError

    for clip in sorted(media.iterdir()):
        out = tmp_path / f"{clip.stem}{suffix}"
        try:
            result = run_render(RenderRequest(input=clip, output=out, frames=(0, 2)))
        except BokehfxError:
            continue  # refused clearly (covered by the shared-media tests)
        with av.open(str(out)) as c:
            carried = sum(1 for s in c.streams if s.type != "data") - 1
        extra = sum(1 for s in result.info.streams if s.type != "data")
        dropped = [n for n in result.notes if n.startswith("dropped")]
        assert carried + len(dropped) == extra, (clip.name, result.notes)
        assert all("; " in n for n in dropped), dropped  # the muxer's refusal and why no lossless route
        assert not any("audio" in n for n in dropped), (clip.name, dropped)


def test_no_decoder_is_closed_while_ffmpeg_logs_into_python(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A decode thread closing its decoder (which waits for codec threads while holding the GIL) and a
    muxer trial (codec threads then log into Python, which needs the GIL) deadlock if they overlap."""
    import threading
    import time

    import av.logging

    from bokehfx.io import streams
    from bokehfx.io.avlock import FFMPEG_LOGGING
    from bokehfx.io.source import VideoSource
    from tests.batch_helpers import prores_clip

    def held_by_another_thread() -> bool:
        free = []

        def probe() -> None:
            if FFMPEG_LOGGING.acquire(blocking=False):
                FFMPEG_LOGGING.release()
                free.append(True)

        thread = threading.Thread(target=probe)
        thread.start()
        thread.join()
        return not free

    # The trial logs into Python only while holding the lock.
    capture = av.logging.Capture
    held = []
    monkeypatch.setattr(av.logging, "Capture", lambda *a, **k: held.append(held_by_another_thread()) or capture(*a, **k))
    with av.open(str(prores_clip(tmp_path / "a.mov", frames=2))) as source:
        assert streams.muxer_refusal("mp4", source.streams.audio[0]) is None  # AAC goes into MP4
    assert held == [True]
    # A source's decode thread waits for the lock before closing its decoder.
    clip = prores_clip(tmp_path / "b.mov", frames=3)
    done = threading.Event()
    reader = threading.Thread(target=lambda: (list(VideoSource(clip)), done.set()), daemon=True)
    with FFMPEG_LOGGING:
        reader.start()
        time.sleep(1.0)
        assert not done.is_set()  # decoded, but not closed while the lock is held
    reader.join(timeout=60)
    assert done.is_set()
