"""What a path names: a video file, an image sequence pattern or a still, and what to write there."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from pathlib import Path

from bokehfx.errors import InputNotFoundError, OutputError, UnsupportedMediaError, UsageError

#: ``%d`` or ``%0Nd``: FFmpeg's image2 pattern syntax for numbered frames.
SEQUENCE_PATTERN = re.compile(r"%0?(\d*)d")

IMAGE_EXTENSIONS = {".png", ".tif", ".tiff", ".exr", ".jpg", ".jpeg", ".dpx", ".bmp", ".pgm", ".ppm", ".webp"}
#: Image-sequence formats bokehfx can write.
SEQUENCE_OUTPUT_EXTENSIONS = {".png", ".tif", ".tiff", ".exr"}


class Codec(str, enum.Enum):
    """Output video codecs for movie files."""

    prores_hq = "prores_hq"
    prores_4444 = "prores_4444"
    h264 = "h264"


#: Default codec for each movie container bokehfx writes.
MOVIE_DEFAULT_CODEC = {".mov": Codec.prores_hq, ".mp4": Codec.h264, ".m4v": Codec.h264, ".mkv": Codec.h264}


def is_sequence_pattern(path: str | Path) -> bool:
    """True when ``path`` contains a ``%d`` / ``%0Nd`` frame-number field."""
    return SEQUENCE_PATTERN.search(Path(path).name) is not None


def sequence_files(pattern: str | Path, *, contiguous: bool = False) -> list[tuple[int, Path]]:
    """The existing files of a ``%0Nd`` pattern, as (frame number, path), sorted by number.

    With ``contiguous``, only the first unbroken run of numbers: what FFmpeg's image2 demuxer
    reads (it stops at the first missing number).
    """
    pattern = Path(pattern)
    match = SEQUENCE_PATTERN.search(pattern.name)
    if match is None:
        raise UsageError(f"{str(pattern)!r} is not an image-sequence pattern (expected e.g. 'frame.%04d.exr')")
    width = match.group(1)
    head, tail = pattern.name[: match.start()], pattern.name[match.end():]
    digits = rf"(\d{{{int(width)},}})" if width else r"(\d+)"
    rx = re.compile(re.escape(head) + digits + re.escape(tail) + r"\Z")
    folder = pattern.parent
    if not folder.is_dir():
        return []
    found = sorted((int(m.group(1)), child) for child in folder.iterdir()
                   if (m := rx.match(child.name)) is not None and child.is_file())
    if contiguous:
        for i in range(1, len(found)):
            if found[i][0] != found[i - 1][0] + 1:
                return found[:i]
    return found


def check_input(path: str | Path) -> Path:
    """Validate an input path (file, or a sequence pattern with at least one file)."""
    p = Path(path)
    if is_sequence_pattern(p):
        if not sequence_files(p):
            raise InputNotFoundError(f"no files match the image-sequence pattern {str(p)!r}")
        return p
    if not p.exists():
        raise InputNotFoundError(f"input {str(p)!r} does not exist")
    if p.is_dir():
        raise UnsupportedMediaError(
            f"input {str(p)!r} is a directory; give a video file or an image-sequence pattern such as "
            f"'{p / 'frame.%04d.exr'}'"
        )
    if not p.is_file():
        raise UnsupportedMediaError(f"input {str(p)!r} is not a regular file")
    return p


@dataclass(frozen=True)
class OutputTarget:
    """Where and how a render is written."""

    path: Path
    is_sequence: bool
    extension: str
    codec: Codec | None  # movie outputs only


def output_target(path: str | Path, codec: Codec | str | None = None) -> OutputTarget:
    """Decide the writer from the output path's extension (and ``codec`` for movie files).

    ``.mov`` -> ProRes 422 HQ (or ``prores_4444``/``h264``), ``.mp4``/``.m4v``/``.mkv`` -> H.264,
    ``name.%04d.png|tif|tiff|exr`` -> 16-bit PNG/TIFF or half-float EXR sequences.
    """
    p = Path(path)
    ext = p.suffix.lower()
    if is_sequence_pattern(p):
        if ext not in SEQUENCE_OUTPUT_EXTENSIONS:
            raise OutputError(
                f"cannot write image sequences with extension {ext or '(none)'!r}; "
                f"use one of {', '.join(sorted(SEQUENCE_OUTPUT_EXTENSIONS))}"
            )
        if codec is not None:
            raise UsageError(f"--codec {Codec(codec).value} applies to movie files, not to the sequence {str(p)!r}")
        return OutputTarget(p, True, ext, None)
    if ext in IMAGE_EXTENSIONS:
        raise OutputError(
            f"output {str(p)!r} is a single image; write an image sequence with a frame-number field, "
            f"e.g. '{p.with_name(p.stem + '.%04d' + ext)}'"
        )
    if ext not in MOVIE_DEFAULT_CODEC:
        raise OutputError(
            f"unknown output extension {ext or '(none)'!r} for {str(p)!r}; use .mov (ProRes), .mp4 (H.264), "
            ".mkv, or an image-sequence pattern such as out.%04d.exr"
        )
    chosen = Codec(codec) if codec is not None else MOVIE_DEFAULT_CODEC[ext]
    if chosen in (Codec.prores_hq, Codec.prores_4444) and ext not in (".mov", ".mkv"):
        raise OutputError(f"--codec {chosen.value} needs a .mov (or .mkv) output, not {ext!r}")
    return OutputTarget(p, False, ext, chosen)
