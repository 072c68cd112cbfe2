"""Encoding sinks: linear float frames in; a finished file (or sequence) appears only when complete.

The encode -> mux -> flush idiom lives here and nowhere else. A :class:`MovieSink` writes ProRes
or H.264 with the source's timestamps, rotation, sample aspect ratio, colour tags and timecode,
and carries every other stream of the source: copied packet for packet, or transcoded
losslessly where the container refuses the codec (:mod:`bokehfx.io.streams`).
A :class:`SequenceSink` writes 16-bit PNG/TIFF or half-float EXR frames. Both write beside the
target under a temporary name and move into place on :meth:`close`; :meth:`abort` (or an
exception inside ``with``) removes every trace. The source is only ever opened for reading.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterable

import av
from av.video.frame import PictureType
import numpy as np

from bokehfx.errors import OutputError, OutputExistsError, UsageError
from bokehfx.io.colour import (
    RANGE_FULL, RANGE_LIMITED, RANGE_UNSPECIFIED, SPC_BT709, TRC_BT709, TRC_LINEAR, TRC_SRGB, ColourTags,
    effective_transfer, encode_u16, encode_unclipped, sws_matrix,
)
from bokehfx.io.paths import Codec, OutputTarget, is_sequence_pattern, sequence_files
from bokehfx.io.probe import MediaInfo, pix_fmt_traits
from bokehfx.io.source import Frame
from bokehfx.io.streams import Notes, StreamCopier
from bokehfx.io.ycbcr import composite_planes, encode_frame
from bokehfx.timecode import offset_timecode

#: How far (seconds) copied streams may run ahead of the video when interleaving.
COPY_LOOKAHEAD_S = Fraction(1, 2)
#: Per-stream tags carried from the source's video stream to the rendered one.
CARRIED_STREAM_TAGS = ("language", "handler_name", "title", "creation_time")
#: Default H.264 quality (libx264 CRF; 18 is visually lossless for most material).
DEFAULT_CRF = 18
#: Default libx264 speed/size trade-off.
DEFAULT_PRESET = "medium"


def same_file(a: str | Path, b: str | Path) -> bool:
    """True when two paths name the same file (or the same sequence pattern)."""
    pa, pb = Path(a), Path(b)
    try:
        if pa.exists() and pb.exists():
            return os.path.samefile(pa, pb)
    except OSError:
        pass
    return pa.resolve() == pb.resolve()


def check_output(target: OutputTarget, input_path: str | Path, *, force: bool) -> None:
    """Refuse an output equal to the input, or an existing output without ``force``."""
    if same_file(target.path, input_path):
        raise UsageError(f"output {str(target.path)!r} is the input; choose another output path")
    if target.is_sequence:
        existing = sequence_files(target.path)
        if existing and not force:
            raise OutputExistsError(
                f"output sequence {str(target.path)!r} already has {len(existing)} frame(s), e.g. "
                f"{str(existing[0][1])!r}; pass --force to overwrite"
            )
        if not target.path.parent.is_dir():
            raise OutputError(f"output folder {str(target.path.parent)!r} does not exist")
        return
    if target.path.is_dir():
        raise OutputError(f"output {str(target.path)!r} is a directory; give a file name")
    if target.path.exists() and not force:
        raise OutputExistsError(f"output {str(target.path)!r} already exists; pass --force to overwrite")
    if not target.path.parent.is_dir():
        raise OutputError(f"output folder {str(target.path.parent)!r} does not exist")


@dataclass
class EncodeSettings:
    """Encoder choices for movie outputs."""

    crf: int = DEFAULT_CRF
    preset: str = DEFAULT_PRESET
    bit_depth: int | None = None  # H.264 only: 8 (default) or 10

    def __post_init__(self) -> None:
        if not 0 <= self.crf <= 51:
            raise UsageError(f"--crf {self.crf} is out of range; use 0 (lossless) to 51")
        if self.bit_depth not in (None, 8, 10):
            raise UsageError(f"--bit-depth {self.bit_depth} is not supported; use 8 or 10")


def _codes16(values: np.ndarray) -> np.ndarray:
    """Plain values in 0..1 (alpha, depth) as rounded 16-bit codes."""
    return (np.clip(values, 0.0, 1.0) * 65535.0 + 0.5).astype(np.uint16)


def _encode_rgb48(image: np.ndarray, transfer: int, alpha: np.ndarray | None) -> np.ndarray:
    code = encode_u16(image, transfer)
    if alpha is None:
        return code
    return np.concatenate([code, _codes16(alpha)[..., None]], axis=2)


def _pad_even(arr: np.ndarray, pad_w: int, pad_h: int) -> np.ndarray:
    if not (pad_w or pad_h):
        return arr
    return np.pad(arr, ((0, pad_h), (0, pad_w), (0, 0)), mode="edge")


class _AtomicTarget:
    """A temporary path beside the target, moved into place by :meth:`commit`."""

    def __init__(self, target: Path, suffix: str, is_dir: bool) -> None:
        self.target = target
        if is_dir:
            self.temp = Path(tempfile.mkdtemp(prefix=f".{target.name.split('%')[0]}bokehfx-partial-",
                                              dir=target.parent))
        else:
            fd, name = tempfile.mkstemp(prefix=f".{target.stem}.bokehfx-partial-", suffix=suffix, dir=target.parent)
            os.close(fd)
            self.temp = Path(name)
        self.is_dir = is_dir

    def discard(self) -> None:
        if self.is_dir:
            shutil.rmtree(self.temp, ignore_errors=True)
        else:
            try:
                self.temp.unlink()
            except FileNotFoundError:
                pass


class _Sink:
    """What both sinks share: the context-manager protocol and removing every trace on failure."""

    _out: av.container.OutputContainer | None = None
    _atomic: _AtomicTarget | None = None
    _stream: av.video.stream.VideoStream | None = None
    frames_written: int = 0

    def open(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self):
        self.open()
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def _put(self, frame: av.VideoFrame | None) -> None:
        """Encode and mux one picture numbered by arrival (``None`` flushes the encoder)."""
        if frame is not None:
            frame.pts = self.frames_written
        for packet in self._stream.encode(frame):
            self._out.mux(packet)
        if frame is not None:
            self.frames_written += 1

    def _release(self) -> None:
        """Hook for what a sink holds besides its container (closed before the container)."""

    def abort(self) -> None:
        """Stop and remove every trace of the output."""
        self._release()
        if self._out is not None:
            try:
                self._out.close()
            except Exception:  # the container may be half-written; it is deleted next
                pass
            self._out = None
        if self._atomic is not None:
            self._atomic.discard()


class MovieSink(_Sink):
    """Encode frames into a ``.mov``/``.mp4``/``.mkv`` file; see the module docstring.

    Args:
        target: where and with which codec to write (:func:`bokehfx.io.paths.output_target`).
        source: the probed source clip (timing, tags and streams to carry over).
        settings: H.264 quality/bit depth.
        start_index: index of the first frame written (for ``--frames``: timecode moves on with it).
        start_time: source time (seconds) of the first frame written; other streams and timestamps
            are shifted back by it. ``None`` keeps the source's timestamps as they are.
        copy_lookahead: how far copied streams may run ahead of the video (seconds). Use 0 when
            the render ends before the source does, so nothing past its end is copied before
            :meth:`end_streams_at` is known.
    """

    def __init__(self, target: OutputTarget, source: MediaInfo, *, settings: EncodeSettings | None = None,
                 start_index: int = 0, start_time: Fraction | None = None, copy_streams: bool = True,
                 copy_lookahead: Fraction = COPY_LOOKAHEAD_S) -> None:
        if target.codec is None:
            raise OutputError(f"{str(target.path)!r} is not a movie output")
        self.target = target
        self.source = source
        self.settings = settings or EncodeSettings()
        self.notes = Notes()
        self._start_index = start_index
        self._start_time = start_time
        self._lookahead = Fraction(copy_lookahead)
        self._copy_streams = copy_streams
        self._out: av.container.OutputContainer | None = None
        self._copier: StreamCopier | None = None
        self._atomic: _AtomicTarget | None = None
        self._stream = None
        self._last_pts: int | None = None
        self._durations: dict[int, int] = {}
        self.frames_written = 0

    # -- set-up ---------------------------------------------------------------------------------
    def _pixel_format(self, has_alpha: bool) -> tuple[str, str, dict[str, str]]:
        codec = self.target.codec
        if codec is Codec.prores_hq:
            if has_alpha:
                self.notes.add("alpha dropped: ProRes 422 HQ has no alpha channel (use --codec prores_4444)")
            return "prores_ks", "yuv422p10le", {"profile": "hq", "vendor": "apl0"}
        if codec is Codec.prores_4444:
            return "prores_ks", ("yuva444p10le" if has_alpha else "yuv444p10le"), \
                {"profile": "4444", "vendor": "apl0", "alpha_bits": "16"}
        if has_alpha:
            self.notes.add("alpha dropped: H.264 has no alpha channel (use a .mov with --codec prores_4444)")
        ten = self.settings.bit_depth == 10
        return "libx264", ("yuv420p10le" if ten else "yuv420p"), \
            {"crf": str(self.settings.crf), "preset": self.settings.preset}

    def open(self) -> None:
        v = self.source.video
        self._transfer = effective_transfer(v.colour, is_image=v.is_image)
        self._out_tags = v.colour
        if self._transfer == TRC_LINEAR or v.is_image:
            # Linear (EXR) or still-image sources: movies are written as Rec.709 video.
            self._transfer = TRC_BT709
            self._out_tags = ColourTags(v.colour.primaries if v.colour.primaries != 2 else 1, TRC_BT709,
                                        SPC_BT709, RANGE_LIMITED)
        codec_name, pix_fmt, options = self._pixel_format(v.has_alpha)
        self._has_alpha = pix_fmt.startswith("yuva")
        self._pix_fmt = pix_fmt
        tags = self._out_tags
        is_prores = codec_name == "prores_ks"
        out_range = RANGE_LIMITED if is_prores or tags.range != RANGE_FULL else RANGE_FULL
        if is_prores and tags.range == RANGE_FULL:
            self.notes.add("full-range source written as video range: ProRes is video range by specification "
                           "(the picture is converted, not clipped)")
        self._range = out_range
        self._matrix_code = tags.matrix if tags.matrix not in (0,) else SPC_BT709
        self._matrix = sws_matrix(self._matrix_code, v.height)
        width, height = v.width, v.height
        # libx264 needs even dimensions for subsampled chroma; prores_ks pads macroblocks itself.
        self._pad_w = width % 2 if codec_name == "libx264" and pix_fmt.startswith(("yuv420", "yuv422")) else 0
        self._pad_h = height % 2 if codec_name == "libx264" and pix_fmt.startswith("yuv420") else 0
        self._passthrough = passes_through(self.source, self.target)
        if self._pad_w or self._pad_h:
            self.notes.add(f"{width}x{height} padded to {width + self._pad_w}x{height + self._pad_h} by repeating "
                           f"the last column/row: {pix_fmt} needs even dimensions (nothing is stretched)")
        self._atomic = _AtomicTarget(self.target.path, self.target.extension, is_dir=False)
        try:
            self._out = av.open(str(self._atomic.temp), mode="w", format=self._muxer_name(),
                                options=self._muxer_options())
            stream = self._out.add_stream(codec_name, rate=v.frame_rate, options=options)
            stream.width = width + self._pad_w
            stream.height = height + self._pad_h
            stream.pix_fmt = pix_fmt
            stream.time_base = v.time_base
            cc = stream.codec_context
            cc.time_base = v.time_base
            cc.framerate = v.frame_rate
            cc.sample_aspect_ratio = v.sample_aspect_ratio
            stream.sample_aspect_ratio = v.sample_aspect_ratio
            cc.color_primaries = tags.primaries
            cc.color_trc = tags.transfer
            cc.colorspace = tags.matrix
            cc.color_range = out_range if tags.range != RANGE_UNSPECIFIED or is_prores else RANGE_UNSPECIFIED
            cc.thread_type = "AUTO"
            if v.interlaced:  # keep interlaced video interlaced: field-aware coding and the field order
                cc.flags |= av.codec.context.Flags.interlaced_dct
                cc.field_order = v.field_order
            for key, value in v.metadata.items():
                if key.lower() in CARRIED_STREAM_TAGS:
                    stream.metadata[key] = value
            if v.display_matrix is not None:
                stream.set_display_matrix(list(v.display_matrix))
            if v.timecode:
                tc = v.timecode
                if self._start_index:
                    tc = offset_timecode(tc, self._start_index, v.frame_rate)
                stream.metadata["timecode"] = tc
                self._out.metadata["timecode"] = tc
            for key in ("title", "comment", "copyright", "creation_time", "artist", "description", "location"):
                if key in self.source.metadata:
                    self._out.metadata[key] = self.source.metadata[key]
            self._stream = stream
            if self._copy_streams:
                self._copier = StreamCopier(self.source, self._out, self.notes, self._start_time, None)
        except BaseException:
            self.abort()
            raise

    def _pass_through(self, picture: av.VideoFrame) -> av.VideoFrame:
        """The decoded picture in the output's format: one swscale pass over the code values.

        The decoder's picture type is cleared: an intra-only source (ProRes, MJPEG) marks every
        picture I, which an inter-frame encoder would obey with a keyframe per frame.
        """
        colour = self.source.video.colour
        out = picture.reformat(format=self._pix_fmt, src_colorspace=sws_matrix(colour.matrix, picture.height),
                               dst_colorspace=self._matrix,
                               src_color_range="JPEG" if colour.range == RANGE_FULL else "MPEG",
                               dst_color_range="JPEG" if self._range == RANGE_FULL else "MPEG")
        out.pict_type = PictureType.NONE
        return out

    def _muxer_options(self) -> dict[str, str]:
        # The QuickTime movie timescale defaults to 1000, which rounds edit lists (start offsets)
        # to milliseconds; use the video's own time base so timestamps survive exactly.
        den = self.source.video.time_base.denominator
        if self.target.extension in (".mov", ".mp4", ".m4v") and 0 < den < 2**31:
            return {"movie_timescale": str(den)}
        return {}

    def _muxer_name(self) -> str:
        return {".mov": "mov", ".mp4": "mp4", ".m4v": "mp4", ".mkv": "matroska"}[self.target.extension]

    # -- writing --------------------------------------------------------------------------------
    def _next_pts(self, frame: Frame) -> int:
        v = self.source.video
        if frame.pts is None:
            pts = round(Fraction(frame.index) / v.frame_rate / v.time_base)
        else:
            pts = frame.pts
        if self._start_time is not None:
            pts -= round(self._start_time / v.time_base)
        if self._last_pts is not None and pts <= self._last_pts:
            self.notes.add("source timestamps were not increasing; repaired by the smallest step")
            pts = self._last_pts + 1
        self._last_pts = pts
        return pts

    def write(self, frame: Frame, image: np.ndarray | None = None, alpha: np.ndarray | None = None,
              keep: np.ndarray | None = None) -> None:
        """Encode one picture with the timing of ``frame``.

        Args:
            frame: the source frame (timing; its decoded picture when it kept one).
            image: the rendered linear RGB; ``None`` (or ``frame.image`` itself) is the frame's own
                picture, which is encoded from the decoded code values when the source allows it
                (:func:`passes_through`): the identity path then keeps what the codec keeps.
            alpha: the rendered alpha (``None``: the frame's own).
            keep: ``(H, W)`` bool, pixels the renderer left as they were: written exactly as the
                identity path writes them.
        """
        if self._out is None:
            raise OutputError("the sink is not open")
        v = self.source.video
        unchanged = image is None or image is frame.image
        if unchanged and self._passthrough and frame.picture is not None:
            av_frame = self._pass_through(frame.picture)
        else:
            image = frame.image if image is None else image
            alpha = frame.alpha if alpha is None else alpha
            if image.shape[:2] != (v.height, v.width):
                raise OutputError(f"rendered frame is {image.shape[1]}x{image.shape[0]}, expected {v.width}x{v.height}")
            if self._pad_w or self._pad_h:
                code, prepare = _pad_even(encode_unclipped(image, self._transfer), self._pad_w, self._pad_h), None
            else:  # linear light to code values band by band, inside the Y'CbCr conversion
                code, prepare = image, lambda band: encode_unclipped(band, self._transfer)
            if alpha is not None and self._has_alpha:
                alpha = _pad_even(alpha[..., None], self._pad_w, self._pad_h)[..., 0]
            av_frame = encode_frame(code, self._pix_fmt, full_range=self._range == RANGE_FULL,
                                    matrix=self._matrix_code, height=v.height,
                                    alpha=alpha if self._has_alpha else None, prepare=prepare)
            if keep is not None and self._passthrough and frame.picture is not None and keep.any():
                composite_planes(av_frame, self._pass_through(frame.picture), keep)
        av_frame.pts = self._next_pts(frame)
        av_frame.time_base = v.time_base
        if frame.duration:
            av_frame.duration = frame.duration
            self._durations[av_frame.pts] = frame.duration
        av_frame.color_range = self._range
        av_frame.colorspace = self._out_tags.matrix
        av_frame.color_trc = self._out_tags.transfer
        av_frame.color_primaries = self._out_tags.primaries
        self._mux(self._stream.encode(av_frame))
        self.frames_written += 1

    def write_packet(self, packet: av.Packet) -> None:
        """Mux one picture already encoded with this sink's codec and settings (a chunk being joined).

        Its timestamps are the source's, shifted back by ``start_time`` as :meth:`write` shifts
        frames; other streams are copied in step exactly as for encoded frames.
        """
        if self._out is None:
            raise OutputError("the sink is not open")
        if self._start_time is not None:
            shift = round(self._start_time / Fraction(packet.time_base))
            if packet.pts is not None:
                packet.pts -= shift
            if packet.dts is not None:
                packet.dts -= shift
        packet.stream = self._stream
        self._mux([packet])
        self.frames_written += 1

    def _mux(self, packets: list[av.Packet]) -> None:
        for packet in packets:
            if not packet.duration and packet.pts is not None:
                packet.duration = self._durations.pop(packet.pts, 0)
            else:
                self._durations.pop(packet.pts, None)
            if self._copier is not None and packet.dts is not None:
                self._copier.pump(packet.dts * Fraction(packet.time_base) + self._lookahead, self._out)
            self._out.mux(packet)

    # -- finishing ------------------------------------------------------------------------------
    def end_streams_at(self, stop: Fraction | None) -> None:
        """Copy other streams only up to source time ``stop`` (the end of the last rendered frame)."""
        if self._copier is not None:
            self._copier.set_stop(stop)

    def close(self) -> None:
        """Flush the encoder, copy the rest of the other streams, and move the file into place."""
        if self._out is None:
            return
        try:
            if self.frames_written == 0:
                raise OutputError("no frame was rendered; nothing written")
            self._mux(self._stream.encode(None))
            if self._copier is not None:
                self._copier.pump(None, self._out)
                self._copier.close()
            self._out.close()
            self._out = None
            os.replace(self._atomic.temp, self.target.path)
        except BaseException:
            self.abort()
            raise

    def _release(self) -> None:
        if self._copier is not None:
            self._copier.close()


class SequenceSink(_Sink):
    """Write frames as ``name.%04d.png|tif|exr``: 16-bit sRGB PNG/TIFF, or half-float linear EXR.

    Frame numbers follow the source: a sequence keeps its own numbers, a movie starts at
    ``start_number`` (default 0) plus the index of the first frame written.
    """

    def __init__(self, target: OutputTarget, source: MediaInfo, *, start_index: int = 0,
                 start_number: int | None = None, data: bool = False) -> None:
        if not target.is_sequence:
            raise OutputError(f"{str(target.path)!r} is not an image-sequence pattern")
        self.target = target
        self.source = source
        self.notes = Notes()
        base = source.first_number if source.first_number is not None else 0
        self.start_number = (start_number if start_number is not None else base) + start_index
        self.frames_written = 0
        self.data = data
        self._atomic: _AtomicTarget | None = None
        self._out = None
        self._stream = None

    def open(self) -> None:
        ext = self.target.extension
        alpha = self.source.video.has_alpha and not self.data
        if self.data:
            # One channel of plain values (depth, mattes): float EXR, or 0..1 as 16-bit codes.
            codec, self._pix_fmt, options = {
                ".exr": ("exr", "grayf32le", {"format": "half", "compression": "zip1"}),
                ".png": ("png", "gray16be", {}),
            }.get(ext, ("tiff", "gray16le", {}))
        elif ext == ".exr":
            codec, self._pix_fmt, options = "exr", ("gbrapf32le" if alpha else "gbrpf32le"), \
                {"format": "half", "compression": "zip1"}
        elif ext == ".png":
            codec, self._pix_fmt, options = "png", ("rgba64be" if alpha else "rgb48be"), {}
        else:
            codec, self._pix_fmt, options = "tiff", ("rgba64le" if alpha else "rgb48le"), {}
        self._alpha = alpha
        self._codec = codec
        self._atomic = _AtomicTarget(self.target.path, "", is_dir=True)
        try:
            pattern = self._atomic.temp / self.target.path.name
            self._out = av.open(str(pattern), mode="w", format="image2",
                                options={"start_number": str(self.start_number)})
            v = self.source.video
            self._stream = self._out.add_stream(codec, rate=v.frame_rate, options=options)
            self._stream.width = v.width
            self._stream.height = v.height
            self._stream.pix_fmt = self._pix_fmt
            if codec != "exr":
                self._stream.codec_context.color_trc = TRC_SRGB
                self._stream.codec_context.color_primaries = v.colour.primaries
        except BaseException:
            self.abort()
            raise

    def write(self, frame: Frame, image: np.ndarray | None = None, alpha: np.ndarray | None = None,
              keep: np.ndarray | None = None) -> None:
        """Write one picture (``keep`` is accepted for the movie sink's signature: float frames are exact)."""
        image = frame.image if image is None else image
        alpha = frame.alpha if alpha is None else alpha
        if self.data:
            values = image[..., 0] if image.ndim == 3 else image
            if self._codec == "exr":
                av_frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(values, dtype=np.float32), format="grayf32le")
            else:
                av_frame = av.VideoFrame.from_ndarray(_codes16(values), format="gray16le")
                if av_frame.format.name != self._pix_fmt:
                    av_frame = av_frame.reformat(format=self._pix_fmt)
        elif self._codec == "exr":
            arr = image.astype(np.float32, copy=False)
            if self._alpha:
                a = alpha if alpha is not None else np.ones(image.shape[:2], np.float32)
                arr = np.concatenate([arr, a[..., None].astype(np.float32)], axis=2)
            av_frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(arr), format=self._pix_fmt)
        else:
            rgb = _encode_rgb48(image, TRC_SRGB, (alpha if alpha is not None else np.ones(image.shape[:2], np.float32))
                                if self._alpha else None)
            av_frame = av.VideoFrame.from_ndarray(rgb, format="rgba64le" if self._alpha else "rgb48le")
            if av_frame.format.name != self._pix_fmt:
                av_frame = av_frame.reformat(format=self._pix_fmt)
            av_frame.color_trc = TRC_SRGB
        self._put(av_frame)

    def close(self) -> None:
        if self._out is None:
            return
        try:
            if self.frames_written == 0:
                raise OutputError("no frame was rendered; nothing written")
            self._put(None)
            self._out.close()
            self._out = None
            for child in sorted(self._atomic.temp.iterdir()):
                os.replace(child, self.target.path.parent / child.name)
            self._atomic.discard()
        except BaseException:
            self.abort()
            raise

class DataMovieSink(_Sink):
    """One-channel maps in 0..1 (depth, mattes) as lossless 16-bit FFV1 video in Matroska."""

    def __init__(self, path: Path, source: MediaInfo) -> None:
        self.path = Path(path)
        self.source = source
        self.frames_written = 0
        self._stream = None

    def open(self) -> None:
        v = self.source.video
        self._atomic = _AtomicTarget(self.path, self.path.suffix, is_dir=False)
        try:
            self._out = av.open(str(self._atomic.temp), mode="w", format="matroska")
            self._stream = self._out.add_stream("ffv1", rate=v.frame_rate)
            self._stream.width, self._stream.height, self._stream.pix_fmt = v.width, v.height, "gray16le"
        except BaseException:
            self.abort()
            raise

    def write(self, values: np.ndarray) -> None:
        self._put(av.VideoFrame.from_ndarray(_codes16(values), format="gray16le"))

    def close(self) -> None:
        if self._out is None:
            return
        try:
            self._put(None)
            self._out.close()
            self._out = None
            os.replace(self._atomic.temp, self.path)
        except BaseException:
            self.abort()
            raise


def check_data_target(path: str | Path, input_path: str | Path, *, force: bool) -> OutputTarget:
    """Validate where :func:`write_data` will write (call it before any long work)."""
    from bokehfx.io.paths import output_target

    p = Path(path)
    if p.suffix.lower() == ".mkv" and not is_sequence_pattern(p):
        target = OutputTarget(p, False, ".mkv", None)
    else:
        target = output_target(p)
        if not target.is_sequence:
            raise OutputError(f"{str(p)!r}: maps are written as an image sequence such as depth.%04d.exr "
                              "or as a 16-bit .mkv video")
    check_output(target, input_path, force=force)
    return target


def write_data(path: str | Path, maps: Iterable[np.ndarray], source: MediaInfo, *,
               force: bool = False, frame_count: int | None = None) -> Path:
    """Write one-channel maps in 0..1 (e.g. normalized disparity) for other tools.

    ``name.%04d.exr`` (float), ``.png`` / ``.tif`` (16-bit) sequences, or ``name.mkv`` (lossless
    16-bit FFV1 video). Stops after ``frame_count`` maps (default: the source's frame count,
    needed for endless iterators such as a still repeated for every frame).
    """
    from bokehfx.io.probe import count_frames

    p = Path(path)
    target = check_data_target(p, source.path, force=force)
    is_movie = not target.is_sequence
    if frame_count is None:
        v = source.video
        frame_count = v.frame_count if v.frame_count_exact else count_frames(source.path)
    time_base = source.video.time_base
    sink = DataMovieSink(p, source) if is_movie else SequenceSink(target, source, data=True)
    with sink:
        for index, values in enumerate(maps):
            if index >= frame_count:
                break
            if is_movie:
                sink.write(np.asarray(values, dtype=np.float32))
            else:
                sink.write(Frame(index, None, None, time_base, np.asarray(values, dtype=np.float32)))
    return target.path


def passes_through(source: MediaInfo, target: OutputTarget) -> bool:
    """True when ``target`` can be written from the source's decoded code values for unchanged pictures.

    That is every movie output of an integer-coded video source: its transfer, primaries and
    matrix carry over, so an unchanged picture needs only its format changed. Float and linear
    sources and stills are written as Rec.709 video, which changes the picture; they go through
    linear light.
    """
    v = source.video
    if target.is_sequence or target.codec is None or v.is_image:
        return False
    if target.codec is Codec.h264 and (v.width % 2 or v.height % 2):
        return False  # padded to even dimensions: written from the padded linear picture
    _, _, _, is_float = pix_fmt_traits(v.pix_fmt)
    return not is_float and effective_transfer(v.colour, is_image=False) != TRC_LINEAR


def open_sink(target: OutputTarget, source: MediaInfo, **kwargs) -> MovieSink | SequenceSink:
    """The sink for ``target``: a :class:`SequenceSink` for patterns, else a :class:`MovieSink`."""
    if target.is_sequence:
        allowed = {k: v for k, v in kwargs.items() if k in ("start_index", "start_number")}
        return SequenceSink(target, source, **allowed)
    kwargs.pop("start_number", None)
    return MovieSink(target, source, **kwargs)

