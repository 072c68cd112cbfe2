"""The focus plan: keyframes of (target, blur) at exact times, interpolated per frame.

A :class:`FocusPlan` is plain data. It evaluates to per-frame ``(F, K)`` once disparity is known:
``F`` is the in-focus normalized disparity (0 = farthest, 1 = nearest) and ``K`` the blur
strength, in the renderer's convention *defocus radius in pixels = K * |disparity - F|*.

Targets (what a keyframe focuses on):

- :class:`DisparityTarget`: a normalized disparity value in [0, 1].
- :class:`DepthTarget`: a metric depth in metres; needs ``depth_to_disparity`` at evaluation.
- :class:`PointTarget`: an image point, read as the median disparity in a small window around it
  and followed through the shot by point tracking (see :mod:`bokehfx.focus.tracking`).
- :class:`RegionTarget`: a box or a mask, read as the median disparity inside it.
- :class:`SubjectTarget`: a named subject ("the dog"), found by an open-vocabulary detector,
  read as the median disparity inside its box and tracked through the shot (re-detected when
  the track is lost; see :class:`bokehfx.focus.tracking.SubjectTracker`).
- :class:`SymbolicTarget`: ``near`` / ``middle`` / ``far``, read from each frame's disparity
  distribution as the :data:`SYMBOLIC_PERCENTILES` percentile (near = 90th, middle = 50th,
  far = 10th percentile of the frame's disparity).

Blur (how shallow): :class:`Blur` holds ``K``. Words map to :data:`BLUR_LABELS`
(small = 10, medium = 20, large = 40). An f-number ``N`` maps to ``K = K_AT_F1 / N`` with
:data:`K_AT_F1` = 56, so f/1.4 is large (40), f/2.8 medium (20), f/5.6 small (10): the blur is
inversely proportional to the f-number, as a thin lens's circle of confusion
(``c = f^2 / N * |1/s_focus - 1/s|``, i.e. proportional to the disparity difference over ``N``).

Interpolation (:class:`Interp`), stored on the keyframe it *arrives at*:

- ``hold``: the previous keyframe's values stay until this keyframe's frame, then cut.
- ``linear``: straight blend over the frames between the two keyframes.
- ``ease-in-out``: smoothstep blend ``3w^2 - 2w^3`` (zero speed at both ends, like a hand pull).

``F`` and ``K`` blend with the same weight; targets are resolved on the current frame first, so a
pull from ``near`` to a tracked point blends two live readings.

Times are exact :class:`fractions.Fraction` seconds from the first frame of the clip, or (for
keyframes whose ``relative`` flag is set, e.g. "transitions from near to far" with no times)
fractions of the clip from its first frame (0) to its last frame (1).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from enum import Enum
from fractions import Fraction
from typing import Any, Callable, Iterable, Mapping, Optional, Sequence, Union

from bokehfx.errors import UsageError
from bokehfx.timecode import RateLike, exact_rate, exact_seconds, frame_at, seconds_at

#: Percentile of a frame's disparity that each symbolic target reads (disparity 1 = nearest).
SYMBOLIC_PERCENTILES: Mapping[str, float] = {"near": 90.0, "middle": 50.0, "far": 10.0}
#: K for each blur word.
BLUR_LABELS: Mapping[str, float] = {"small": 10.0, "medium": 20.0, "large": 40.0}
#: ``K = K_AT_F1 / N`` for an f-number ``N``.
K_AT_F1 = 56.0
#: The plan used when nothing says otherwise: focus on the middle, medium blur.
DEFAULT_TARGET_NAME = "middle"
DEFAULT_BLUR_LABEL = "medium"
#: Half-size of the window a point reads, as a fraction of the shorter side of the disparity map
#: (at least :data:`MIN_POINT_RADIUS_PX`).
POINT_WINDOW_FRACTION = 0.01
MIN_POINT_RADIUS_PX = 1
#: Disparity maps larger than this many pixels are read on a regular subsample for percentiles.
MAX_QUANTILE_SAMPLES = 1 << 20


class Interp(str, Enum):
    """How the plan arrives at a keyframe from the previous one."""

    HOLD = "hold"
    LINEAR = "linear"
    EASE = "ease-in-out"

    @classmethod
    def parse(cls, value: Union[str, "Interp"], name: str = "interp") -> "Interp":
        """Accept ``hold``, ``linear``, ``ease-in-out`` (also ``ease``, ``ease_in_out``, ``smooth``)."""
        if isinstance(value, Interp):
            return value
        text = str(value).strip().lower().replace("_", "-")
        aliases = {"ease": cls.EASE, "smooth": cls.EASE, "ease-in-out": cls.EASE, "easeinout": cls.EASE,
                   "hold": cls.HOLD, "step": cls.HOLD, "cut": cls.HOLD, "linear": cls.LINEAR}
        if text not in aliases:
            raise UsageError(f"{name} must be one of hold, linear, ease-in-out, got {value!r}")
        return aliases[text]

    def weight(self, w: float) -> float:
        """The blend weight of the arriving keyframe at fraction ``w`` of the way (0 <= w < 1)."""
        if self is Interp.HOLD:
            return 0.0
        if self is Interp.LINEAR:
            return w
        return w * w * (3.0 - 2.0 * w)


# --------------------------------------------------------------------------------------- targets


@dataclass(frozen=True)
class DisparityTarget:
    """Focus at a normalized disparity ``value`` in [0, 1] (1 = nearest)."""

    value: float
    kind = "disparity"

    def __post_init__(self) -> None:
        if not (isinstance(self.value, (int, float)) and 0.0 <= float(self.value) <= 1.0):
            raise UsageError(f"focus disparity must be a number in [0, 1], got {self.value!r}")

    def describe(self) -> Any:
        return float(self.value)


@dataclass(frozen=True)
class DepthTarget:
    """Focus at a metric depth in metres (needs metric depth at evaluation)."""

    metres: float
    kind = "depth"

    def __post_init__(self) -> None:
        if not (isinstance(self.metres, (int, float)) and math.isfinite(self.metres) and self.metres > 0):
            raise UsageError(f"focus depth must be a positive number of metres, got {self.metres!r}")

    def describe(self) -> Any:
        return float(self.metres)


@dataclass(frozen=True)
class PointTarget:
    """Focus on the subject under an image point, tracked through the shot.

    ``x``, ``y`` are normalized (0, 0 = centre of the top-left pixel, 1, 1 = centre of the
    bottom-right pixel) unless ``pixels`` is true, in which case they are pixel coordinates of
    the frames given to the evaluator. With ``track=False`` the point stays where it is (a
    locked-off shot) and no frames are needed.
    """

    x: float
    y: float
    pixels: bool = False
    track: bool = True
    kind = "point"

    def __post_init__(self) -> None:
        for axis, v in (("x", self.x), ("y", self.y)):
            if not (isinstance(v, (int, float)) and math.isfinite(v)):
                raise UsageError(f"focus point {axis} must be a number, got {v!r}")
            if not self.pixels and not 0.0 <= v <= 1.0:
                raise UsageError(f"focus point {axis} must be in [0, 1] (normalized; write px for "
                                 f"pixels), got {v!r}")
            if self.pixels and v < 0:
                raise UsageError(f"focus point {axis} in pixels must not be negative, got {v!r}")

    def describe(self) -> Any:
        return {"x": float(self.x), "y": float(self.y), "units": "px" if self.pixels else "normalized",
                "track": self.track}


@dataclass(frozen=True)
class RegionTarget:
    """Focus on a region: a box ``(x0, y0, x1, y1)`` (normalized, or pixels) or a boolean mask."""

    box: Optional[tuple[float, float, float, float]] = None
    mask: Any = field(default=None, compare=False, repr=False)
    pixels: bool = False
    kind = "region"

    def __post_init__(self) -> None:
        if (self.box is None) == (self.mask is None):
            raise UsageError("a focus region needs exactly one of box=(x0, y0, x1, y1) or mask")
        if self.box is not None:
            box = tuple(self.box)
            if len(box) != 4 or not all(isinstance(v, (int, float)) and math.isfinite(v) for v in box):
                raise UsageError(f"focus region box must be four numbers x0, y0, x1, y1, got {self.box!r}")
            x0, y0, x1, y1 = box
            if not (x1 > x0 and y1 > y0):
                raise UsageError(f"focus region box must have x1 > x0 and y1 > y0, got {self.box!r}")
            if not self.pixels and not all(0.0 <= v <= 1.0 for v in box):
                raise UsageError(f"focus region box must be normalized to [0, 1] (write px for "
                                 f"pixels), got {self.box!r}")
            object.__setattr__(self, "box", tuple(float(v) for v in box))

    def describe(self) -> Any:
        if self.box is not None:
            return {"box": list(self.box), "units": "px" if self.pixels else "normalized"}
        return {"mask": list(getattr(self.mask, "shape", ()))}


@dataclass(frozen=True)
class SymbolicTarget:
    """``near``, ``middle`` or ``far``: a percentile of each frame's disparity."""

    name: str
    kind = "symbolic"

    def __post_init__(self) -> None:
        if self.name not in SYMBOLIC_PERCENTILES:
            raise UsageError(f"symbolic focus must be one of near, middle, far, got {self.name!r}")

    def describe(self) -> Any:
        return self.name


#: Longest subject description accepted, in characters.
MAX_SUBJECT_CHARS = 120


@dataclass(frozen=True)
class SubjectTarget:
    """A named subject ("the dog", "woman in red"): found in the frame by an open-vocabulary
    detector, read as the median disparity inside its box, and tracked through the shot (see
    :class:`bokehfx.focus.subjects.SubjectLocator`)."""

    text: str
    kind = "subject"

    def __post_init__(self) -> None:
        if not isinstance(self.text, str) or not self.text.strip() or len(self.text) > MAX_SUBJECT_CHARS:
            raise UsageError(f"a focus subject must be a short description like 'the dog', got {self.text!r}")
        object.__setattr__(self, "text", " ".join(self.text.split()))

    def describe(self) -> Any:
        return self.text


Target = Union[DisparityTarget, DepthTarget, PointTarget, RegionTarget, SymbolicTarget, SubjectTarget]


def target_kind(target: Target) -> str:
    """One of near, middle, far, disparity, depth, point, region, subject."""
    return target.name if isinstance(target, SymbolicTarget) else target.kind


# ------------------------------------------------------------------------------------------ blur


@dataclass(frozen=True)
class Blur:
    """Blur strength ``k`` (defocus radius in pixels per unit of disparity difference)."""

    k: float

    def __post_init__(self) -> None:
        if not (isinstance(self.k, (int, float)) and math.isfinite(self.k) and self.k >= 0):
            raise UsageError(f"blur must be a number K >= 0, got {self.k!r}")
        object.__setattr__(self, "k", float(self.k))

    @classmethod
    def from_label(cls, label: str) -> "Blur":
        """``small`` / ``medium`` / ``large`` (or ``none``) to K via :data:`BLUR_LABELS`."""
        text = label.strip().lower()
        if text == "none":
            return cls(0.0)
        if text not in BLUR_LABELS:
            raise UsageError(f"blur label must be one of none, small, medium, large, got {label!r}")
        return cls(BLUR_LABELS[text])

    @classmethod
    def from_f_number(cls, n: float) -> "Blur":
        """``K = K_AT_F1 / N``."""
        if not (isinstance(n, (int, float)) and math.isfinite(n) and n > 0):
            raise UsageError(f"f-number must be a positive number, got {n!r}")
        return cls(K_AT_F1 / float(n))

    @property
    def label(self) -> str:
        """The nearest word (in log K): none, small, medium or large."""
        if self.k == 0:
            return "none"
        return min(BLUR_LABELS, key=lambda name: abs(math.log(self.k / BLUR_LABELS[name])))

    @property
    def f_number(self) -> Optional[float]:
        """The f-number that gives this K, or None for no blur."""
        return None if self.k == 0 else K_AT_F1 / self.k


def parse_blur(value: Union[int, float, str, Blur], name: str = "blur") -> Blur:
    """A blur from a number (K), a word (small / medium / large / none) or an f-number (``f/2.8``)."""
    if isinstance(value, Blur):
        return value
    if isinstance(value, bool):
        raise UsageError(f"{name} must be K, small/medium/large or f/N, got {value!r}")
    if isinstance(value, (int, float)):
        return Blur(float(value))
    text = str(value).strip().lower()
    if text.startswith("f/") or (text.startswith("f") and text[1:2].isdigit()):
        try:
            return Blur.from_f_number(float(text[2:] if text.startswith("f/") else text[1:]))
        except ValueError:
            pass
    elif text in BLUR_LABELS or text == "none":
        return Blur.from_label(text)
    else:
        try:
            return Blur(float(text))
        except ValueError:
            pass
    raise UsageError(f"{name} must be K (a number >= 0), small/medium/large/none or an f-number "
                     f"like f/2.8, got {value!r}")


def parse_target(value: Any, name: str = "focus") -> Target:
    """A target from a disparity number, ``near``/``middle``/``far``, ``"2m"`` (metres) or a target."""
    if isinstance(value, (DisparityTarget, DepthTarget, PointTarget, RegionTarget, SymbolicTarget, SubjectTarget)):
        return value
    if isinstance(value, bool):
        raise UsageError(f"{name} must be a disparity in [0, 1], near/middle/far or metres like 2m, "
                         f"got {value!r}")
    if isinstance(value, (int, float)):
        if not 0.0 <= float(value) <= 1.0:
            raise UsageError(f"{name} must be a disparity in [0, 1], got {value!r}")
        return DisparityTarget(float(value))
    text = str(value).strip().lower()
    if text in SYMBOLIC_PERCENTILES:
        return SymbolicTarget(text)
    try:
        if text.endswith("m"):
            return DepthTarget(float(text[:-1]))
        return parse_target(float(text), name)
    except ValueError:
        raise UsageError(f"{name} must be a disparity in [0, 1], near/middle/far or metres like 2m, "
                         f"got {value!r}") from None


# ------------------------------------------------------------------------------------- keyframes


@dataclass(frozen=True)
class Keyframe:
    """One keyframe: at ``time`` the plan reaches ``target`` with ``blur``.

    Args:
        time (`Fraction`): seconds from the clip's first frame, or, when ``relative``, the
            fraction of the clip (0 = first frame, 1 = last frame).
        target (`Target`): what is in focus.
        blur (`Blur`): how shallow.
        interp (`Interp`): how the plan arrives here from the previous keyframe.
        relative (`bool`): whether ``time`` is a fraction of the clip.
    """

    time: Fraction
    target: Target
    blur: Blur
    interp: Interp = Interp.HOLD
    relative: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "time", exact_seconds(self.time, "keyframe time"))
        object.__setattr__(self, "interp", Interp.parse(self.interp))
        if self.relative and not 0 <= self.time <= 1:
            raise UsageError(f"a relative keyframe time must be in [0, 1], got {self.time}")

    def frame(self, rate: Fraction, frame_count: Optional[int]) -> int:
        """The frame index this keyframe lands on at ``rate`` (clip of ``frame_count`` frames)."""
        if not self.relative:
            return frame_at(self.time, rate)
        if frame_count is None:
            raise UsageError("this focus plan has keyframes placed relative to the clip length "
                             "(e.g. a transition with no times); give the number of frames")
        return frame_at(self.time * max(frame_count - 1, 0), 1)

    def to_dict(self, rate: Optional[Fraction] = None, frame_count: Optional[int] = None) -> dict:
        """A JSON-friendly description (``target`` is one of near, middle, far, disparity, depth,
        point, region, subject)."""
        out: dict[str, Any] = {
            "time": float(self.time) if not self.relative else None,
            "time_exact": f"{self.time.numerator}/{self.time.denominator}" if not self.relative else None,
            "relative_time": float(self.time) if self.relative else None,
            "target": target_kind(self.target),
            "value": self.target.describe(),
            "blur": self.blur.k,
            "blur_label": self.blur.label,
            "interp": self.interp.value,
        }
        if rate is not None and (not self.relative or frame_count is not None):
            out["frame"] = self.frame(rate, frame_count)
        return out


@dataclass(frozen=True)
class ResolvedKeyframe:
    """A keyframe placed on a frame index (``order`` keeps the plan's order for ties)."""

    frame: int
    order: int
    keyframe: Keyframe


def default_keyframe() -> Keyframe:
    """Focus on :data:`DEFAULT_TARGET_NAME` with :data:`DEFAULT_BLUR_LABEL` blur, from the start."""
    return Keyframe(Fraction(0), SymbolicTarget(DEFAULT_TARGET_NAME), Blur.from_label(DEFAULT_BLUR_LABEL))


@dataclass(frozen=True)
class FocusPlan:
    """Keyframes of focus; evaluate with :meth:`evaluate` or stream with :meth:`evaluator`."""

    keyframes: tuple[Keyframe, ...]

    def __post_init__(self) -> None:
        kfs = tuple(self.keyframes)
        if not kfs:
            raise UsageError("a focus plan needs at least one keyframe")
        object.__setattr__(self, "keyframes", kfs)

    @classmethod
    def static(cls, target: Any = DEFAULT_TARGET_NAME, blur: Any = DEFAULT_BLUR_LABEL) -> "FocusPlan":
        """One keyframe at time 0: ``target`` (see :func:`parse_target`) and ``blur`` (see :func:`parse_blur`)."""
        return cls((Keyframe(Fraction(0), parse_target(target), parse_blur(blur)),))

    @property
    def needs_images(self) -> bool:
        """Whether evaluation needs the frames themselves (a point target is tracked)."""
        return any(isinstance(kf.target, PointTarget) and kf.target.track or isinstance(kf.target, SubjectTarget)
                   for kf in self.keyframes)

    @property
    def subjects(self) -> tuple[str, ...]:
        """The named subjects the plan focuses on (each needs a detector), in plan order."""
        return tuple(dict.fromkeys(kf.target.text for kf in self.keyframes if isinstance(kf.target, SubjectTarget)))

    @property
    def needs_frame_count(self) -> bool:
        """Whether some keyframe is placed relative to the clip's length."""
        return any(kf.relative for kf in self.keyframes)

    def with_blur(self, blur: Blur) -> "FocusPlan":
        """The same plan with every keyframe's blur replaced."""
        return FocusPlan(tuple(replace(kf, blur=blur) for kf in self.keyframes))

    def resolve(self, rate: RateLike, frame_count: Optional[int] = None) -> list[ResolvedKeyframe]:
        """Place every keyframe on a frame index, sorted by frame (ties keep plan order)."""
        rate = exact_rate(rate)
        placed = [ResolvedKeyframe(kf.frame(rate, frame_count), i, kf) for i, kf in enumerate(self.keyframes)]
        return sorted(placed, key=lambda r: (r.frame, r.order))

    def to_dict(self, rate: Optional[RateLike] = None, frame_count: Optional[int] = None) -> dict:
        """JSON-friendly: ``{"schema": ..., "keyframes": [...]}``."""
        exact = exact_rate(rate) if rate is not None else None
        return {"schema": PLAN_SCHEMA,
                "keyframes": [kf.to_dict(exact, frame_count) for kf in self.keyframes]}

    def evaluator(self, rate: RateLike, frame_count: Optional[int] = None, **options: Any) -> "PlanEvaluator":
        """A streaming evaluator; see :class:`PlanEvaluator` for ``options``."""
        return PlanEvaluator(self, rate, frame_count, **options)

    def evaluate(self, disparity: Iterable[Any], rate: RateLike, *, images: Optional[Iterable[Any]] = None,
                 frame_count: Optional[int] = None, **options: Any) -> "FocusCurve":
        """Evaluate every frame of a clip (pure: a fresh evaluator each call).

        Args:
            disparity (iterable of `np.ndarray` or `torch.Tensor`): per-frame normalized disparity,
                ``(H, W)`` or ``(1, H, W)``, from the clip's first frame.
            rate (`RateLike`): the clip's frame rate.
            images (iterable of arrays, *optional*): the frames, ``(H, W, 3)`` RGB (uint8, or
                float in [0, 1]); needed when :attr:`needs_images`.
            frame_count (`int`, *optional*): frames in the clip; needed for relative keyframes
                (defaults to the number of disparity maps when they have a length).
            **options: passed to :class:`PlanEvaluator`.

        Returns:
            `FocusCurve`: per-frame F, K, tracked point positions and named subjects' boxes.
        """
        import numpy as np

        if frame_count is None and hasattr(disparity, "__len__"):
            frame_count = len(disparity)  # type: ignore[arg-type]
        ev = self.evaluator(rate, frame_count, **options)
        image_iter = iter(images) if images is not None else None
        results = []
        for disp in disparity:
            image = next(image_iter, None) if image_iter is not None else None
            results.append(ev.push(disp, image))
        return FocusCurve(
            frames=np.array([r.frame for r in results], dtype=np.int64),
            focus=np.array([r.focus for r in results], dtype=np.float64),
            k=np.array([r.k for r in results], dtype=np.float64),
            points=[r.points for r in results],
            boxes=[r.boxes for r in results],
        )


#: Version of the focus plan schema in JSON and in OTIO metadata.
PLAN_SCHEMA = "bokehfx.focus/1"


@dataclass(frozen=True)
class FrameFocus:
    """The plan's values on one frame: ``focus`` (F), ``k`` (K) and tracked points.

    ``points`` maps a keyframe's index in the plan to its normalized ``(x, y)`` on this frame and
    whether its track is lost (held at the last good position); ``boxes`` maps a named subject's
    keyframe to its tracked box ``(x0, y0, x1, y1)``, normalized.
    """

    frame: int
    focus: float
    k: float
    points: Mapping[int, tuple[float, float, bool]] = field(default_factory=dict)
    boxes: Mapping[int, tuple[float, float, float, float]] = field(default_factory=dict)


def stack_focus(results: Sequence[FrameFocus]) -> tuple[Any, Any]:
    """``(F, K)`` as two ``(T,)`` float32 numpy arrays from a window of :class:`FrameFocus`, ready
    to become the renderer's ``focus`` and ``blur`` tensors (``torch.from_numpy(F).to(device)``)."""
    import numpy as np

    return (np.array([r.focus for r in results], dtype=np.float32),
            np.array([r.k for r in results], dtype=np.float32))


@dataclass
class FocusCurve:
    """Per-frame arrays of a whole evaluated clip."""

    frames: Any
    focus: Any
    k: Any
    points: list
    boxes: list = field(default_factory=list)


# ------------------------------------------------------------------------------------ evaluation


def _is_torch(x: Any) -> bool:
    return type(x).__module__.startswith("torch")


def as_disparity_map(disparity: Any) -> Any:
    """One frame's disparity as a 2-D array, left where it is: numpy stays numpy, a torch tensor
    stays on its device (readers slice it there and copy only the values they need)."""
    import numpy as np

    arr = disparity if _is_torch(disparity) else np.asarray(disparity, dtype=np.float32)
    if arr.ndim == 3 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim != 2:
        raise UsageError(f"disparity must be one (H, W) map per frame, got shape {tuple(arr.shape)}")
    return arr


def _host(values: Any) -> Any:
    """A (small) slice of disparity as a flat float64 numpy array of its finite values."""
    import numpy as np

    if _is_torch(values):
        values = values.detach().float().cpu().numpy()
    flat = np.asarray(values, dtype=np.float64).reshape(-1)
    return flat[np.isfinite(flat)]


def _subsample(arr: Any) -> Any:
    step = max(1, math.ceil(math.sqrt(arr.shape[0] * arr.shape[1] / MAX_QUANTILE_SAMPLES)))
    return arr[::step, ::step] if step > 1 else arr


def read_percentile(disparity: Any, percentile: float) -> float:
    """The ``percentile`` of a disparity map's finite values (large maps are subsampled)."""
    import numpy as np

    values = _host(_subsample(disparity))
    if values.size == 0:
        raise UsageError("disparity map has no finite values to focus on")
    return float(np.percentile(values, percentile))


def read_window(disparity: Any, x: float, y: float, radius: int) -> float:
    """The median finite disparity in a ``(2r+1)^2`` window centred on normalized ``(x, y)``."""
    import numpy as np

    h, w = disparity.shape
    cx = int(round(min(max(x, 0.0), 1.0) * (w - 1)))
    cy = int(round(min(max(y, 0.0), 1.0) * (h - 1)))
    patch = _host(disparity[max(cy - radius, 0): cy + radius + 1, max(cx - radius, 0): cx + radius + 1])
    if patch.size == 0:
        raise UsageError(f"no finite disparity around focus point ({x:.3f}, {y:.3f})")
    return float(np.median(patch))


def read_region(disparity: Any, target: RegionTarget, image_size: Optional[tuple[int, int]]) -> float:
    """The median finite disparity inside a region's box or mask."""
    import numpy as np

    h, w = disparity.shape
    if target.mask is not None:
        mask = target.mask
        if tuple(mask.shape) != (h, w):
            raise UsageError(f"focus region mask has shape {tuple(mask.shape)}, the disparity {(h, w)}")
        if _is_torch(disparity):
            import torch

            mask = torch.as_tensor(np.asarray(mask, dtype=bool) if not _is_torch(mask) else mask,
                                   device=disparity.device).bool()
        else:
            mask = np.asarray(mask).astype(bool)
        values = disparity[mask]
    else:
        x0, y0, x1, y1 = target.box  # type: ignore[misc]
        if target.pixels:
            if image_size is None:
                raise UsageError("a focus region in pixels needs the frames' size (pass images)")
            iw, ih = image_size
            x0, x1 = x0 / max(iw - 1, 1), x1 / max(iw - 1, 1)
            y0, y1 = y0 / max(ih - 1, 1), y1 / max(ih - 1, 1)
        c0, c1 = int(math.floor(x0 * (w - 1))), int(math.ceil(x1 * (w - 1))) + 1
        r0, r1 = int(math.floor(y0 * (h - 1))), int(math.ceil(y1 * (h - 1))) + 1
        values = disparity[max(r0, 0):r1, max(c0, 0):c1]
    values = _host(values)
    if values.size == 0:
        raise UsageError("focus region covers no finite disparity")
    return float(np.median(values))


def segment(keys: Sequence[ResolvedKeyframe], index: int) -> tuple[ResolvedKeyframe, Optional[ResolvedKeyframe], float]:
    """The keyframes around frame ``index`` and the blend weight of the second.

    ``a`` is the last keyframe at or before ``index`` (the first keyframe before any), ``b`` the
    next one after it (None past the last), and the weight follows ``b``'s interpolation.
    """
    after = [r for r in keys if r.frame <= index]
    before = [r for r in keys if r.frame > index]
    if not after:
        return before[0], None, 0.0
    a = after[-1]
    b = before[0] if before else None
    if b is None:
        return a, None, 0.0
    return a, b, b.keyframe.interp.weight((index - a.frame) / (b.frame - a.frame))


#: The neutral disparity assumed where no depth is known (``bokehfx plan``): uniform over [0, 1],
#: so a symbolic target reads its percentile: near 0.9, middle 0.5, far 0.1.
NEUTRAL_DISPARITY = "uniform over [0, 1]"


def neutral_value(target: Target) -> Optional[float]:
    """F of a target under :data:`NEUTRAL_DISPARITY`, or None when it needs real depth or frames."""
    if isinstance(target, SymbolicTarget):
        return SYMBOLIC_PERCENTILES[target.name] / 100.0
    if isinstance(target, DisparityTarget):
        return float(target.value)
    return None


def neutral_curve(plan: FocusPlan, rate: RateLike, frame_count: int) -> list[dict]:
    """Per-frame ``{"frame", "time", "focus", "k", "blur_label"}`` without depth.

    ``focus`` uses :func:`neutral_value` (None while a depth, point or region target is involved);
    ``k`` is exact.
    """
    rate = exact_rate(rate)
    keys = plan.resolve(rate, frame_count)
    rows = []
    for index in range(frame_count):
        a, b, weight = segment(keys, index)
        focus = neutral_value(a.keyframe.target)
        k = a.keyframe.blur.k
        if b is not None and weight > 0.0:
            other = neutral_value(b.keyframe.target)
            focus = None if focus is None or other is None else (1.0 - weight) * focus + weight * other
            k = (1.0 - weight) * k + weight * b.keyframe.blur.k
        rows.append({"frame": index, "time": float(seconds_at(index, rate)),
                     "focus": None if focus is None else round(focus, 6), "k": round(k, 6),
                     "blur_label": Blur(k).label})
    return rows


class PlanEvaluator:
    """Evaluates a plan frame by frame, carrying tracking state between windows.

    Feed frames in order with :meth:`push` (one frame) or :meth:`feed` (a window; frames already
    evaluated, as in overlapping windows, are answered from memory without recomputation).

    Args:
        plan (`FocusPlan`): the plan.
        rate (`RateLike`): the clip's frame rate.
        frame_count (`int`, *optional*): frames in the clip (needed for relative keyframes).
        depth_to_disparity (`Callable[[float], float]`, *optional*): metres to normalized
            disparity for this clip's depth; needed for depth targets.
        point_radius (`int`, *optional*): half-size in disparity pixels of the window a point
            reads; defaults to :data:`POINT_WINDOW_FRACTION` of the shorter side.
        on_lost (`str`, *optional*, defaults to ``"raise"``): when a track is lost, ``"raise"``
            :class:`bokehfx.errors.TrackLostError`, or ``"hold"`` the last good position and flag it.
        tracker_options (`dict`, *optional*): passed to :class:`bokehfx.focus.tracking.PointTracker`.
        subjects (`SubjectLocator`, *optional*): finds named subjects (see
            :mod:`bokehfx.focus.subjects`); needed when the plan has a subject target.
        smoothing_seconds (`float`, *optional*, defaults to 0): time constant of a one-pole
            low-pass on *measured* targets (near / middle / far, point, region), against frame-to-
            frame jitter of the depth; ``alpha = 1 - exp(-1 / (smoothing_seconds * rate))``. 0 is off.
    """

    def __init__(self, plan: FocusPlan, rate: RateLike, frame_count: Optional[int] = None, *,
                 depth_to_disparity: Optional[Callable[[float], float]] = None,
                 point_radius: Optional[int] = None, on_lost: str = "raise",
                 tracker_options: Optional[Mapping[str, Any]] = None, smoothing_seconds: float = 0.0,
                 subjects: Any = None) -> None:
        if on_lost not in ("raise", "hold"):
            raise UsageError(f"on_lost must be 'raise' or 'hold', got {on_lost!r}")
        if not (isinstance(smoothing_seconds, (int, float)) and math.isfinite(smoothing_seconds)
                and smoothing_seconds >= 0):
            raise UsageError(f"smoothing_seconds must be a number >= 0, got {smoothing_seconds!r}")
        self.plan = plan
        self.rate = exact_rate(rate)
        self.frame_count = frame_count
        self.depth_to_disparity = depth_to_disparity
        self.point_radius = point_radius
        self.on_lost = on_lost
        self.tracker_options = dict(tracker_options or {})
        self._alpha = 1.0 if smoothing_seconds == 0 else \
            1.0 - math.exp(-1.0 / (float(smoothing_seconds) * float(self.rate)))
        self._smoothed: dict[int, float] = {}
        self.keys = plan.resolve(self.rate, frame_count)
        if depth_to_disparity is None and any(isinstance(r.keyframe.target, DepthTarget) for r in self.keys):
            raise UsageError("the focus plan has a depth in metres but this clip's depth is not "
                             "metric (no depth_to_disparity given)")
        named = [r.keyframe.target.text for r in self.keys if isinstance(r.keyframe.target, SubjectTarget)]
        if named and subjects is None:
            raise UsageError(f"the focus plan names a subject ({named[0]!r}): give a subject detector "
                             "(--subject-model, a hub id or a local folder)")
        self.subjects = subjects
        self._boxes: dict[int, tuple[float, float, float, float]] = {}
        self._frames = [r.frame for r in self.keys]
        # A point keyframe is tracked from its own frame until the next keyframe's frame.
        self._track_span: dict[int, tuple[int, float]] = {}
        for pos, r in enumerate(self.keys):
            if isinstance(r.keyframe.target, PointTarget) and r.keyframe.target.track \
                    or isinstance(r.keyframe.target, SubjectTarget):
                end = self.keys[pos + 1].frame if pos + 1 < len(self.keys) else math.inf
                # A subject is read while focus pulls onto it, so it is found from the pull's start.
                first = self.keys[pos - 1].frame if pos and isinstance(r.keyframe.target, SubjectTarget) else r.frame
                self._track_span[r.order] = (first, end)
        self._trackers: dict[int, Any] = {}
        self._positions: dict[int, tuple[float, float, bool]] = {}
        self._results: list[FrameFocus] = []
        self._image_size: Optional[tuple[int, int]] = None

    @property
    def next_frame(self) -> int:
        """The index of the next frame :meth:`push` expects."""
        return len(self._results)

    def feed(self, disparity: Sequence[Any], images: Optional[Sequence[Any]] = None,
             start: Optional[int] = None) -> list[FrameFocus]:
        """Evaluate a window of frames starting at frame index ``start`` (default: the next frame).

        Frames before :attr:`next_frame` are answered from memory; the window must not skip frames.
        """
        start = self.next_frame if start is None else int(start)
        if start < 0 or start > self.next_frame:
            raise UsageError(f"window start {start} skips frames: the next frame to evaluate is "
                             f"{self.next_frame}")
        out = []
        for i, disp in enumerate(disparity):
            index = start + i
            if index < self.next_frame:
                out.append(self._results[index])
            else:
                out.append(self.push(disp, images[i] if images is not None else None))
        return out

    def push(self, disparity: Any, image: Any = None) -> FrameFocus:
        """Evaluate the next frame from its disparity map (and its image for point targets)."""
        index = self.next_frame
        disp = as_disparity_map(disparity)
        if image is not None:
            self._image_size = (int(image.shape[1]), int(image.shape[0]))
        self._update_tracks(index, image)
        a, b, weight = segment(self.keys, index)
        focus = self._read(a.keyframe.target, a.order, disp)
        k = a.keyframe.blur.k
        if b is not None and weight > 0.0:
            focus = (1.0 - weight) * focus + weight * self._read(b.keyframe.target, b.order, disp)
            k = (1.0 - weight) * k + weight * b.keyframe.blur.k
        result = FrameFocus(index, float(focus), float(k), dict(self._positions), dict(self._boxes))
        self._results.append(result)
        return result

    def _radius(self, disp: Any) -> int:
        if self.point_radius is not None:
            return max(int(self.point_radius), 0)
        return max(MIN_POINT_RADIUS_PX, int(round(POINT_WINDOW_FRACTION * min(disp.shape))))

    def _normalized_point(self, target: PointTarget) -> tuple[float, float]:
        if not target.pixels:
            return float(target.x), float(target.y)
        if self._image_size is None:
            raise UsageError("a focus point in pixels needs the frames (pass images)")
        w, h = self._image_size
        return target.x / max(w - 1, 1), target.y / max(h - 1, 1)

    def _read(self, target: Target, order: int, disp: Any) -> float:
        if isinstance(target, (DisparityTarget, DepthTarget)):
            return self._measure(target, order, disp)
        value = self._measure(target, order, disp)
        previous = self._smoothed.get(order)
        if previous is not None:
            value = previous + self._alpha * (value - previous)
        self._smoothed[order] = value
        return value

    def _measure(self, target: Target, order: int, disp: Any) -> float:
        if isinstance(target, DisparityTarget):
            return float(target.value)
        if isinstance(target, SymbolicTarget):
            return read_percentile(disp, SYMBOLIC_PERCENTILES[target.name])
        if isinstance(target, DepthTarget):
            return float(self.depth_to_disparity(target.metres))  # type: ignore[misc]
        if isinstance(target, RegionTarget):
            return read_region(disp, target, self._image_size)
        if isinstance(target, SubjectTarget):
            if order not in self._boxes:
                raise UsageError(f"focus subject {target.text!r} needs the frames (pass images)")
            return read_region(disp, RegionTarget(box=self._boxes[order]), None)
        if order in self._positions:
            x, y, _ = self._positions[order]
        else:
            x, y = self._normalized_point(target)
        return read_window(disp, x, y, self._radius(disp))

    def _update_tracks(self, index: int, image: Any) -> None:
        for order, (first, end) in self._track_span.items():
            if index < first or index > end:
                self._trackers.pop(order, None)
                continue
            if image is None:
                raise UsageError(f"the focus plan tracks a point at frame {index}: pass the frames "
                                 "(images) to the evaluator")
            from bokehfx.focus.tracking import PointTracker, SubjectTracker

            target = self.plan.keyframes[order].target
            if isinstance(target, SubjectTarget):
                if order not in self._trackers:
                    self._trackers[order] = SubjectTracker(target.text, self.subjects, self.on_lost,
                                                           dict(self.tracker_options))
                    box = self._trackers[order].start(image, index)
                else:
                    box = self._trackers[order].update(image, index)
                x, y = self._trackers[order].position
                self._positions[order] = (x, y, self._trackers[order].lost)
                self._boxes[order] = box
                continue
            if order not in self._trackers:
                target = self.plan.keyframes[order].target
                self._image_size = (int(image.shape[1]), int(image.shape[0]))
                x, y = self._normalized_point(target)  # type: ignore[arg-type]
                tracker = PointTracker(**self.tracker_options)
                tracker.start(image, x, y, frame=index)
                self._trackers[order] = tracker
            else:
                tracker = self._trackers[order]
                tracker.update(image, frame=index, on_lost=self.on_lost)
            x, y = tracker.position
            self._positions[order] = (x, y, tracker.lost)
