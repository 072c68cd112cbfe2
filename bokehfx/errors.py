"""The one exception family of bokehfx.

Every error that bokehfx raises on purpose derives from :class:`BokehfxError`. Each concrete
type also subclasses the builtin that best describes it (``ValueError``, ``FileNotFoundError``,
...), so callers that only know the builtins still catch them, in the manner of PyAV's
``InvalidDataError(FFmpegError, ValueError)``.

The CLI maps every :class:`BokehfxError` to exit status 2 and a single ``error:`` line.
"""

from __future__ import annotations


class BokehfxError(Exception):
    """Base of all bokehfx errors. ``str(err)`` is a complete, user-facing sentence."""


class UsageError(BokehfxError, ValueError):
    """A bad argument or option value (names the argument and the value)."""


class InputNotFoundError(BokehfxError, FileNotFoundError):
    """An input path does not exist."""


class UnsupportedMediaError(BokehfxError, ValueError):
    """The input exists but is not media bokehfx can use (a directory, no video stream, unknown format)."""


class CorruptMediaError(BokehfxError, ValueError):
    """The media is damaged: truncated, invalid data, undecodable."""


class OutputExistsError(BokehfxError, FileExistsError):
    """The output exists and ``force`` was not given."""


class OutputError(BokehfxError, OSError):
    """The output cannot be written (bad extension, codec/container mismatch, unwritable place)."""


class ModelNotAvailableError(BokehfxError, FileNotFoundError):
    """Model weights are not present locally and cannot be downloaded."""


class NotImplementedYetError(BokehfxError, NotImplementedError):
    """A documented command or option that has not been built yet."""


class TimelineError(UsageError):
    """A timeline file cannot be read or holds values bokehfx cannot use (names the file and the part)."""


class TrackLostError(BokehfxError, RuntimeError):
    """A tracked focus point was lost (names the frame, the point and why)."""


__all__ = [
    "BokehfxError",
    "CorruptMediaError",
    "InputNotFoundError",
    "ModelNotAvailableError",
    "NotImplementedYetError",
    "OutputError",
    "OutputExistsError",
    "TimelineError",
    "TrackLostError",
    "UnsupportedMediaError",
    "UsageError",
]
