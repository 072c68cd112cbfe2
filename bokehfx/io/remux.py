"""Joining rendered chunks into one movie by remuxing: no picture is decoded or encoded again.

Each chunk is a movie holding only rendered video, stamped with the source's own timestamps.
ProRes is intra-frame and every H.264 chunk is a closed group of pictures (a fresh encoder starts
each with an IDR frame), so the chunks' packets laid end to end are a valid stream. They go through
the same :class:`~bokehfx.io.sink.MovieSink` a one-shot render uses, which sets up the stream the
same way and copies audio, subtitles, data, timecode and metadata in step with the video.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Iterable, Iterator

import av

from bokehfx.errors import CorruptMediaError
from bokehfx.io.paths import OutputTarget
from bokehfx.io.probe import MediaInfo
from bokehfx.io.sink import COPY_LOOKAHEAD_S, EncodeSettings, MovieSink


#: Bitstream filters that turn a container's stored form of a codec back into the form its encoder
#: hands to a muxer: the sink's muxer was set up by an encoder that writes H.264 as an Annex B
#: byte stream (start codes), and converts it to length-prefixed NAL units itself, as it did for
#: the chunk.
TO_ENCODER_FORM = {"h264": "h264_mp4toannexb", "hevc": "hevc_mp4toannexb"}


def chunk_packets(path: str | Path) -> Iterator[av.Packet]:
    """The encoded pictures of a chunk's video stream, in decode order, as their encoder wrote them."""
    from av.bitstream import BitStreamFilterContext

    try:
        container = av.open(str(path))
    except av.error.FFmpegError as err:
        raise CorruptMediaError(f"chunk {str(path)!r} cannot be read: {err}") from err
    try:
        stream = container.streams.video[0]
        name = stream.codec_context.name
        bsf = BitStreamFilterContext(TO_ENCODER_FORM[name], in_stream=stream) if name in TO_ENCODER_FORM else None
        for packet in container.demux(stream):
            if bsf is not None:
                yield from (p for p in bsf.filter(packet if packet.size else None) if p.size)
            elif packet.size:
                yield packet
    finally:
        container.close()


def count_chunk_frames(path: str | Path) -> int:
    """Pictures in a chunk (every packet of an intra or closed-GOP chunk is one picture)."""
    return sum(1 for _ in chunk_packets(path))


def join_chunks(target: OutputTarget, source: MediaInfo, chunks: Iterable[Path], *,
                settings: EncodeSettings | None = None, start_index: int = 0, start_time: Fraction | None = None,
                end_time: Fraction | None = None) -> tuple[int, list[str]]:
    """Write ``target`` from ``chunks`` (in order) and the source's other streams; atomic like any render.

    Args:
        target: the final output (a movie).
        source: the probed source clip.
        chunks: chunk files in frame order.
        settings: the encoder settings the chunks were made with (the stream is declared with them).
        start_index, start_time: as for a one-shot render of a ``--frames`` range (timecode moves
            on, timestamps and other streams shift back); ``None`` keeps the source's timing.
        end_time: source time where the rendered range ends (other streams are cut there), or
            ``None`` when the render runs to the end of the clip.

    Returns:
        The number of pictures written and the sink's notes.
    """
    lookahead = 0 if end_time is not None else COPY_LOOKAHEAD_S
    sink = MovieSink(target, source, settings=settings, start_index=start_index, start_time=start_time,
                     copy_lookahead=lookahead)
    with sink:
        for chunk in chunks:
            for packet in chunk_packets(chunk):
                sink.write_packet(packet)
        if end_time is not None:
            sink.end_streams_at(end_time)
    return sink.frames_written, list(sink.notes.items)


__all__ = ["chunk_packets", "count_chunk_frames", "join_chunks"]
