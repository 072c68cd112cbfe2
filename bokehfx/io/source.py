"""Streaming decode: a clip in, linear-light float frames with exact timestamps out.

Only one decoded frame is alive at a time here; callers decide how many to keep (a window).
"""

from __future__ import annotations

import queue
import threading
import weakref
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Callable, Iterator

import av
import numpy as np
from av.video.reformatter import Interpolation

from bokehfx.errors import CorruptMediaError, UsageError
from bokehfx.io.avlock import FFMPEG_LOGGING
from bokehfx.io.colour import RANGE_FULL, effective_transfer, linearize_float, linearize_u16, sws_matrix
from bokehfx.io.probe import MediaInfo, open_input, pix_fmt_traits, primary_video_stream, probe
from bokehfx.io.ycbcr import decode_rgb, planar_name

#: swscale filter for the RGB sources it converts (Y'CbCr sources go through :mod:`bokehfx.io.ycbcr`,
#: which keeps out-of-gamut values that swscale would clip).
DECODE_INTERPOLATION = Interpolation.BICUBIC


#: Frames decoded ahead by :class:`VideoSource` on its worker thread.
DEFAULT_PREFETCH = 2
_END = object()


def _prefetch_put(items: queue.Queue, stop: threading.Event, item: object) -> bool:
    while not stop.is_set():
        try:
            items.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False


def _prefetch_work(produce: Callable[[], Iterator[Frame]], items: queue.Queue, stop: threading.Event) -> None:
    frames = produce()
    try:
        for item in frames:
            if not _prefetch_put(items, stop, item):
                return
        _prefetch_put(items, stop, _END)
    except BaseException as err:  # handed to the consumer, raised there
        _prefetch_put(items, stop, err)
    finally:
        frames.close()  # the decoder's clean-up, on the thread that decoded


class _Prefetch:
    """Runs ``produce`` on a worker thread, ``size`` items ahead; errors surface on the caller's side.

    The decoder lives and dies on the worker thread (its clean-up runs there), so a container is
    never closed by one thread while another decodes from it. :meth:`close` stops the worker and
    waits for it; a forgotten iterator only signals its worker to stop (a finalizer may run on any
    thread, so it never waits).
    """

    def __init__(self, produce: Callable[[], Iterator[Frame]], size: int) -> None:
        self._items: queue.Queue = queue.Queue(maxsize=size)
        self._stop = threading.Event()
        self._done = False
        # The worker holds the queue and the event, never this object, so a forgotten iterator is
        # collected and its finalizer can stop the worker.
        self._worker = threading.Thread(target=_prefetch_work, args=(produce, self._items, self._stop),
                                        name="bokehfx-decode", daemon=True)
        self._worker.start()

    def __iter__(self) -> "_Prefetch":
        return self

    def __next__(self) -> Frame:
        if self._done:
            raise StopIteration
        item = self._items.get()
        if item is _END:
            self.close()
            raise StopIteration
        if isinstance(item, BaseException):
            self.close()
            raise item
        return item

    def close(self) -> None:
        """Stop the worker and wait until it has cleaned up."""
        self._done = True
        self._stop.set()
        if self._worker is not threading.current_thread():
            self._worker.join()

    def __del__(self) -> None:
        self._stop.set()


@dataclass
class Frame:
    """One decoded picture.

    Attributes:
        index: position in the clip (0-based, decode order of presentation).
        pts: presentation timestamp in ``time_base`` units (``None`` when the source has none).
        duration: frame duration in ``time_base`` units (``None`` when unknown).
        time_base: the source stream's time base.
        image: ``float32`` array ``(H, W, 3)``, linear light, source primaries; values above 1.0 kept.
            ``None`` when the source was asked for decoded pictures only (``linear=False``).
        alpha: ``float32`` array ``(H, W)`` in 0..1 when the source has alpha, else ``None``.
        picture: the decoded picture as the codec gave it, when the source was asked to keep it
            (the sink writes unchanged pixels from its code values).
    """

    index: int
    pts: int | None
    duration: int | None
    time_base: Fraction
    image: np.ndarray | None
    alpha: np.ndarray | None = None
    picture: av.VideoFrame | None = None

    @property
    def time(self) -> Fraction | None:
        """Presentation time in seconds, exact."""
        return None if self.pts is None else self.pts * self.time_base


def _float_planes(frame: av.VideoFrame) -> np.ndarray:
    """(H, W, C) float32 RGB(A) from a planar half-float GBR(A) frame, read without swscale (which clips)."""
    planes = []
    for plane in frame.planes:
        row = plane.line_size // 2
        data = np.frombuffer(plane, dtype="<f2").reshape(-1, row)[: frame.height, : frame.width]
        planes.append(data.astype(np.float32))
    g, b, r = planes[:3]
    return np.stack([r, g, b] + planes[3:4], axis=2)


def parse_frame_range(text: str | None) -> tuple[int, int | None] | None:
    """Parse ``--frames``: ``A-B`` (inclusive, 0-based), ``A-`` (to the end) or ``N`` (one frame)."""
    if text is None or text == "":
        return None
    raw = text.strip()
    try:
        if "-" in raw:
            a, b = raw.split("-", 1)
            start = int(a) if a.strip() else 0
            stop = int(b) + 1 if b.strip() else None
        else:
            start = int(raw)
            stop = start + 1
    except ValueError:
        raise UsageError(f"--frames {text!r} is not a frame range; use A-B (inclusive, 0-based), A- or N") from None
    if start < 0 or (stop is not None and stop <= start):
        raise UsageError(f"--frames {text!r} is empty or negative; use A-B with 0 <= A <= B")
    return start, stop


class VideoSource:
    """Iterate a clip's frames as linear float RGB. Use as a context manager.

    Args:
        path: video file, still image, or ``%0Nd`` image-sequence pattern.
        fps: frame rate for image sequences and stills.
        frame_range: ``(start, stop)`` frame indices, stop exclusive or ``None`` for the end.
        info: a :class:`MediaInfo` from :func:`probe` (probed here when omitted).
        prefetch: frames decoded and converted ahead on a worker thread (0: decode on the caller's
            thread). Decoding and colour conversion then overlap with rendering and encoding;
            memory grows by at most this many frames.
        linear: convert each picture to linear float RGB (``Frame.image``); without it frames carry
            only their decoded ``picture`` (for a sink that writes unchanged pictures from it).
        keep_picture: also keep each decoded picture beside its linear image.
    """

    def __init__(self, path: str | Path, *, fps: Fraction | None = None,
                 frame_range: tuple[int, int | None] | None = None, info: MediaInfo | None = None,
                 prefetch: int = DEFAULT_PREFETCH, linear: bool = True, keep_picture: bool = False) -> None:
        self.info = info or probe(path, fps=fps)
        self.linear = linear
        self.keep_picture = keep_picture or not linear
        self.prefetch = prefetch
        self.path = Path(path)
        self.frame_range = frame_range
        self._fps = fps
        self._running: weakref.WeakSet[_Prefetch] = weakref.WeakSet()
        v = self.info.video
        self.transfer = effective_transfer(v.colour, is_image=v.is_image)
        depth, self.has_alpha, self._is_rgb, self._is_float = pix_fmt_traits(v.pix_fmt)
        self._matrix = sws_matrix(v.colour.matrix, v.height)
        self._range = "JPEG" if v.colour.range == RANGE_FULL else "MPEG"
        self._full_range = v.colour.range == RANGE_FULL
        self._matrix_code = v.colour.matrix

    def __enter__(self) -> "VideoSource":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop every iteration still running (their decoders close on their own threads)."""
        for prefetch in list(self._running):
            prefetch.close()
        self._running.clear()

    @property
    def expected_frames(self) -> int | None:
        """Frames this source will yield, when known (for progress and planning)."""
        n = self.info.video.frame_count
        if self.frame_range is None:
            return n
        start, stop = self.frame_range
        if stop is None:
            return None if n is None else max(0, n - start)
        return stop - start if n is None else max(0, min(stop, n) - start)

    def convert(self, frame: av.VideoFrame) -> tuple[np.ndarray, np.ndarray | None]:
        """Decoded picture -> (linear float RGB, alpha or None)."""
        name = frame.format.name
        _, has_alpha, is_rgb, is_float = pix_fmt_traits(name)
        if is_float:
            arr = _float_planes(frame) if "f16" in name else frame.to_ndarray(
                format="gbrapf32le" if has_alpha else "gbrpf32le")
            image = np.ascontiguousarray(arr[..., :3], dtype=np.float32)
            if self.transfer != 8:  # float data tagged with a curve: decode it
                from bokehfx.io.colour import to_linear

                image = to_linear(image, self.transfer)
            return image, (np.ascontiguousarray(arr[..., 3]) if has_alpha else None)
        if not is_rgb and planar_name(frame.format, frame.width, frame.height) is not None:
            return decode_rgb(frame, full_range=self._full_range, matrix=self._matrix_code,
                              finish=lambda code: linearize_float(code, self.transfer))
        target = "rgba64le" if has_alpha else "rgb48le"
        kwargs: dict[str, object] = {"interpolation": DECODE_INTERPOLATION}
        if not is_rgb:
            kwargs.update(src_colorspace=self._matrix, src_color_range=self._range, dst_color_range="JPEG")
        rgb = frame.reformat(format=target, **kwargs).to_ndarray()
        image = linearize_u16(rgb[..., :3], self.transfer)
        alpha = rgb[..., 3].astype(np.float32) / 65535.0 if has_alpha else None
        return image, alpha

    def __iter__(self) -> Iterator[Frame]:
        if self.prefetch <= 0:
            return self._decode()
        prefetch = _Prefetch(self._decode, self.prefetch)
        self._running.add(prefetch)
        return prefetch

    def _decode(self) -> Iterator[Frame]:
        container, p, _ = open_input(self.path, fps=self._fps)
        stream = primary_video_stream(container)
        stream.thread_type = "AUTO"
        start, stop = self.frame_range if self.frame_range else (0, None)
        time_base = Fraction(stream.time_base) if stream.time_base else 1 / self.info.video.frame_rate
        index = 0
        try:
            for av_frame in container.decode(stream):
                if stop is not None and index >= stop:
                    break
                if index >= start:
                    image, alpha = self.convert(av_frame) if self.linear else (None, None)
                    duration = av_frame.duration if av_frame.duration else None
                    yield Frame(index, av_frame.pts, duration, time_base, image, alpha,
                                av_frame if self.keep_picture else None)
                index += 1
        except av.error.FFmpegError as err:
            raise CorruptMediaError(
                f"decoding {str(p)!r} failed after frame {index}: {getattr(err, 'strerror', None) or err}"
            ) from err
        finally:
            with FFMPEG_LOGGING:  # see bokehfx.io.avlock: never while FFmpeg logs into Python
                container.close()
                container = stream = None  # the codec context is freed here, inside the lock
        if index == 0:
            raise CorruptMediaError(f"{str(p)!r}: no frame could be decoded")
        if index <= start:
            raise UsageError(f"--frames starts at {start} but {str(p)!r} has only {index} frames")


def read_frames(path: str | Path, **kwargs: object) -> Iterator[Frame]:
    """Convenience generator over :class:`VideoSource`."""
    with VideoSource(path, **kwargs) as src:  # type: ignore[arg-type]
        yield from src




def read_still(path: str | Path) -> np.ndarray:
    """The first picture of a file (an image, or a movie's first frame) as linear float RGB ``(H, W, 3)``."""
    with VideoSource(path, frame_range=(0, 1)) as src:
        for frame in src:
            return frame.image
    raise CorruptMediaError(f"{str(path)!r}: no picture could be decoded")


__all__ = ["DECODE_INTERPOLATION", "Frame", "VideoSource", "parse_frame_range", "read_frames", "read_still"]
