"""A render job: source -> (window of frames) -> renderer -> sink, streaming, one clip.

The job owns no pixels for longer than one window. The renderer is any callable that maps a
list of :class:`~bokehfx.io.source.Frame` to a list of (image, alpha) pairs of the same length;
``None`` is the identity (``--blur 0``): a faithful copy. Movie outputs of video sources then encode
each decoded picture from its own code values (one format change, as a plain transcode would);
other outputs take it through linear light.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Callable, Protocol, Sequence, runtime_checkable

from bokehfx.errors import UsageError
from bokehfx.io.background import BackgroundWriter
from bokehfx.io.paths import Codec, check_input, output_target
from bokehfx.io.probe import MediaInfo, probe
from bokehfx.io.sink import COPY_LOOKAHEAD_S, EncodeSettings, check_output, open_sink, passes_through
from bokehfx.io.source import Frame, VideoSource

#: Frames handed to the renderer at once when it does not ask for another size (``batch_frames``).
DEFAULT_BATCH = 8

#: frames -> per frame (image, alpha) or (image, alpha, keep): ``keep`` marks the pixels left as they
#: were, which the sink writes exactly as the identity path does.
FrameRenderer = Callable[[Sequence[Frame]], Sequence[tuple]]


@runtime_checkable
class WindowedRenderer(Protocol):
    """A renderer that needs frames ahead: it returns frames when they are finished, not when given."""

    def push(self, frames: Sequence[Frame]) -> list[tuple]:
        """Take decoded frames; return the (frame, picture, alpha) of those finished now, in order."""
        ...

    def finish(self) -> list[tuple]:
        """End of the clip: return every frame still held."""
        ...


#: progress(frames_done, frames_expected_or_None)
ProgressCallback = Callable[[int, "int | None"], None]


@dataclass
class RenderRequest:
    """What to render and where. Paths are validated by :func:`run_render`."""

    input: Path
    output: Path
    codec: Codec | None = None
    frames: tuple[int, int | None] | None = None
    force: bool = False
    fps: Fraction | None = None
    encode: EncodeSettings = field(default_factory=EncodeSettings)
    batch: int = DEFAULT_BATCH


@dataclass
class RenderResult:
    """What a render did."""

    output: Path
    frames: int
    seconds: float
    notes: list[str]
    info: MediaInfo

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else float("inf")


def _start_time(src: VideoSource, first: Frame) -> Fraction | None:
    if src.frame_range is None or src.frame_range[0] == 0:
        return None
    return first.time if first.time is not None else Fraction(first.index) / src.info.video.frame_rate


def run_render(request: RenderRequest, renderer: FrameRenderer | WindowedRenderer | None = None,
               progress: ProgressCallback | None = None, info: MediaInfo | None = None) -> RenderResult:
    """Render one clip to ``request.output``; nothing is left there if anything fails.

    Steps: 1. validate paths (input exists and is media; output differs from input, is free or
    ``force``); 2. probe; 3. stream frames in batches through ``renderer``; 4. encode and copy the
    other streams; 5. move the finished output into place.
    """
    if request.batch < 1:
        raise UsageError(f"batch size must be at least 1, got {request.batch}")
    # 1. paths
    check_input(request.input)
    target = output_target(request.output, request.codec)
    check_output(target, request.input, force=request.force)
    # 2. probe (unless the caller already did)
    info = info or probe(request.input, fps=request.fps)
    started = time.perf_counter()
    done = 0
    # Unchanged pixels are written from the decoded code values where the output allows it: the
    # identity path then never leaves them, and a renderer's untouched pixels are put back from them.
    direct = passes_through(info, target)
    with VideoSource(request.input, fps=request.fps, frame_range=request.frames, info=info,
                     linear=renderer is not None or not direct, keep_picture=direct) as src:
        expected = src.expected_frames
        frames_iter = iter(src)
        first = next(frames_iter, None)
        if first is None:
            raise UsageError(f"no frames to render in {str(request.input)!r} for --frames {request.frames}")
        start_index = first.index
        if target.is_sequence:
            sink = open_sink(target, info, start_index=start_index)
        else:
            ends_early = request.frames is not None and request.frames[1] is not None
            sink = open_sink(target, info, settings=request.encode, start_index=start_index,
                             start_time=_start_time(src, first), copy_lookahead=0 if ends_early else COPY_LOOKAHEAD_S)
        with sink:
            batch: list[Frame] = [first]
            last: Frame = first

            windowed = isinstance(renderer, WindowedRenderer)
            # A renderer may ask for its own batch size (``batch_frames``), e.g. one frame at a time on the CPU.
            size = getattr(renderer, "batch_frames", None) or request.batch
            with contextlib.ExitStack() as writing:
                write = sink.write
                if renderer is not None:  # rendered frames are encoded on a worker while the next ones render
                    write = writing.enter_context(BackgroundWriter(sink.write)).put

                def emit(ready: Sequence[tuple]) -> None:
                    """Write ``(frame, picture, alpha[, keep])`` tuples (None: the frame's own)."""
                    nonlocal done
                    for frame, *out in ready:
                        write(frame, *out)
                    done += len(ready)
                    if progress is not None and ready:
                        progress(done, expected)

                for frame in frames_iter:
                    if len(batch) >= size:
                        emit(render_batch(renderer, batch))
                        batch = []
                    batch.append(frame)
                    last = frame
                emit(render_batch(renderer, batch))
                if windowed:
                    emit(renderer.finish())
            if request.frames is not None and request.frames[1] is not None and hasattr(sink, "end_streams_at"):
                sink.end_streams_at(_frame_end(last, info))
    return RenderResult(target.path, done, time.perf_counter() - started, list(sink.notes.items), info)



def render_batch(renderer: FrameRenderer | WindowedRenderer | None, frames: list[Frame]) -> list[tuple]:
    """Hand ``frames`` to ``renderer``: the ``(frame, picture, alpha[, keep])`` of those it has finished, in order.

    ``None`` renders nothing (each frame keeps its own picture: ``None``); a windowed renderer may
    hold frames back until :meth:`WindowedRenderer.finish`.
    """
    if renderer is None:
        return [(frame, None, None) for frame in frames]
    if isinstance(renderer, WindowedRenderer):
        return renderer.push(frames)
    outs = renderer(frames)
    if len(outs) != len(frames):
        raise RuntimeError(f"renderer returned {len(outs)} frames for {len(frames)}")
    return [(frame, *out) for frame, out in zip(frames, outs)]


def _frame_end(frame: Frame, info: MediaInfo) -> Fraction | None:
    if frame.time is None:
        return None
    if frame.duration:
        return frame.time + frame.duration * frame.time_base
    return frame.time + 1 / info.video.frame_rate
