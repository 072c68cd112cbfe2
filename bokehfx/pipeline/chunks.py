"""Resumable renders: a pre-pass, chunks rendered one by one (or on a farm), a join by remuxing.

A :class:`ResumableRender` keeps its work in the hidden folder beside the output
(:mod:`bokehfx.io.workdir`):

1. **Pre-pass** (:meth:`ResumableRender.prepare`): everything that must be the same for the whole
   clip is computed once and stored: the exact frame range, whether the render is a faithful copy,
   and the focus plan evaluated to per-frame ``(F, K)`` over the clip's own (normalized once per
   clip) depth, including tracked points and their smoothing, which depend on every earlier frame.
   A fingerprint of the input and of every setting is stored with it; a restart with other settings
   or a changed input starts over instead of mixing renders.
2. **Chunks** (:meth:`ResumableRender.render_chunk`): a fixed number of frames each, rendered with
   the stored ``(F, K)`` into a video-only movie stamped with the source's timestamps, written
   atomically. Chunks are independent: a killed render loses only the chunk it was writing, and
   farm tasks render different chunks side by side.
3. **Join** (:meth:`ResumableRender.join`): the chunks are remuxed into the output with audio,
   timecode and metadata exactly as a one-shot render writes them
   (:func:`bokehfx.io.remux.join_chunks`); then the work folder is removed.

ProRes chunks joined this way hold the same pictures, byte for byte, as a one-shot render.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from dataclasses import dataclass, fields, is_dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from bokehfx.errors import OutputError, UsageError
from bokehfx.focus.plan import FrameFocus
from bokehfx.io.paths import OutputTarget, output_target
from bokehfx.io.workdir import WorkFolder, fsync_file
from bokehfx.pipeline.job import ProgressCallback, RenderRequest, RenderResult

#: Frames per chunk when none is asked for (2 s at 24 fps: little is lost to a kill, few files).
DEFAULT_CHUNK_FRAMES = 48
#: Version of the work-folder layout; a folder of another version is started over.
WORK_LAYOUT = 2
#: Container of every chunk, whatever the output's.
CHUNK_EXTENSION = ".mov"
_PREPASS = "prepass.json"
_FOCUS = "focus.npy"
#: Called by :meth:`ResumableRender.run` to render the pending chunks elsewhere (e.g. on Ray).
ChunkMapper = Callable[["ResumableRender", Sequence[int]], None]


def _stable(value: Any) -> Any:
    """A JSON-able, deterministic image of settings (arrays by their hash) for fingerprints."""
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: _stable(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, np.ndarray):
        digest = hashlib.sha256(np.ascontiguousarray(value).tobytes()).hexdigest()
        return {"array": digest, "shape": list(value.shape), "dtype": str(value.dtype)}
    if isinstance(value, dict):
        return {str(k): _stable(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, (list, tuple)):
        return [_stable(v) for v in value]
    if hasattr(value, "value") and type(value).__module__ != "builtins":  # enums
        return _stable(value.value)
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)  # Path, Fraction


class StoredFocus:
    """Per-frame ``(F, K)`` from a pre-pass, in the shape of a plan evaluator (see ``DepthOfFieldStage``)."""

    def __init__(self, values: np.ndarray) -> None:
        self.values = values
        self.next_frame = 0

    def push(self, disparity: Any, image: Any = None) -> FrameFocus:
        """The stored values of the next frame (``disparity`` and ``image`` are not needed)."""
        index = self.next_frame
        if index >= len(self.values):
            raise UsageError(f"frame {index} lies past the {len(self.values)} frames of the pre-pass")
        self.next_frame += 1
        return FrameFocus(index, float(self.values[index, 0]), float(self.values[index, 1]))


@dataclass(frozen=True)
class Prepass:
    """What the pre-pass decided: the frame range ``[first, stop)``, the chunk size, a copy or not."""

    first: int
    stop: int
    chunk_frames: int
    identity: bool
    fingerprint: str

    @property
    def chunks(self) -> list[tuple[int, int]]:
        """``(start, stop)`` frame indices of every chunk."""
        starts = range(self.first, self.stop, self.chunk_frames)
        return [(a, min(a + self.chunk_frames, self.stop)) for a in starts]


class ResumableRender:
    """One clip rendered in resumable chunks (see the module docstring).

    Args:
        request: input, output, range and encoding, as for a one-shot render.
        settings: a :class:`bokehfx.pipeline.render.DofSettings`.
        chunk_frames: frames per chunk.
        plan: a focus plan to use instead of the prompt's (a job file's keyframes); flags still win.
    """

    def __init__(self, request: RenderRequest, settings: Any, chunk_frames: int = DEFAULT_CHUNK_FRAMES,
                 plan: Any = None) -> None:
        if chunk_frames < 1:
            raise UsageError(f"--chunk-frames {chunk_frames} must be at least 1")
        if getattr(settings, "diffusion", None) is not None:
            raise UsageError("--resume, --step and --backend render the physical engine in chunks; the diffusion "
                             "renderer renders a clip in one pass (its windows are not resumable chunks yet)")
        self.request = request
        self.settings = settings
        self.chunk_frames = chunk_frames
        self.plan = plan
        self.target: OutputTarget = output_target(request.output, request.codec)
        if self.target.is_sequence:
            raise UsageError("resumable renders write movie files (.mov, .mp4, .mkv); render an image "
                             "sequence without --resume")
        self.work = WorkFolder(self.target.path)
        self._lock = None
        self._info = None

    # -- helpers ----------------------------------------------------------------------------------
    @property
    def info(self) -> Any:
        """The probed source (probed once per process)."""
        if self._info is None:
            from bokehfx.io.probe import probe

            self._info = probe(self.request.input, fps=self.request.fps)
        return self._info

    def fingerprint(self) -> str:
        """Hash of the input's identity and of every setting that changes a picture or the file."""
        from bokehfx import __version__

        stat = os.stat(self.request.input) if self.request.input.exists() else None
        identity = {
            "layout": WORK_LAYOUT, "version": __version__, "input": str(self.request.input.resolve()),
            "size": stat.st_size if stat else None, "mtime_ns": stat.st_mtime_ns if stat else None,
            "codec": self.target.codec.value, "frames": self.request.frames, "fps": self.request.fps,
            "encode": self.request.encode, "settings": self.settings, "chunk_frames": self.chunk_frames,
            "plan": self.plan,
        }
        return hashlib.sha256(json.dumps(_stable(identity), sort_keys=True).encode()).hexdigest()

    def _folder_lock(self):
        if self._lock is None:
            self._lock = self.work.locked()
        return self._lock

    def _chunk_file(self, index: int) -> Path:
        # QuickTime holds every codec of a movie output with exact timestamps (the movie timescale
        # is the source's time base) and keeps decode timestamps, which Matroska drops.
        return self.work.file(f"chunk_{index:05d}{CHUNK_EXTENSION}")

    def _chunk_record(self, index: int) -> str:
        return f"chunk_{index:05d}.json"

    def chunk_done(self, index: int) -> bool:
        """True when chunk ``index`` is finished (its movie and its record are both in place)."""
        return self._chunk_file(index).exists() and self.work.read_json(self._chunk_record(index)) is not None

    def stored(self) -> Prepass | None:
        """The stored pre-pass, when it was made with this input and these settings."""
        record = self.work.read_json(_PREPASS) if self.work.path.exists() else None
        if not record or record.get("fingerprint") != self.fingerprint():
            return None
        return Prepass(record["first"], record["stop"], record["chunk_frames"], record["identity"],
                       record["fingerprint"])

    def pending(self, prep: Prepass) -> list[int]:
        """Indices of the chunks still to render."""
        return [i for i in range(len(prep.chunks)) if not self.chunk_done(i)]

    # -- 1. pre-pass ----------------------------------------------------------------------------
    def prepare(self, fresh: bool | None = None) -> Prepass | None:
        """Check the output, then load the stored pre-pass or run it. ``None``: already finished.

        A finished render whose clean-up was cut short (output in place, every chunk there) is
        tidied and reported as finished instead of refused as an existing output.
        """
        from bokehfx.io.sink import check_data_target, check_output

        fresh = not self.work.path.exists() if fresh is None else fresh
        try:
            with self._folder_lock():
                prep = self.stored()
                if self.target.path.exists() and not self.request.force:
                    if prep is not None and not self.pending(prep):
                        self.work.remove()
                        return None
                check_output(self.target, self.request.input, force=self.request.force)
                if self.settings.save_depth is not None:
                    check_data_target(self.settings.save_depth, self.request.input, force=self.request.force)
                if prep is not None:
                    return prep
                self.work.clear()
                prep = self._prepass()
                self.work.write_json(_PREPASS, {"first": prep.first, "stop": prep.stop,
                                                "chunk_frames": prep.chunk_frames, "identity": prep.identity,
                                                "fingerprint": prep.fingerprint})
                return prep
        except BaseException:
            if fresh:  # refused or stopped before anything worth keeping: leave no trace
                self.work.remove()
            raise

    def _prepass(self) -> Prepass:
        from bokehfx.pipeline.render import is_identity

        info = self.info
        plan = self.settings.focus.plan(info.video.frame_rate, self.plan)
        first, stop, count = frame_span(self.request, info)
        identity = is_identity(plan, self.settings.view)
        if not identity:
            self.work.write_array(_FOCUS, self._evaluate_plan(plan, first, stop, count))
        return Prepass(first, stop, self.chunk_frames, identity, self.fingerprint())

    def _evaluate_plan(self, plan: Any, first: int, stop: int, count: int) -> np.ndarray:
        """``(stop, 2)`` float64: the plan's F and K on every frame up to ``stop``, from frame 0."""
        from bokehfx.focus.plan import PlanEvaluator
        from bokehfx.io.source import VideoSource
        from bokehfx.depth.source import open_depth
        from bokehfx.pipeline.render import _frames_factory

        if first > 0 and plan.needs_images:
            raise UsageError("a tracked focus point or named subject is followed from the first frame; "
                             "render from frame 0 (drop --frames) or use a fixed --focus")
        info = self.info
        subjects = None
        if plan.subjects:
            from bokehfx.pipeline.subjects import open_subject_locator

            subjects = open_subject_locator(plan, self.settings.subject_model, self.settings.device,
                                            self.request.input, self.request.output,
                                            self.settings.depth.cache_dir)
        depth = open_depth(self.settings.depth, self.request.input, info, self.request.output,
                           frames_factory=_frames_factory(self.request))
        evaluator = PlanEvaluator(plan, info.video.frame_rate, count, on_lost=self.settings.on_lost,
                                  subjects=subjects)
        values = np.full((stop, 2), np.nan, dtype=np.float64)
        with VideoSource(self.request.input, fps=self.request.fps, frame_range=(0, stop), info=info) as src:
            for frame in src:
                result = evaluator.push(next(depth), frame.image)
                values[frame.index] = (result.focus, result.k)
        missing = np.flatnonzero(np.isnan(values[:, 1]))
        if missing.size:
            raise OutputError(f"the pre-pass of {str(self.target.path)!r} got no frame {int(missing[0])} "
                              f"of {str(self.request.input)!r}; the clip has fewer frames than its header says")
        return values

    # -- 2. chunks ------------------------------------------------------------------------------
    def render_chunk(self, prep: Prepass, index: int) -> int:
        """Render chunk ``index`` (unless it is done); returns its frame count."""
        from bokehfx.io.background import BackgroundWriter
        from bokehfx.io.sink import MovieSink, passes_through
        from bokehfx.io.source import VideoSource
        from bokehfx.pipeline.concurrent import frame_renderer
        from bokehfx.pipeline.job import WindowedRenderer, _frame_end, render_batch

        start, stop = prep.chunks[index]
        with self.work.chunk_locked(index):
            if self.chunk_done(index):
                return stop - start
            info = self.info
            stage = None if prep.identity else self._stage(start)
            target = OutputTarget(self._chunk_file(index), False, CHUNK_EXTENSION, self.target.codec)
            sink = MovieSink(target, info, settings=self.request.encode, copy_streams=False)
            first_time = end_time = None
            written = 0
            direct = passes_through(info, target)  # as a one-shot render: unchanged pixels from their code values
            with VideoSource(self.request.input, fps=self.request.fps, frame_range=(start, stop), info=info,
                             linear=stage is not None or not direct, keep_picture=direct) as src, \
                    contextlib.ExitStack() as rendering:
                # As a one-shot render: frames side by side on small CPUs, encoded on a worker.
                renderer = None if stage is None else rendering.enter_context(frame_renderer(stage, self.settings.device))
                size = getattr(renderer, "batch_frames", None) or self.request.batch
                with sink, contextlib.ExitStack() as writing:
                    write = sink.write if stage is None else writing.enter_context(BackgroundWriter(sink.write)).put
                    batch: list[Any] = []
                    for frame in src:
                        if first_time is None:
                            first_time = frame.time if frame.time is not None else Fraction(frame.index) / info.video.frame_rate
                        batch.append(frame)
                        if len(batch) >= size:
                            written += self._emit(render_batch(renderer, batch), write)
                            batch = []
                        end_time = _frame_end(frame, info)
                    if batch:
                        written += self._emit(render_batch(renderer, batch), write)
                    if isinstance(renderer, WindowedRenderer):
                        written += self._emit(renderer.finish(), write)
            if written != stop - start:
                raise OutputError(f"chunk {index} of {str(self.target.path)!r} got {written} frames, "
                                  f"expected {stop - start}")
            fsync_file(target.path)
            self.work.write_json(self._chunk_record(index), {
                "frames": written, "first_time": _fraction_text(first_time), "end_time": _fraction_text(end_time),
                "notes": list(sink.notes.items)})
            return written

    def _stage(self, start: int) -> Any:
        from bokehfx.depth.source import open_depth
        from bokehfx.pipeline.dof import DepthOfFieldStage
        from bokehfx.pipeline.render import _engine, _frames_factory

        values = self.work.read_array(_FOCUS)
        if values is None:
            raise OutputError(f"the pre-pass of {str(self.target.path)!r} lost its focus values; rerun the render")
        info, s = self.info, self.settings
        depth = open_depth(s.depth, self.request.input, info, self.request.output,
                           frames_factory=_frames_factory(self.request))
        plan = s.focus.plan(info.video.frame_rate, self.plan)
        return DepthOfFieldStage(depth, plan, info, _engine(s), s.look, view=s.view, first_index=start,
                                 device=s.device, frame_count=len(values), on_lost=s.on_lost,
                                 evaluator=StoredFocus(values))

    @staticmethod
    def _emit(ready: Sequence[tuple], write: Callable[..., None]) -> int:
        """Write ``(frame, picture, alpha[, keep])`` tuples; returns how many."""
        for frame, *out in ready:
            write(frame, *out)
        return len(ready)

    # -- 3. join --------------------------------------------------------------------------------
    def join(self, prep: Prepass, started: float | None = None) -> RenderResult:
        """Remux the finished chunks into the output and remove the work folder."""
        from bokehfx.io.remux import join_chunks
        from bokehfx.pipeline.render import save_depth

        started = time.perf_counter() if started is None else started
        with self._folder_lock():
            missing = self.pending(prep)
            if missing:
                raise OutputError(f"{len(missing)} chunk(s) of {str(self.target.path)!r} are not rendered yet "
                                  f"(first: chunk {missing[0]})")
            records = [self.work.read_json(self._chunk_record(i)) for i in range(len(prep.chunks))]
            info = self.info
            start_time = None if prep.first == 0 else Fraction(records[0]["first_time"])
            ends_early = self.request.frames is not None and self.request.frames[1] is not None
            end_time = Fraction(records[-1]["end_time"]) if ends_early and records[-1]["end_time"] else None
            files = [self._chunk_file(i) for i in range(len(prep.chunks))]
            written, notes = join_chunks(self.target, info, files, settings=self.request.encode,
                                         start_index=prep.first, start_time=start_time, end_time=end_time)
            for record in records:
                notes.extend(n for n in record.get("notes", []) if n not in notes)
            if self.settings.save_depth is not None:
                save_depth(self.settings, self.request, info)
            self.work.remove()
        if info.video.interlaced:
            notes.append("the source is interlaced: depth of field was rendered on whole frames, which "
                         "mixes their two fields in motion; deinterlace first for clean moving edges")
        return RenderResult(self.target.path, written, time.perf_counter() - started, notes, info)

    # -- all three ------------------------------------------------------------------------------
    def run(self, progress: ProgressCallback | None = None, map_chunks: ChunkMapper | None = None) -> RenderResult | None:
        """Pre-pass, every pending chunk (here, or through ``map_chunks``), join. ``None``: it was done."""
        started = time.perf_counter()
        fresh = not self.work.path.exists()
        with self._folder_lock():
            prep = self.prepare(fresh)
            if prep is None:
                return None
            pending = self.pending(prep)
            total = prep.stop - prep.first
            done = total - sum(prep.chunks[i][1] - prep.chunks[i][0] for i in pending)
            if progress is not None:
                progress(done, total)
            if map_chunks is not None:
                map_chunks(self, pending)
            else:
                for index in pending:
                    done += self.render_chunk(prep, index)
                    if progress is not None:
                        progress(done, total)
            return self.join(prep, started)

    def __getstate__(self) -> dict[str, Any]:  # shipped to farm workers: no lock, no probe
        state = dict(self.__dict__)
        state["_lock"] = None
        state["_info"] = None
        return state


def frame_span(request: RenderRequest, info: Any) -> tuple[int, int, int]:
    """``(first, stop, clip_frames)``: the frames ``[first, stop)`` a render of ``request`` covers."""
    from bokehfx.io.probe import count_frames

    v = info.video
    count = v.frame_count if v.frame_count_exact else count_frames(request.input, fps=request.fps)
    first = request.frames[0] if request.frames else 0
    stop = count
    if request.frames and request.frames[1] is not None:
        stop = min(request.frames[1], count)
    if first >= stop:
        raise UsageError(f"no frames to render in {str(request.input)!r} for --frames {request.frames}")
    return first, stop, count


def chunks_starting_in(prep: Prepass, first: int, last: int) -> list[int]:
    """Indices of the chunks whose first frame lies in ``[first, last]`` (a farm task's frame range)."""
    return [i for i, (start, _) in enumerate(prep.chunks) if first <= start <= last]


def _fraction_text(value: Fraction | None) -> str | None:
    return None if value is None else f"{value.numerator}/{value.denominator}"


__all__ = ["DEFAULT_CHUNK_FRAMES", "ChunkMapper", "Prepass", "ResumableRender", "StoredFocus", "chunks_starting_in",
           "frame_span"]
