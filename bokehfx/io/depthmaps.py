"""Reading sidecar depth files: a video, an image sequence (``%0Nd`` pattern) or one still.

Values are returned *as stored*: 16-bit PNG/TIFF/PGM as ``uint16``, EXR and float TIFF as
``float32``, 8-bit as ``uint8``. Nothing is transfer-function decoded or rescaled; what the values
mean (depth or disparity, millimetres, which are unknown) is decided by :mod:`bokehfx.depth`
(:mod:`bokehfx.depth.sidecar`, driven by :mod:`bokehfx.depth.source`). The depth cache's files are
:mod:`bokehfx.io.depthcache`.

Multi-channel files (an RGB EXR or PNG holding depth in every channel, as many renderers write)
give their first (red) channel. Video sidecars give their luma, expanded to full range.

PyAV (FFmpeg) decodes everything it can; single-channel float TIFF, which FFmpeg's TIFF decoder
does not support (Middlebury ground truth), is read with OpenCV (``opencv-python-headless``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from bokehfx.errors import CorruptMediaError, InputNotFoundError, UnsupportedMediaError, UsageError
from bokehfx.io.paths import is_sequence_pattern, sequence_files

STILL_EXTENSIONS: frozenset[str] = frozenset(
    {".png", ".tif", ".tiff", ".exr", ".pgm", ".ppm", ".pnm", ".pfm", ".jpg", ".jpeg", ".bmp", ".dpx", ".webp"}
)
"""File extensions read as one still image (used for every frame) rather than as a video."""


@dataclass(frozen=True)
class DepthSidecar:
    """A located sidecar.

    Args:
        path (`Path`): The file or the sequence pattern as given.
        layout (`str`): ``"still"``, ``"sequence"`` or ``"video"``.
        files (`tuple[Path, ...]`): The frames of a sequence in order (the one file of a still;
            empty for a video).
    """

    path: Path
    layout: str
    files: tuple[Path, ...]

    @property
    def is_still(self) -> bool:
        """One image used for every frame."""
        return self.layout == "still"


def _sequence_files(pattern: Path) -> tuple[Path, ...]:
    # A sequence is the first contiguous run of numbers, as FFmpeg's image2 demuxer reads it.
    return tuple(entry for _, entry in sequence_files(pattern, contiguous=True))


def open_depth_sidecar(path: str | Path) -> DepthSidecar:
    """Locate a sidecar and decide whether it is a still, a sequence or a video.

    Args:
        path (`str` or `Path`): A video file, an image file, or a pattern such as
            ``depth/%05d.png``.

    Returns:
        `DepthSidecar`

    Raises:
        InputNotFoundError: When the file, or every file of the pattern, is missing.
        UnsupportedMediaError: When the path is a directory.
    """
    p = Path(path)
    if is_sequence_pattern(p):
        files = _sequence_files(p)
        if not files:
            raise InputNotFoundError(f"depth sequence {str(path)!r} matches no file")
        return DepthSidecar(p, "sequence", files)
    if p.is_dir():
        raise UnsupportedMediaError(
            f"depth path {str(path)!r} is a directory; give a video, an image or a pattern like depth/%05d.png"
        )
    if not p.exists():
        raise InputNotFoundError(f"depth file {str(path)!r} does not exist")
    if p.suffix.lower() in STILL_EXTENSIONS:
        return DepthSidecar(p, "still", (p,))
    return DepthSidecar(p, "video", ())


def frame_values(frame: av.VideoFrame) -> np.ndarray:
    """Stored values of one decoded frame as ``(H, W)``: uint8, uint16 or float32."""
    fmt = frame.format
    name = fmt.name
    bits = max(c.bits for c in fmt.components)
    if "f32" in name or "f16" in name:
        if len(fmt.components) == 1:
            return frame.to_ndarray(format="grayf32le")
        return frame.reformat(format="gbrpf32le").to_ndarray()[..., 0]
    if fmt.is_rgb or name.startswith("pal"):
        if bits > 8:
            return frame.to_ndarray(format="rgb48le")[..., 0]
        return frame.to_ndarray(format="rgb24")[..., 0]
    if bits > 8:
        return frame.to_ndarray(format="gray16le")
    return frame.to_ndarray(format="gray")


def _read_with_opencv(path: Path) -> np.ndarray | None:
    import cv2

    data = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if data is None:
        return None
    if data.ndim == 3:
        data = data[..., 2]  # OpenCV orders channels BGR: red is the last
    return np.ascontiguousarray(data)


def read_still_values(path: str | Path) -> np.ndarray:
    """Stored values of one image file, ``(H, W)``.

    Raises:
        UnsupportedMediaError: When neither PyAV nor OpenCV can decode it.
    """
    p = Path(path)
    try:
        with av.open(str(p)) as container:
            for frame in container.decode(video=0):
                return frame_values(frame)
    except (av.FFmpegError, ValueError, IndexError):
        pass
    data = _read_with_opencv(p)
    if data is None:
        raise UnsupportedMediaError(f"depth image {str(path)!r} cannot be decoded")
    return data


def _video_values(path: Path) -> Iterator[np.ndarray]:
    try:
        container = av.open(str(path))
    except av.FFmpegError as err:
        raise UnsupportedMediaError(f"depth file {str(path)!r} cannot be opened: {err}") from None
    with container:
        if not container.streams.video:
            raise UnsupportedMediaError(f"depth file {str(path)!r} has no video stream")
        try:
            for frame in container.decode(video=0):
                yield frame_values(frame)
        except av.FFmpegError as err:
            raise CorruptMediaError(f"depth file {str(path)!r} could not be decoded: {err}") from None


def raw_depth_frames(sidecar: DepthSidecar, num_frames: int | None = None) -> Iterator[np.ndarray]:
    """Stored values per frame, in order.

    Args:
        sidecar (`DepthSidecar`): From :func:`open_depth_sidecar`.
        num_frames (`int`, *optional*): Frames wanted (the source clip's length). A still is
            repeated this many times (decoded once); a video or sequence stops after this many
            frames. Without it, a still yields once and the others yield all their frames.

    Raises:
        UsageError: When a video or sequence has fewer than ``num_frames`` frames.
    """
    if num_frames is not None and num_frames < 0:
        raise UsageError(f"num_frames must be 0 or more, got {num_frames}")
    if sidecar.is_still:
        values = read_still_values(sidecar.path)
        values.setflags(write=False)
        for _ in range(1 if num_frames is None else num_frames):
            yield values
        return
    if sidecar.layout == "sequence":
        source: Iterator[np.ndarray] = (read_still_values(f) for f in sidecar.files)
    else:
        source = _video_values(sidecar.path)
    count = 0
    for values in source:
        if num_frames is not None and count >= num_frames:
            return
        count += 1
        yield values
    if num_frames is not None and count < num_frames:
        raise UsageError(f"depth {str(sidecar.path)!r} has {count} frames but the clip needs num_frames={num_frames}")


__all__ = [
    "STILL_EXTENSIONS",
    "DepthSidecar",
    "frame_values",
    "open_depth_sidecar",
    "raw_depth_frames",
    "read_still_values",
]
