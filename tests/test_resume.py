"""Resumable renders: chunks in a hidden work folder, killed and restarted, joined by remuxing."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import av
import pytest

from tests.batch_helpers import (assert_same_render, bokehfx, depth_still, files_under, here, one_torch_thread, prores_clip, start,
                                 video_packets, wait_for)

DOF = ("--blur", "20", "--focus", "0.5")


@pytest.fixture(autouse=True)
def _one_thread():
    with one_torch_thread():
        yield


def _chunks_done(work: Path) -> int:
    return len(list(work.glob("chunk_*.json"))) if work.exists() else 0


def test_resumed_prores_render_is_byte_identical_to_a_one_shot_render(tmp_path: Path) -> None:
    src = prores_clip(tmp_path / "src.mov", frames=20)
    depth = depth_still(tmp_path / "depth.png")
    one = tmp_path / "one.mov"
    chunked = tmp_path / "chunked.mov"
    here("render", src, "-o", one, "--depth", depth, *DOF, "-q")
    here("render", src, "-o", chunked, "--depth", depth, *DOF, "--resume", "--chunk-frames", "3", "-q")
    # Same pictures, same audio, timecode and metadata: the very same bytes.
    assert chunked.read_bytes() == one.read_bytes()
    assert files_under(tmp_path) == sorted(["src.mov", "depth.png", "one.mov", "chunked.mov"])


def test_chunks_render_like_a_one_shot_render_frames_side_by_side_and_encoded_on_a_worker(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from bokehfx.io.background import BackgroundWriter
    from bokehfx.pipeline.concurrent import ConcurrentFrames

    pushed, queued = [], []
    push, put = ConcurrentFrames.push, BackgroundWriter.put
    monkeypatch.setattr(ConcurrentFrames, "push", lambda self, frames: pushed.append(len(frames)) or push(self, frames))
    monkeypatch.setattr(BackgroundWriter, "put", lambda self, *a: queued.append(a[0].index) or put(self, *a))
    src = prores_clip(tmp_path / "src.mov", frames=8, width=64, height=48)
    depth = depth_still(tmp_path / "depth.png", 64, 48)
    here("render", src, "-o", tmp_path / "o.mov", "--depth", depth, *DOF, "--resume", "--chunk-frames", "3", "-q")
    # One torch thread (this module's fixture): frames go side by side, as in a one-shot render.
    assert sum(pushed) == 8 and sorted(queued) == list(range(8))


@pytest.mark.slow
def test_render_resume_killed_twice_at_chunk_boundaries_gives_the_uninterrupted_file(tmp_path: Path) -> None:
    src = prores_clip(tmp_path / "src.mov", frames=48, width=128, height=96)
    depth = depth_still(tmp_path / "depth.png", 128, 96)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    out = out_dir / "o.mov"
    args = ("render", src, "-o", out, "--depth", depth, *DOF, "--resume", "--chunk-frames", "6", "-q")
    work = out_dir / ".o.mov.bokehfx-work"
    for kill_after in (2, 5):  # 8 chunks: killed while the 3rd, then while the 6th is being written
        proc = start(*args)
        assert wait_for(lambda: _chunks_done(work) >= kill_after or proc.poll() is not None)
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=60)
        assert proc.returncode == -signal.SIGKILL, "the render finished before it could be killed"
        assert not out.exists() and kill_after <= _chunks_done(work) < 8
    here(*args)
    assert not work.exists() and files_under(out_dir) == ["o.mov"]
    reference = tmp_path / "reference.mov"
    render_reference = ("render", src, "-o", reference, "--depth", depth, *DOF, "--resume", "--chunk-frames", "6",
                        "-q", "-f")
    here(*render_reference)
    assert_same_render(out, reference, lambda: here(*render_reference))
    one_shot = tmp_path / "one_shot.mov"
    here("render", src, "-o", one_shot, "--depth", depth, *DOF, "-q")
    assert_same_render(out, one_shot, lambda: here("render", src, "-o", one_shot, "--depth", depth, *DOF, "-q", "-f"))


def test_h264_chunks_are_closed_gops_and_a_frame_range_keeps_its_timecode_and_audio(tmp_path: Path) -> None:
    src = prores_clip(tmp_path / "src.mov", frames=30)
    out = tmp_path / "o.mp4"
    here("render", src, "-o", out, "--blur", "0", "--frames", "3-25", "--resume", "--chunk-frames", "7", "-q")
    with av.open(str(out)) as container:
        video = container.streams.video[0]
        assert video.metadata.get("timecode") == "01:00:00:03"
        assert [s.type for s in container.streams] == ["video", "audio", "data"]
        keys = [p.is_keyframe for p in container.demux(video) if p.size]
    assert len(keys) == 23
    assert [i for i, key in enumerate(keys) if key][:4] == [0, 7, 14, 21]  # every chunk starts a closed GOP
    with av.open(str(out)) as container:
        assert sum(1 for _ in container.decode(video=0)) == 23


def test_a_work_folder_of_other_settings_is_started_over(tmp_path: Path) -> None:
    from bokehfx.pipeline.chunks import ResumableRender
    from bokehfx.pipeline.job import RenderRequest
    from bokehfx.pipeline.render import DofSettings, FocusRequest

    src = prores_clip(tmp_path / "src.mov", frames=12, audio=False)
    depth = depth_still(tmp_path / "depth.png")
    out = tmp_path / "o.mov"
    from bokehfx.depth.source import DepthSpec

    def job(blur: str) -> ResumableRender:
        settings = DofSettings(focus=FocusRequest(focus="0.5", blur=blur), depth=DepthSpec(path=depth))
        return ResumableRender(RenderRequest(src, out), settings, chunk_frames=4)

    first = job("5")
    prep = first.prepare()
    first.render_chunk(prep, 0)  # then "killed"
    again = job("15")
    assert again.stored() is None  # another blur: the finished chunk must not be reused
    again.run()
    fresh = tmp_path / "fresh.mov"
    here("render", src, "-o", fresh, "--depth", depth, "--blur", "15", "--focus", "0.5", "-q")
    assert video_packets(out) == video_packets(fresh)


def test_a_refused_resumable_render_leaves_no_work_folder(tmp_path: Path) -> None:
    src = prores_clip(tmp_path / "src.mov", frames=6, audio=False)
    out = tmp_path / "o.mov"
    out.write_bytes(b"someone else's file")
    proc = bokehfx("render", src, "-o", out, "--blur", "0", "--resume", check=False)
    assert proc.returncode == 2 and proc.stderr.startswith("error:") and "--force" in proc.stderr
    assert files_under(tmp_path) == ["o.mov", "src.mov"] and out.read_bytes() == b"someone else's file"


def test_the_pre_pass_stores_per_frame_focus_for_every_chunk(tmp_path: Path) -> None:
    import numpy as np

    from bokehfx.pipeline.chunks import ResumableRender
    from bokehfx.depth.source import DepthSpec
    from bokehfx.pipeline.job import RenderRequest
    from bokehfx.pipeline.render import DofSettings, FocusRequest

    src = prores_clip(tmp_path / "src.mov", frames=12, audio=False)
    depth = depth_still(tmp_path / "depth.png")
    settings = DofSettings(focus=FocusRequest(prompt="rack focus to the background at 0.1s over 0.25 seconds"),
                           depth=DepthSpec(path=depth))
    job = ResumableRender(RenderRequest(src, tmp_path / "o.mov"), settings, chunk_frames=4)
    prep = job.prepare()
    values = np.load(job.work.file("focus.npy"))
    record = json.loads(job.work.file("prepass.json").read_text())
    assert (record["first"], record["stop"], len(prep.chunks)) == (0, 12, 3)
    assert values.shape == (12, 2) and values[0, 0] > values[-1, 0]  # the pull, frame by frame


def test_matroska_outputs_join_from_chunks_that_keep_exact_timestamps(tmp_path: Path) -> None:
    src = prores_clip(tmp_path / "src.mov", frames=16)
    one, chunked = tmp_path / "one.mkv", tmp_path / "chunked.mkv"
    here("render", src, "-o", one, "--codec", "prores_hq", "--blur", "0", "-q")
    here("render", src, "-o", chunked, "--codec", "prores_hq", "--blur", "0", "--resume", "--chunk-frames", "5", "-q")

    def stamped(path: Path) -> list[tuple[bytes, int, int]]:
        with av.open(str(path)) as container:
            return [(bytes(p), p.pts, p.duration) for p in container.demux(container.streams.video[0]) if p.size]

    assert stamped(chunked) == stamped(one)  # Matroska writes a random segment id: compare the stream
    h264 = tmp_path / "h264.mkv"
    here("render", src, "-o", h264, "--blur", "0", "--resume", "--chunk-frames", "5", "-q")
    with av.open(str(h264)) as container:
        assert sum(1 for _ in container.decode(video=0)) == 16
