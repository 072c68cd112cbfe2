"""What a depth-of-field render costs besides the renderer: the encode worker, the renderer's batch
size, the untouched-pixel check, and a still depth sidecar decoded once."""

from __future__ import annotations

import threading
import time
import warnings
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch

import bokehfx.io.depthmaps as depthmaps
from bokehfx.depth.source import SidecarDepth
from bokehfx.errors import OutputError
from bokehfx.io.background import BackgroundWriter
from bokehfx.io.source import Frame
from bokehfx.pipeline.concurrent import ConcurrentFrames, side_by_side
from bokehfx.pipeline.dof import UNTOUCHED_TOLERANCE, _batch, _keep_unchanged
from bokehfx.pipeline.job import RenderRequest, run_render
from tests.media_factory import decode_rgb48, write_clip, write_sequence

W, H, N = 32, 16, 10
#: How long a test waits to see that a blocked call stays blocked (seconds).
BLOCKED_WAIT_S = 0.2


def flat_clip(path: Path, n: int = N) -> Path:
    frames = [np.full((H, W, 3), 20000, np.uint16) for _ in range(n)]
    return write_clip(path, frames, codec="prores_ks", pix_fmt="yuv422p10le", options={"profile": "hq"})


# -- the background writer ---------------------------------------------------------------------
def test_writer_writes_in_order_on_another_thread() -> None:
    seen: list[tuple[int, str]] = []
    with BackgroundWriter(lambda i: seen.append((i, threading.current_thread().name)), depth=1) as writer:
        for i in range(20):
            writer.put(i)
    assert [i for i, _ in seen] == list(range(20))
    assert {name for _, name in seen} == {"bokehfx-encode"}


def test_writer_blocks_the_caller_beyond_its_depth() -> None:
    release = threading.Event()
    writer = BackgroundWriter(lambda i: release.wait(), depth=2)
    writer.put(0)  # taken by the worker, which waits
    put_all = threading.Thread(target=lambda: [writer.put(i) for i in range(1, 4)])
    put_all.start()
    put_all.join(BLOCKED_WAIT_S)
    assert put_all.is_alive()  # 1 and 2 wait in the queue; 3 must wait for room
    release.set()
    put_all.join()
    writer.close()


def test_writer_error_surfaces_on_the_callers_side_and_stops_writing() -> None:
    written: list[int] = []

    def write(i: int) -> None:
        if i == 3:
            raise OutputError("disk full")
        written.append(i)

    writer = BackgroundWriter(write, depth=1)
    with pytest.raises(OutputError, match="disk full"):
        for i in range(50):
            writer.put(i)
        writer.close()
    writer.cancel()
    assert written == [0, 1, 2]


def test_writer_cancelled_by_an_exception_drops_what_is_queued() -> None:
    started, release = threading.Event(), threading.Event()
    written: list[int] = []

    def write(i: int) -> None:
        started.set()
        release.wait()
        written.append(i)

    with pytest.raises(KeyboardInterrupt):
        with BackgroundWriter(write, depth=3) as writer:
            for i in range(4):
                writer.put(i)
            started.wait()
            release.set()
            raise KeyboardInterrupt
    assert written[:1] == [0] and len(written) < 4  # the write in progress ends; the queued ones are dropped


# -- the render job with the writer ------------------------------------------------------------
def test_rendered_frames_are_written_in_order(tmp_path: Path) -> None:
    def by_index(frames: list[Frame]) -> list[tuple]:
        return [(np.full_like(f.image, (f.index + 1) / (N + 2)), None) for f in frames]

    result = run_render(RenderRequest(input=flat_clip(tmp_path / "in.mov"), output=tmp_path / "out.mov"),
                        renderer=by_index)
    levels = [float(frame.mean()) for frame in decode_rgb48(tmp_path / "out.mov")]
    assert result.frames == N and len(levels) == N
    assert all(a < b for a, b in zip(levels, levels[1:]))


def test_a_failing_write_stops_the_render_and_leaves_nothing(tmp_path: Path) -> None:
    def wrong_size(frames: list[Frame]) -> list[tuple]:
        return [(np.zeros((H // 2, W, 3), np.float32) if f.index == 4 else f.image.copy(), None) for f in frames]

    with pytest.raises(OutputError, match="expected"):
        run_render(RenderRequest(input=flat_clip(tmp_path / "in.mov"), output=tmp_path / "out.mov"),
                   renderer=wrong_size)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mov"]


@pytest.mark.parametrize("batch_frames, sizes", [(None, [4, 4, 2]), (1, [1] * N), (3, [3, 3, 3, 1])])
def test_the_job_hands_a_renderer_the_batch_size_it_asks_for(tmp_path: Path, batch_frames, sizes) -> None:
    class Counting:
        def __init__(self) -> None:
            self.batch_frames = batch_frames
            self.sizes: list[int] = []

        def __call__(self, frames: list[Frame]) -> list[tuple]:
            self.sizes.append(len(frames))
            return [(f.image.copy(), None) for f in frames]

    renderer = Counting()
    run_render(RenderRequest(input=flat_clip(tmp_path / "in.mov"), output=tmp_path / "out.mov", batch=4),
               renderer=renderer)
    assert renderer.sizes == sizes


# -- frames rendered side by side -------------------------------------------------------------
class SlowerFirstStage:
    """A stage whose frame i takes longer the earlier it is (so later frames finish first) and that
    records where and how its two steps ran."""

    def __init__(self, fail_at: int | None = None) -> None:
        self.fail_at = fail_at
        self.advanced: list[tuple[int, str]] = []
        self.running = 0
        self.most_running = 0
        self.torch_threads: set[int] = set()
        self.lock = threading.Lock()

    def advance(self, frame: Frame) -> tuple[np.ndarray, float, float]:
        self.advanced.append((frame.index, threading.current_thread().name))
        return np.full((H, W), frame.index / N, np.float32), 0.5, float(frame.index)

    def render_advanced(self, frames, disparity, focus, blur) -> list[tuple]:
        with self.lock:
            self.running += 1
            self.most_running = max(self.most_running, self.running)
        self.torch_threads.add(torch.get_num_threads())
        time.sleep(0.002 * (N - frames[0].index))
        with self.lock:
            self.running -= 1
        if frames[0].index == self.fail_at:
            raise OutputError(f"frame {frames[0].index} failed")
        return [(np.full((H, W, 3), blur[0], np.float32), None, np.zeros((H, W), bool))]


def frames_of(n: int = N) -> list[Frame]:
    return [Frame(i, i, 1, Fraction(1, 24), np.zeros((H, W, 3), np.float32)) for i in range(n)]


def test_concurrent_frames_come_back_in_order_with_the_plan_advanced_in_order() -> None:
    stage = SlowerFirstStage()
    before = torch.get_num_threads()
    out = []
    with ConcurrentFrames(stage, workers=2, threads=1) as renderer:
        for frame in frames_of():
            out.extend(renderer.push([frame]))
        out.extend(renderer.finish())
    assert [f.index for f, *_ in out] == list(range(N))
    assert [float(image[0, 0, 0]) for _, image, _, _ in out] == [float(i) for i in range(N)]  # each its own K
    assert [i for i, _ in stage.advanced] == list(range(N))
    assert {name for _, name in stage.advanced} == {threading.current_thread().name}
    assert stage.most_running == 2 and stage.torch_threads == {1}
    assert torch.get_num_threads() == before


def test_a_failing_frame_is_raised_by_the_job_and_the_workers_stop() -> None:
    stage = SlowerFirstStage(fail_at=3)
    before = torch.get_num_threads()
    collected = []
    with pytest.raises(OutputError, match="frame 3 failed"):
        with ConcurrentFrames(stage, workers=2, threads=1) as renderer:
            for frame in frames_of():
                collected.extend(renderer.push([frame]))
            collected.extend(renderer.finish())
    assert [f.index for f, *_ in collected] == list(range(len(collected))) and len(collected) <= 3  # in order
    assert len(stage.advanced) <= 3 + 2 + 1  # nothing ran on far beyond the failure
    assert torch.get_num_threads() == before
    assert not any(t.name.startswith("bokehfx-render") for t in threading.enumerate())


@pytest.mark.parametrize("threads, device, expected", [(1, "cpu", True), (2, "cpu", True), (4, "cpu", False),
                                                       (2, "cuda", False)])
def test_frames_go_side_by_side_only_where_each_gets_one_cpu_thread(threads, device, expected) -> None:
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        assert side_by_side(device) is expected
    finally:
        torch.set_num_threads(before)


# -- untouched pixels ----------------------------------------------------------------------------
def whole_frame_keep(source: np.ndarray, image: np.ndarray, a_source, a_image, coc_zero: np.ndarray) -> np.ndarray:
    """The definition: CoC 0, colour (and alpha) within the tolerance of the source's."""
    change = np.abs(image - source).max(axis=2)
    keep = coc_zero & (change <= UNTOUCHED_TOLERANCE * (1.0 + np.abs(source).max(axis=2)))
    if a_source is not None:
        keep &= np.abs(a_image - a_source) <= UNTOUCHED_TOLERANCE
    return keep


@pytest.mark.parametrize("coc_fraction", [0.0, 0.02, 0.6, 1.0])
@pytest.mark.parametrize("with_alpha", [False, True])
def test_untouched_pixels_are_those_of_the_definition(coc_fraction: float, with_alpha: bool) -> None:
    rng = np.random.default_rng(7)
    source = (rng.random((H, W, 3), dtype=np.float32) * 3 - 1).astype(np.float32)  # out of gamut too
    nudged = rng.random((H, W, 3)) < 0.5
    image = (source + nudged * rng.random((H, W, 3), dtype=np.float32) * 1e-3).astype(np.float32)
    a_source = rng.random((H, W), dtype=np.float32) if with_alpha else None
    a_image = (a_source + (rng.random((H, W)) < 0.3) * 1e-3).astype(np.float32) if with_alpha else None
    coc_zero = rng.random((H, W)) < coc_fraction
    expected = whole_frame_keep(source, image, a_source, a_image, coc_zero)
    frame = Frame(0, 0, None, Fraction(1, 24), source, a_source)
    where = None if coc_fraction == 1.0 else np.nonzero(coc_zero)
    out, alpha, keep = _keep_unchanged(frame, image.copy(), None if a_image is None else a_image.copy(), where)
    np.testing.assert_array_equal(keep, expected)
    np.testing.assert_array_equal(out, np.where(expected[..., None], source, image))
    if with_alpha:
        np.testing.assert_array_equal(alpha, np.where(expected, a_source, a_image))


def test_one_frame_goes_to_the_engine_as_a_view_and_a_read_only_one_as_a_copy() -> None:
    image = np.ones((H, W, 3), np.float32)
    assert np.shares_memory(_batch([image]), image)
    image.setflags(write=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # torch warns about read-only arrays
        tensor = torch.from_numpy(_batch([image]))
    assert tensor.shape == (1, H, W, 3) and not np.shares_memory(tensor.numpy(), image)


# -- depth -------------------------------------------------------------------------------------
def test_a_still_depth_is_decoded_once_for_the_whole_clip(tmp_path: Path, monkeypatch) -> None:
    ramp = np.tile(np.linspace(1000, 60000, W, dtype=np.uint16)[None, :, None], (H, 1, 3))
    write_sequence(tmp_path / "d.%d.png", [ramp], codec="png", pix_fmt="rgb48be", in_fmt="rgb48le", start_number=0)
    decodes: list[Path] = []
    read = depthmaps.read_still_values

    def counted(path):
        decodes.append(Path(path))
        return read(path)

    monkeypatch.setattr(depthmaps, "read_still_values", counted)
    sidecar = SidecarDepth(tmp_path / "d.0.png")
    maps = sidecar.frames()
    first = [next(maps) for _ in range(N)]
    assert len(decodes) == 1  # range pass and values from one decode
    assert all(m is first[0] for m in first)  # the same normalized map every frame, not recomputed
    assert float(first[0][0, 0]) == 1.0 and float(first[0][0, -1]) == 0.0  # stored as depth: small is near
    assert len(list(sidecar.read(N))) == N and len(decodes) == 2  # a new read decodes once more
