"""The source's other streams (audio, subtitles, data) carried into a rendered movie.

Every stream is copied packet for packet when the output's muxer takes it. When it does not, it
is transcoded losslessly when a lossless route exists: audio as PCM (QuickTime) or FLAC (where the
container takes it), with the decoded samples kept exactly; text subtitles as the container's own
text codec, with the decoded events (text, styling, timing) kept. Only a stream with no such route
is dropped, with FFmpeg's reason. Each of these decisions is said once as a note.

Which codec a container takes is asked of the muxer itself, with a header written to memory.
"""

from __future__ import annotations

import gc
import io
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Callable

import av

from bokehfx.io.avlock import FFMPEG_LOGGING
from bokehfx.io.probe import MediaInfo, open_input, primary_video_stream

#: Tags that describe the old encoding rather than the content: not copied.
DERIVED_STREAM_TAGS = ("duration", "encoder", "number_of_frames", "number_of_bytes", "_statistics_tags", "bps")
#: Integer sample formats (packed) -> their width in bits.
_INT_SAMPLE_BITS = {"u8": 8, "s16": 16, "s32": 32, "s64": 64}
#: Widest decoded samples handed to FLAC (s32 samples may use all 32 bits, which FLAC does not code).
FLAC_MAX_BITS = 16
#: PCM codecs (and the sample format each encodes) that hold a packed sample format exactly.
PCM_CODECS = {
    "u8": (("pcm_u8", "u8"), ("pcm_s16le", "s16")),  # u8 widens to s16 exactly
    "s16": (("pcm_s16le", "s16"),),
    "s32": (("pcm_s32le", "s32"),),
    "s64": (("pcm_s64le", "s64"),),
    "flt": (("pcm_f32le", "flt"),),
    "dbl": (("pcm_f64le", "dbl"),),
}
#: Muxers whose native lossless audio is PCM (QuickTime); the others prefer FLAC.
PCM_FIRST_MUXERS = ("mov",)
#: Text subtitle codecs to try, in order of preference, per muxer (the first one accepted is used).
TEXT_SUBTITLE_CODECS = {"mov": ("mov_text",), "mp4": ("mov_text",), "matroska": ("ass", "subrip")}


@dataclass
class Notes:
    """Things a render could not carry over exactly, each said once."""

    items: list[str] = field(default_factory=list)

    def add(self, text: str) -> None:
        if text not in self.items:
            self.items.append(text)


def _trial(format_name: str, add: Callable[[av.container.OutputContainer], object]) -> str | None:
    """Why the ``format_name`` muxer refuses the stream ``add`` creates (a header in memory), or None."""
    import av.logging

    with FFMPEG_LOGGING:  # no decoder is closed on another thread while FFmpeg logs into Python
        trial = av.open(io.BytesIO(), mode="w", format=format_name)
        level, skip = av.logging.get_level(), av.logging.get_skip_repeated()
        # While FFmpeg logs into Python, freeing a decoded picture (which releases the GIL) can meet a
        # codec thread logging: collect garbage first and not during the trial, so no picture is freed
        # by the collector inside this window.
        gc.collect()
        collecting = gc.isenabled()
        gc.disable()
        av.logging.set_level(av.logging.ERROR)  # FFmpeg's reason is only kept while errors are logged,
        av.logging.set_skip_repeated(False)  # and the same refusal may come for every clip of a batch
        try:
            with av.logging.Capture() as logs:
                add(trial)
                trial.start_encoding()
        except (ValueError, av.error.FFmpegError) as err:
            reasons = [message.strip() for _, _, message in logs if message.strip()]
            return reasons[-1] if reasons else str(err)
        finally:
            av.logging.set_level(level)
            av.logging.set_skip_repeated(skip)
            if collecting:
                gc.enable()
            try:
                trial.close()
            except (ValueError, av.error.FFmpegError):
                pass  # an unfinished in-memory trial; nothing to clean up
            del trial  # freed here, inside the lock
    return None


def muxer_refusal(format_name: str, stream: av.stream.Stream) -> str | None:
    """Why the ``format_name`` muxer refuses to copy ``stream``, or None when it takes it.

    Asking the muxer itself is the only reliable test: its codec tables are not the whole story
    (QuickTime takes AMR but Opus only in MP4 mode, which only writing a header tells).
    """
    return _trial(format_name, lambda out: out.add_stream_from_template(stream))


def lossless_audio_codecs(sample_format: str, format_name: str) -> list[tuple[str, str]]:
    """(codec, sample format) pairs that keep decoded samples of ``sample_format`` exactly, best first.

    PCM of the same sample type always does; FLAC does for samples of up to 16 bits (wider ones
    may need FFmpeg's experimental 32-bit FLAC). 8-bit unsigned samples widen to 16 bits exactly.

    Args:
        sample_format: the decoder's sample format (``fltp``, ``s16``, ...).
        format_name: the output muxer (QuickTime prefers PCM, the others FLAC).
    """
    packed = sample_format[:-1] if sample_format.endswith("p") else sample_format
    pcm = list(PCM_CODECS.get(packed, ()))
    flac = [("flac", "s16")] if _INT_SAMPLE_BITS.get(packed, FLAC_MAX_BITS + 1) <= FLAC_MAX_BITS else []
    return pcm + flac if format_name in PCM_FIRST_MUXERS else flac + pcm


class _Route:
    """How one source stream reaches the output: copied packets, or decoded and encoded again."""

    def __init__(self, source: av.stream.Stream, output: av.stream.Stream) -> None:
        self.source = source
        self.output = output

    def put(self, packet: av.Packet, shift: int, out: av.container.OutputContainer) -> None:
        """Mux ``packet`` (already in the kept span; ``shift`` in its time base is to be subtracted)."""
        if packet.pts is not None:
            packet.pts -= shift
        if packet.dts is not None:
            packet.dts -= shift
        packet.stream = self.output
        out.mux(packet)

    def flush(self, out: av.container.OutputContainer) -> None:
        """Mux whatever the route still holds (a copy holds nothing)."""


class _AudioTranscode(_Route):
    """Decode audio packets and encode the samples exactly (PCM or FLAC).

    Output timestamps count samples from the first kept sample's own time, so the stream starts
    where the source's did and no sample is added or lost.
    """

    def __init__(self, source: av.stream.Stream, output: av.stream.Stream) -> None:
        super().__init__(source, output)
        self._rate = output.codec_context.sample_rate
        self._next: int | None = None

    def _encode(self, frame: av.AudioFrame | None, out: av.container.OutputContainer) -> None:
        for packet in self.output.encode(frame):
            out.mux(packet)

    def put(self, packet: av.Packet, shift: int, out: av.container.OutputContainer) -> None:
        tb = Fraction(packet.time_base)
        try:
            frames = self.source.codec_context.decode(packet)
        except av.error.InvalidDataError:
            return  # a damaged packet holds no samples to keep
        for frame in frames:
            if self._next is None:
                start = frame.pts if frame.pts is not None else packet.pts
                self._next = max(0, round((start - shift) * tb * self._rate)) if start is not None else 0
            frame.pts = self._next
            frame.time_base = Fraction(1, self._rate)
            self._next += frame.samples
            self._encode(frame, out)

    def flush(self, out: av.container.OutputContainer) -> None:
        try:
            for frame in self.source.codec_context.decode(None):
                frame.pts = self._next or 0
                frame.time_base = Fraction(1, self._rate)
                self._next = (self._next or 0) + frame.samples
                self._encode(frame, out)
        except av.error.FFmpegError:
            pass  # a damaged tail: keep what was decoded
        self._encode(None, out)


class _SubtitleTranscode(_Route):
    """Decode text subtitle packets and encode the same events in the container's text codec."""

    def put(self, packet: av.Packet, shift: int, out: av.container.OutputContainer) -> None:
        subtitles = self.source.codec_context.decode2(packet)
        if subtitles is None:
            return
        encoded = self.output.codec_context.encode_subtitle(subtitles)
        encoded.pts = packet.pts - shift if packet.pts is not None else None
        encoded.dts = encoded.pts
        encoded.duration = packet.duration
        encoded.time_base = packet.time_base
        encoded.stream = self.output
        out.mux(encoded)


def _audio_route(stream: av.stream.Stream, out: av.container.OutputContainer) -> tuple[str, Callable] | None:
    cc = stream.codec_context
    if cc.format is None or not cc.sample_rate:
        return None
    for codec, sample_format in lossless_audio_codecs(cc.format.name, out.format.name):
        def add(container, codec=codec, sample_format=sample_format):
            return container.add_stream(codec, rate=cc.sample_rate, layout=cc.layout, format=sample_format)

        if _trial(out.format.name, add) is None:
            return codec, add
    return None


def _subtitle_route(stream: av.stream.Stream, out: av.container.OutputContainer) -> tuple[str, Callable] | None:
    cc = stream.codec_context
    if cc is None or not cc.codec.text_sub:
        return None
    for codec in TEXT_SUBTITLE_CODECS.get(out.format.name, ()):
        def add(container, codec=codec):
            ostream = container.add_stream(codec)
            ostream.codec_context.subtitle_header = cc.subtitle_header
            return ostream

        if _trial(out.format.name, add) is None:
            return codec, add
    return None


def _describe_loss(stream: av.stream.Stream) -> str:
    if stream.type == "audio":
        return "its decoded samples"
    return "the text, styling and timing of every event"


class StreamCopier:
    """Carries a source's non-rendered streams into ``out``, in step with the video.

    Opens its own read-only demuxer over the source, so memory stays bounded by the lookahead.
    Only packets whose time falls in ``[start, stop)`` (seconds) are carried, shifted by ``-start``.
    """

    def __init__(self, source: MediaInfo, out: av.container.OutputContainer, notes: Notes,
                 start: Fraction | None, stop: Fraction | None) -> None:
        self._start = start
        self._stop = stop
        self._routes: dict[int, _Route] = {}
        self._container = None
        self._packets = None
        self._pending: av.Packet | None = None
        self._done = False
        if not source.streams or source.is_sequence:
            self._done = True
            return
        container, _, _ = open_input(source.path)
        main = primary_video_stream(container)
        wanted = []
        muxer = out.format.name
        for stream in container.streams:
            if stream.index == main.index:
                continue
            cc = stream.codec_context
            name = cc.codec.canonical_name if cc is not None else "none"
            tag = (getattr(cc, "codec_tag", "") or "") if cc is not None else ""
            if stream.type == "data" and (tag == "tmcd" or name == "none"):
                continue  # timecode tracks are rewritten from the timecode metadata
            label = f"{stream.type} stream #{stream.index} ({name})"
            refusal = muxer_refusal(muxer, stream)
            route: _Route | None = None
            if refusal is None:
                try:
                    route = _Route(stream, out.add_stream_from_template(stream))
                except (ValueError, av.error.FFmpegError) as err:
                    refusal = str(err)
                else:
                    if stream.type == "video":
                        notes.add(f"copied video stream #{stream.index} ({name}) as it is: "
                                  f"only stream #{main.index} is rendered")
            if route is None:
                route = self._transcode(stream, out, label, refusal, notes)
            if route is None:
                continue
            for key, value in stream.metadata.items():
                if key.lower() not in DERIVED_STREAM_TAGS:
                    route.output.metadata[key] = value
            route.output.disposition = stream.disposition
            self._routes[stream.index] = route
            wanted.append(stream)
        if not wanted:
            container.close()
            self._done = True
            return
        self._container = container
        self._packets = container.demux(wanted)

    @staticmethod
    def _transcode(stream: av.stream.Stream, out: av.container.OutputContainer, label: str, refusal: str,
                   notes: Notes) -> _Route | None:
        """A lossless transcode of a stream the muxer will not copy, or None (dropped, with a note)."""
        found = None
        if stream.type == "audio":
            found = _audio_route(stream, out)
        elif stream.type == "subtitle":
            found = _subtitle_route(stream, out)
        if found is None:
            why = {"audio": "no lossless audio codec of its samples is taken either",
                   "subtitle": "it is not a text subtitle the container's text codec can carry",
                   }.get(stream.type, f"a {stream.type} stream is only ever copied")
            notes.add(f"dropped {label}: {refusal}; {why}")
            return None
        codec, add = found
        try:
            output = add(out)
        except (ValueError, av.error.FFmpegError) as err:
            notes.add(f"dropped {label}: {refusal}; transcoding to {codec} failed: {err}")
            return None
        stream.codec_context.thread_type = "NONE"
        notes.add(f"transcoded {label} losslessly to {codec}, {_describe_loss(stream)} kept exactly: "
                  f"the {out.format.name} muxer does not take it as it is ({refusal})")
        kind = _AudioTranscode if stream.type == "audio" else _SubtitleTranscode
        return kind(stream, output)

    def set_stop(self, stop: Fraction | None) -> None:
        self._stop = stop

    @property
    def copied(self) -> int:
        """Streams carried (copied or transcoded)."""
        return len(self._routes)

    def _time(self, packet: av.Packet) -> Fraction | None:
        ts = packet.dts if packet.dts is not None else packet.pts
        return None if ts is None else ts * Fraction(packet.time_base)

    def pump(self, until: Fraction | None, out: av.container.OutputContainer) -> None:
        """Mux carried packets whose output time is < ``until`` (``None``: everything left)."""
        while not self._done:
            packet = self._pending
            if packet is None:
                try:
                    packet = next(self._packets)
                except (StopIteration, av.error.EOFError, av.error.FFmpegError):
                    self._finish(out)  # the end, or a damaged tail: keep what was carried
                    return
            if packet.size == 0:
                self._pending = None
                continue
            t = self._time(packet)  # source time
            t_out = t - self._start if t is not None and self._start is not None else t
            if until is not None and t_out is not None and t_out >= until:
                self._pending = packet
                return
            self._pending = None
            if t is not None and self._stop is not None and t >= self._stop:
                continue
            shift = 0
            if t is not None and self._start is not None:
                if t < self._start:
                    continue
                shift = round(self._start / Fraction(packet.time_base))
            self._routes[packet.stream_index].put(packet, shift, out)

    def _finish(self, out: av.container.OutputContainer) -> None:
        for route in self._routes.values():
            route.flush(out)
        self.close()

    def close(self) -> None:
        self._done = True
        if self._container is not None:
            self._container.close()
            self._container = None
