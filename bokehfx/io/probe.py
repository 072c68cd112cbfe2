"""Probing: everything bokehfx needs to know about a clip before decoding it.

:func:`open_input` is the one place where input containers are opened (read-only, always).
:func:`probe` describes a clip as a :class:`MediaInfo`: exact rational frame rate, time base,
rotation, sample aspect ratio, colour tags, bit depth, timecode and every other stream.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

from bokehfx.errors import CorruptMediaError, UnsupportedMediaError
from bokehfx.io.colour import RANGE_FULL, ColourTags
from bokehfx.io.paths import IMAGE_EXTENSIONS, check_input, is_sequence_pattern, sequence_files

#: Frame rate assumed for image sequences and stills when none is given.
DEFAULT_SEQUENCE_FPS = Fraction(24)
#: Smallest AVFieldOrder value that means interlaced (TT, BB, TB, BT).
FIELD_ORDER_INTERLACED_MIN = 2
#: Seconds after which a stalled read (network mounts, broken pipes) gives up.
OPEN_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class StreamInfo:
    """A stream other than the rendered video: carried to the output untouched where possible."""

    index: int
    type: str
    codec: str
    language: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class VideoInfo:
    """The video stream that bokehfx renders."""

    index: int
    codec: str
    width: int
    height: int
    pix_fmt: str
    bit_depth: int
    has_alpha: bool
    frame_rate: Fraction
    time_base: Fraction
    start_pts: int | None
    duration: Fraction | None
    frame_count: int | None
    frame_count_exact: bool
    sample_aspect_ratio: Fraction
    rotation: int
    display_matrix: tuple[int, ...] | None
    colour: ColourTags
    timecode: str | None
    is_image: bool
    metadata: dict[str, str] = field(default_factory=dict)
    field_order: int = 0  # FFmpeg's AVFieldOrder: 0 unknown, 1 progressive, 2 TT, 3 BB, 4 TB, 5 BT

    @property
    def interlaced(self) -> bool:
        """True for interlaced video (frames woven from two fields)."""
        return self.field_order >= FIELD_ORDER_INTERLACED_MIN

    @property
    def display_aspect_ratio(self) -> Fraction:
        """Picture aspect ratio on screen (before rotation)."""
        return Fraction(self.width, self.height) * self.sample_aspect_ratio


@dataclass(frozen=True)
class MediaInfo:
    """A clip as bokehfx sees it."""

    path: str
    container: str
    is_sequence: bool
    first_number: int | None
    video: VideoInfo
    streams: tuple[StreamInfo, ...]
    metadata: dict[str, str]

    def to_json(self) -> dict[str, Any]:
        """A JSON-serialisable dict (fractions as ``"num/den"`` strings plus float values)."""

        def conv(obj: Any) -> Any:
            if isinstance(obj, Fraction):
                return str(obj)
            if isinstance(obj, ColourTags):
                return obj.describe()
            if isinstance(obj, dict):
                return {k: conv(v) for k, v in obj.items()}
            if isinstance(obj, (list, tuple)):
                return [conv(v) for v in obj]
            return obj

        video = {k: conv(getattr(self.video, k)) for k in self.video.__dataclass_fields__}
        video["colour"] = self.video.colour.describe()
        video["frame_rate_float"] = float(self.video.frame_rate)
        video["display_aspect_ratio"] = str(self.video.display_aspect_ratio)
        return {
            "path": self.path,
            "container": self.container,
            "is_sequence": self.is_sequence,
            "first_number": self.first_number,
            "video": video,
            "streams": [conv(asdict(s)) for s in self.streams],
            "metadata": dict(self.metadata),
        }

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=2, sort_keys=False)


def _ffmpeg_error(path: Path, err: Exception) -> Exception:
    """Translate a PyAV error into the bokehfx family."""
    msg = getattr(err, "strerror", None) or str(err)
    if isinstance(err, av.error.InvalidDataError):
        return CorruptMediaError(f"cannot read {str(path)!r}: FFmpeg reports invalid data ({msg}); "
                                 "the file is damaged or not a media file")
    return UnsupportedMediaError(f"cannot read {str(path)!r} as media: {msg}")


def open_input(path: str | Path, *, fps: Fraction | None = None) -> tuple[av.container.InputContainer, Path, int | None]:
    """Open a clip read-only. Returns (container, path, first frame number of a sequence or None)."""
    p = check_input(path)
    options: dict[str, str] = {}
    fmt = None
    first: int | None = None
    if is_sequence_pattern(p):
        first = sequence_files(p, contiguous=True)[0][0]
        fmt = "image2"
        options["framerate"] = str(fps or DEFAULT_SEQUENCE_FPS)
        options["start_number"] = str(first)
    elif p.suffix.lower() in IMAGE_EXTENSIONS:
        options["framerate"] = str(fps or DEFAULT_SEQUENCE_FPS)
    try:
        container = av.open(str(p), mode="r", format=fmt, options=options, timeout=OPEN_TIMEOUT_S)
    except av.error.FFmpegError as err:
        raise _ffmpeg_error(p, err) from err
    except (UnicodeDecodeError, OSError) as err:
        raise UnsupportedMediaError(f"cannot read {str(p)!r} as media: {err}") from err
    if not container.streams.video:
        container.close()
        raise UnsupportedMediaError(f"{str(p)!r} has no video stream")
    return container, p, first


def primary_video_stream(container: av.container.InputContainer) -> av.video.stream.VideoStream:
    """The stream bokehfx renders: the first video stream that is not cover art."""
    for stream in container.streams.video:
        if not (stream.disposition & av.stream.Disposition.attached_pic):
            return stream
    raise UnsupportedMediaError(f"{container.name!r} has only cover-art pictures, no video stream")


def pix_fmt_traits(pix_fmt: str) -> tuple[int, bool, bool, bool]:
    """(bit depth, has alpha, is RGB, is float) of an FFmpeg pixel format."""
    fmt = av.VideoFormat(pix_fmt)
    comps = fmt.components
    depth = max(c.bits for c in comps) if comps else 8
    has_alpha = any(c.is_alpha for c in comps)
    is_float = "f32" in pix_fmt or "f16" in pix_fmt
    is_rgb = fmt.is_rgb or pix_fmt.startswith(("gray", "ya"))
    return depth, has_alpha, is_rgb, is_float


def _display_matrix(frame: av.VideoFrame) -> tuple[tuple[int, ...] | None, int]:
    """The frame's display matrix (9 ints, FFmpeg layout) and rotation, or (None, 0)."""
    try:
        side_data = list(frame.side_data)
    except ValueError:  # a side-data type newer than this PyAV knows (seen on PNG stills): no matrix there
        return None, 0
    for sd in side_data:
        if sd.type.name == "DISPLAYMATRIX":
            return tuple(int(v) for v in np.frombuffer(bytes(sd), dtype="<i4")), int(frame.rotation)
    return None, 0


def _field_order(cc: av.codec.context.CodecContext, frame: av.VideoFrame) -> int:
    """The stream's field order; an interlaced first frame with an unknown order counts as top first."""
    order = int(cc.field_order) if getattr(cc, "field_order", None) is not None else 0
    if order < FIELD_ORDER_INTERLACED_MIN and getattr(frame, "interlaced_frame", False):
        return FIELD_ORDER_INTERLACED_MIN
    return order


def _timecode(container: av.container.InputContainer, stream: av.stream.Stream) -> str | None:
    for md in (stream.metadata, container.metadata):
        if md.get("timecode"):
            return md["timecode"]
    for other in container.streams:
        tc = other.metadata.get("timecode")
        if tc:
            return tc
    return None


def _stream_info(stream: av.stream.Stream) -> StreamInfo:
    cc = stream.codec_context
    codec = cc.name if cc is not None else (stream.metadata.get("codec_name") or "unknown")
    details: dict[str, Any] = {}
    if stream.type == "audio" and cc is not None:
        details = {"sample_rate": cc.sample_rate, "channels": cc.channels, "layout": cc.layout.name}
    elif stream.type == "video" and cc is not None:
        details = {"width": cc.width, "height": cc.height, "pix_fmt": cc.pix_fmt}
    disposition = [d.name for d in av.stream.Disposition if d.value and stream.disposition & d]
    if disposition:
        details["disposition"] = disposition
    if stream.metadata.get("handler_name"):
        details["handler_name"] = stream.metadata["handler_name"]
    return StreamInfo(stream.index, stream.type, codec, stream.language, details)


def _estimate_count(stream: av.video.stream.VideoStream, container: av.container.InputContainer,
                    rate: Fraction) -> tuple[int | None, Fraction | None]:
    duration: Fraction | None = None
    if stream.duration is not None and stream.time_base is not None:
        duration = Fraction(stream.duration) * stream.time_base
    elif container.duration is not None:
        duration = Fraction(container.duration, av.time_base)
    if stream.frames:
        return int(stream.frames), duration
    if duration is not None and rate:
        return max(1, round(duration * rate)), duration
    return None, duration


def count_frames(path: str | Path, *, fps: Fraction | None = None) -> int:
    """Exact number of video frames, by demuxing packets (no decoding)."""
    container, p, _ = open_input(path, fps=fps)
    try:
        stream = primary_video_stream(container)
        n = 0
        try:
            for packet in container.demux(stream):
                if packet.size:
                    n += 1
        except av.error.FFmpegError as err:
            raise _ffmpeg_error(p, err) from err
        return n
    finally:
        container.close()


def probe(path: str | Path, *, fps: Fraction | None = None, exact_count: bool = False) -> MediaInfo:
    """Describe a clip. Decodes its first frame (for rotation and to prove it decodes).

    Args:
        path: video file, still image or ``%0Nd`` image-sequence pattern.
        fps: frame rate for image sequences and stills (default :data:`DEFAULT_SEQUENCE_FPS`).
        exact_count: count frames by demuxing the whole file instead of estimating.

    Raises:
        InputNotFoundError, UnsupportedMediaError, CorruptMediaError.
    """
    container, p, first = open_input(path, fps=fps)
    try:
        stream = primary_video_stream(container)
        cc = stream.codec_context
        is_seq = first is not None
        is_image = is_seq or p.suffix.lower() in IMAGE_EXTENSIONS or container.format.name.endswith("_pipe")
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        if is_image or not rate:  # stills and sequences have no rate of their own
            rate = fps or DEFAULT_SEQUENCE_FPS
        rate = Fraction(rate)
        first_frame = None
        try:
            for frame in container.decode(stream):
                first_frame = frame
                break
        except av.error.FFmpegError as err:
            raise _ffmpeg_error(p, err) from err
        if first_frame is None:
            raise CorruptMediaError(f"{str(p)!r} has a video stream but no frame could be decoded")
        pix_fmt = first_frame.format.name
        depth, has_alpha, _, _ = pix_fmt_traits(pix_fmt)
        matrix, rotation = _display_matrix(first_frame)
        colour = ColourTags(
            primaries=int(first_frame.color_primaries if first_frame.color_primaries is not None else cc.color_primaries),
            transfer=int(first_frame.color_trc if first_frame.color_trc is not None else cc.color_trc),
            matrix=int(first_frame.colorspace if first_frame.colorspace is not None else cc.colorspace),
            range=int(first_frame.color_range if first_frame.color_range is not None else cc.color_range),
        )
        if pix_fmt.startswith("yuvj") and colour.range == 0:
            colour = replace(colour, range=RANGE_FULL)  # the deprecated "J" formats mean full range
        if is_seq:
            count, exact = len(sequence_files(p, contiguous=True)), True
            duration = count / rate
        elif exact_count:
            count, exact = None, True
            duration = None
        else:
            count, duration = _estimate_count(stream, container, rate)
            exact = bool(stream.frames)
        sar = stream.sample_aspect_ratio or cc.sample_aspect_ratio or Fraction(1)
        video = VideoInfo(
            index=stream.index,
            codec=cc.name,
            width=first_frame.width,
            height=first_frame.height,
            pix_fmt=pix_fmt,
            bit_depth=depth,
            has_alpha=has_alpha,
            frame_rate=rate,
            time_base=Fraction(stream.time_base) if stream.time_base else 1 / rate,
            start_pts=stream.start_time,
            duration=duration,
            frame_count=count,
            frame_count_exact=exact,
            sample_aspect_ratio=Fraction(sar),
            rotation=rotation,
            display_matrix=matrix,
            colour=colour,
            timecode=_timecode(container, stream),
            is_image=is_image,
            metadata={**dict(stream.metadata), **({"language": stream.language} if stream.language else {})},
            field_order=_field_order(cc, first_frame),
        )
        others = tuple(_stream_info(s) for s in container.streams if s.index != stream.index)
        info = MediaInfo(
            path=str(p),
            container=container.format.name,
            is_sequence=is_seq,
            first_number=first,
            video=video,
            streams=others,
            metadata=dict(container.metadata),
        )
    finally:
        container.close()
    if exact_count and not is_seq:
        n = count_frames(p, fps=fps)
        video = replace(info.video, frame_count=n, frame_count_exact=True,
                        duration=info.video.duration or n / info.video.frame_rate)
        info = replace(info, video=video)
    return info


def synthetic_info(width: int, height: int, rate: Fraction, frame_count: int, *, path: str = "<generated>",
                   has_alpha: bool = False) -> MediaInfo:
    """A :class:`MediaInfo` for frames made in memory (procedural scenes, composites), to hand to a sink.

    The frames are linear light in Rec.709 primaries; a movie sink encodes them as Rec.709 video.
    """
    from bokehfx.io.colour import RANGE_LIMITED, SPC_BT709, TRC_LINEAR

    rate = Fraction(rate)
    video = VideoInfo(
        index=0, codec="none", width=width, height=height, pix_fmt="gbrpf32le", bit_depth=32, has_alpha=has_alpha,
        frame_rate=rate, time_base=1 / rate, start_pts=0, duration=frame_count / rate, frame_count=frame_count,
        frame_count_exact=True, sample_aspect_ratio=Fraction(1), rotation=0, display_matrix=None,
        colour=ColourTags(1, TRC_LINEAR, SPC_BT709, RANGE_LIMITED), timecode=None, is_image=True,
    )
    return MediaInfo(path=path, container="none", is_sequence=True, first_number=0, video=video, streams=(),
                     metadata={})
