"""Named subjects: the small interface between focus planning and an open-vocabulary detector.

Planning stays pure: a :class:`~bokehfx.focus.plan.SubjectTarget` is plain text, and the plan
evaluator asks a :class:`SubjectLocator` where that text is in a frame. The detector behind it
(:class:`bokehfx.detect.owl.OwlDetector`, OWL-ViT / OWLv2 through transformers) and its cache
(:class:`bokehfx.pipeline.subjects.CachedLocator`) live outside the planning code; tests may pass any
object with a ``locate`` method.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Optional, Protocol, runtime_checkable

from bokehfx.errors import UsageError


@dataclass(frozen=True)
class Detection:
    """Where a subject is: a box ``(x0, y0, x1, y1)`` normalized like every focus coordinate
    (0, 0 = centre of the top-left pixel, 1, 1 = centre of the bottom-right pixel) and the
    detector's confidence ``score`` in [0, 1]."""

    box: tuple[float, float, float, float]
    score: float

    def __post_init__(self) -> None:
        box = tuple(float(v) for v in self.box)
        if len(box) != 4 or not all(math.isfinite(v) and 0.0 <= v <= 1.0 for v in box):
            raise UsageError(f"a detection box must be four numbers in [0, 1], got {self.box!r}")
        if not (box[2] > box[0] and box[3] > box[1]):
            raise UsageError(f"a detection box must have x1 > x0 and y1 > y0, got {self.box!r}")
        object.__setattr__(self, "box", box)

    @property
    def centre(self) -> tuple[float, float]:
        """The box's centre, normalized."""
        x0, y0, x1, y1 = self.box
        return (x0 + x1) / 2.0, (y0 + y1) / 2.0

    def to_list(self) -> list[float]:
        """``[x0, y0, x1, y1, score]`` (JSON)."""
        return [*self.box, float(self.score)]


@runtime_checkable
class SubjectLocator(Protocol):
    """Finds a named subject in one frame."""

    def locate(self, text: str, image: Any, frame: int) -> Optional[Detection]:
        """The best box for ``text`` in ``image`` (``(H, W, 3)`` RGB, uint8 or linear float), frame
        index ``frame`` of the clip; None when the subject is not in the frame."""
        ...


__all__ = ["Detection", "SubjectLocator"]
