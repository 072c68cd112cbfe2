"""Random focus, blur, look and instruction of one training pair (pure; no files, no model).

A :class:`FocusSample` is what the pair synthesiser draws for a window: a static focus or a pull
between two targets (over the whole window, or between two frames), a blur strength ``K`` (the
papers' ranges: Any-to-Bokeh trains on K from 1 to 31 per frame) and its small / medium / large
label (:attr:`bokehfx.focus.plan.Blur.label`). It becomes a :class:`bokehfx.focus.plan.FocusPlan`
built directly from keyframes (:meth:`FocusSample.plan`) and, separately, an instruction in plain
words (:func:`instruction`) that the prompt parser (:func:`bokehfx.focus.prompt.parse_prompt`)
reads back to the same targets and blur label, so the text branch learns the grammar users type.

Every draw takes a ``torch.Generator``: the same generator state gives the same sample.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import torch

from bokehfx.focus.plan import BLUR_LABELS, K_AT_F1, Blur, DisparityTarget, FocusPlan, Interp, Keyframe, SymbolicTarget, Target
from bokehfx.renderers.base import Look

#: Symbolic targets and the words the instruction may use for them (all in the parser's vocabulary).
TARGET_WORDS: dict[str, tuple[str, ...]] = {
    "near": ("the foreground", "the front", "the nearest subject", "near"),
    "middle": ("the middle", "the midground", "the middle ground", "the mid-ground"),
    "far": ("the background", "the backdrop", "the far plane", "far"),
}
#: Words for each blur label (the parser maps them to the same label).
BLUR_PHRASES: dict[str, tuple[str, ...]] = {
    "small": ("a small blur", "a subtle blur", "a light blur", "a slight blur", "a gentle blur"),
    "medium": ("a medium blur", "a moderate blur", "some blur", "a normal blur"),
    "large": ("a large blur", "a heavy blur", "a strong blur", "a creamy blur", "shallow depth of field"),
}
#: Decimals of the disparity targets and explicit K values written in instructions.
TEXT_DECIMALS = 2
#: Disparity targets are drawn inside this range (so the plane has something on both sides).
DISPARITY_TARGET_RANGE = (0.05, 0.95)
#: Common f-stops the instruction may name (used only when their K has the sampled label).
F_STOPS = (1.2, 1.4, 1.8, 2.0, 2.8, 4.0, 5.6, 8.0)


@dataclass(frozen=True)
class FocusSample:
    r"""The focus and blur of one training window.

    Args:
        start (`Target`): focus on the first frame.
        end (`Target`, *optional*): the target a pull arrives at (``None``: static focus).
        pull_frames (`tuple[int, int]`, *optional*): first and last frame of a timed pull
            (``None``: the pull spans the whole window, as a prompt with no times does).
        interp (`Interp`): how the pull moves (ease-in-out like a hand pull, or linear).
        k (`float`): blur strength ``K`` in pixels per unit of disparity.
        frames (`int`): frames in the window.
    """

    start: Target
    end: Target | None
    pull_frames: tuple[int, int] | None
    interp: Interp
    k: float
    frames: int

    @property
    def blur_label(self) -> str:
        """small, medium or large: the nearest of :data:`bokehfx.focus.plan.BLUR_LABELS` in log K."""
        return Blur(self.k).label

    def plan(self, rate: Fraction) -> FocusPlan:
        """The focus plan (keyframes as the prompt parser would place them)."""
        blur = Blur(self.k)
        if self.end is None:
            return FocusPlan((Keyframe(Fraction(0), self.start, blur),))
        if self.pull_frames is None:
            return FocusPlan((Keyframe(Fraction(0), self.start, blur, relative=True),
                              Keyframe(Fraction(1), self.end, blur, self.interp, relative=True)))
        first, last = (Fraction(f) / rate for f in self.pull_frames)
        keys = [Keyframe(Fraction(0), self.start, blur)] if first > 0 else []
        keys += [Keyframe(first, self.start, blur, Interp.HOLD), Keyframe(last, self.end, blur, self.interp)]
        return FocusPlan(tuple(keys))


@dataclass(frozen=True)
class FocusRanges:
    r"""What the focus sampler may draw.

    Args:
        k_range (`tuple[float, float]`): K is drawn uniformly in this range (pixels per unit of
            disparity; Any-to-Bokeh: 1 to 31).
        pull_probability (`float`): chance that the focus is pulled over the window.
        timed_pull_probability (`float`): chance that a pull is timed between two frames rather
            than spanning the window.
        symbolic_probability (`float`): chance that a target is near / middle / far rather than a
            disparity value.
        linear_probability (`float`): chance that a pull is linear rather than eased.
    """

    k_range: tuple[float, float] = (1.0, 31.0)
    pull_probability: float = 0.4
    timed_pull_probability: float = 0.5
    symbolic_probability: float = 0.5
    linear_probability: float = 0.2


@dataclass(frozen=True)
class LookRanges:
    r"""What the look sampler may draw (see :class:`bokehfx.renderers.base.Look`).

    Args:
        apertures (`tuple[str, ...]`): shapes drawn uniformly (disc, polygon, ring).
        blades (`tuple[int, int]`): blade count range of polygons (inclusive).
        roundness (`tuple[float, float]`): blade curvature range.
        anamorphic_probability (`float`): chance of an anamorphic (oval) bokeh.
        anamorphic (`tuple[float, float]`): height/width ratio range of anamorphic bokeh.
        ring_inner (`tuple[float, float]`): inner radius range of the ring aperture.
        cat_eye_probability (`float`): chance of cat's-eye vignetting toward the frame edges.
        cat_eye (`tuple[float, float]`): its strength range.
        highlight_probability (`float`): chance of a highlight boost.
        highlight_gain (`tuple[float, float]`): gain range of the boost.
        highlight_threshold (`tuple[float, float]`): luminance threshold range of the boost.
    """

    apertures: tuple[str, ...] = ("disc", "polygon", "ring")
    blades: tuple[int, int] = (5, 9)
    roundness: tuple[float, float] = (0.0, 0.6)
    anamorphic_probability: float = 0.2
    anamorphic: tuple[float, float] = (1.33, 2.0)
    ring_inner: tuple[float, float] = (0.4, 0.7)
    cat_eye_probability: float = 0.2
    cat_eye: tuple[float, float] = (0.1, 0.4)
    highlight_probability: float = 0.5
    highlight_gain: tuple[float, float] = (0.2, 2.0)
    highlight_threshold: tuple[float, float] = (0.8, 1.5)


def _uniform(generator: torch.Generator, low_high: tuple[float, float]) -> float:
    low, high = low_high
    return float(low + (high - low) * torch.rand((), generator=generator))


def _chance(generator: torch.Generator, p: float) -> bool:
    return bool(torch.rand((), generator=generator) < p)


def _choice(generator: torch.Generator, options: tuple) -> object:
    return options[int(torch.randint(len(options), (), generator=generator))]


def _target(generator: torch.Generator, ranges: FocusRanges, avoid: Target | None = None) -> Target:
    while True:
        if _chance(generator, ranges.symbolic_probability):
            target: Target = SymbolicTarget(str(_choice(generator, tuple(TARGET_WORDS))))
        else:
            value = round(_uniform(generator, DISPARITY_TARGET_RANGE), TEXT_DECIMALS)
            target = DisparityTarget(value)
        if target != avoid:
            return target


def sample_focus(generator: torch.Generator, frames: int, ranges: FocusRanges) -> FocusSample:
    """Draw a static focus or a pull over a window of ``frames`` frames, and K (see :class:`FocusRanges`)."""
    start = _target(generator, ranges)
    k = round(_uniform(generator, ranges.k_range), TEXT_DECIMALS)
    end, pull, interp = None, None, Interp.EASE
    if frames > 1 and _chance(generator, ranges.pull_probability):
        end = _target(generator, ranges, avoid=start)
        interp = Interp.LINEAR if _chance(generator, ranges.linear_probability) else Interp.EASE
        if frames > 2 and _chance(generator, ranges.timed_pull_probability):
            first = int(torch.randint(0, frames - 1, (), generator=generator))
            last = int(torch.randint(first + 1, frames, (), generator=generator))
            pull = (first, last)
    return FocusSample(start=start, end=end, pull_frames=pull, interp=interp, k=k, frames=frames)


def sample_look(generator: torch.Generator, ranges: LookRanges) -> Look:
    """Draw an aperture shape, blades, rotation, anamorphic squeeze and highlight settings."""
    aperture = str(_choice(generator, ranges.apertures))
    low, high = ranges.blades
    blades = int(torch.randint(low, high + 1, (), generator=generator))
    anamorphic = _uniform(generator, ranges.anamorphic) if _chance(generator, ranges.anamorphic_probability) else 1.0
    gain = _uniform(generator, ranges.highlight_gain) if _chance(generator, ranges.highlight_probability) else 0.0
    cat_eye = _uniform(generator, ranges.cat_eye) if _chance(generator, ranges.cat_eye_probability) else 0.0
    return Look(
        aperture=aperture,  # type: ignore[arg-type]
        blades=blades,
        roundness=_uniform(generator, ranges.roundness),
        rotation=_uniform(generator, (0.0, 360.0)),
        anamorphic=anamorphic,
        ring_inner=_uniform(generator, ranges.ring_inner),
        cat_eye=cat_eye,
        highlight_gain=gain,
        highlight_threshold=_uniform(generator, ranges.highlight_threshold),
    )


def _target_text(generator: torch.Generator, target: Target) -> str:
    if isinstance(target, SymbolicTarget):
        return str(_choice(generator, TARGET_WORDS[target.name]))
    return f"{target.value:.{TEXT_DECIMALS}f}"  # type: ignore[union-attr]


def _blur_text(generator: torch.Generator, k: float) -> str:
    label = Blur(k).label
    style = int(torch.randint(3, (), generator=generator))
    if style == 0:
        return str(_choice(generator, BLUR_PHRASES[label]))
    if style == 1:
        stops = tuple(n for n in F_STOPS if Blur(K_AT_F1 / n).label == label)
        if stops:
            return f"f/{_choice(generator, stops):g}"
    number = f"{k:.{TEXT_DECIMALS}f}".rstrip("0").rstrip(".")
    return str(_choice(generator, (f"blur {number}", f"a blur of {number}", f"k {number}")))


def _static_text(generator: torch.Generator, target: Target) -> str:
    words = _target_text(generator, target)
    if isinstance(target, DisparityTarget):
        return str(_choice(generator, (f"focus at {words}", f"focus at disparity {words}", f"set the focus at {words}")))
    return str(_choice(generator, (f"focus on {words}", f"keep {words} sharp", f"put the focus on {words}")))


def _pull_text(generator: torch.Generator, sample: FocusSample) -> str:
    a, b = _target_text(generator, sample.start), _target_text(generator, sample.end)  # type: ignore[arg-type]
    verb = str(_choice(generator, ("rack focus", "pull focus", "shift the focus", "the focus transitions")))
    manner = " linearly" if sample.interp is Interp.LINEAR else ""
    if sample.pull_frames is None:
        if manner == "" and _chance(generator, 0.3):
            return f"start on {a} and end on {b}"
        return f"{verb} from {a} to {b}{manner}"
    first, last = sample.pull_frames
    if _chance(generator, 0.5):
        return f"{verb} from {a} to {b} between frame {first} and frame {last}{manner}"
    return f"{verb} from {a} to {b} starting at frame {first} over {last - first} frames{manner}"


def instruction(generator: torch.Generator, sample: FocusSample) -> str:
    """The sample said in plain words, in one of many phrasings the prompt parser reads back."""
    focus = _static_text(generator, sample.start) if sample.end is None else _pull_text(generator, sample)
    blur = _blur_text(generator, sample.k)
    joiner = str(_choice(generator, (", ", " with ", ", then ", "; ")))
    if joiner == " with " and blur.startswith(("shallow", "f/", "blur ", "k ")):
        joiner = ", "
    if joiner == ", then " or _chance(generator, 0.8):
        return f"{focus}{joiner}{blur}"
    return f"{blur}{', ' if joiner.strip() == 'with' else joiner}{focus}"


__all__ = ["BLUR_LABELS", "FocusRanges", "FocusSample", "LookRanges", "instruction", "sample_focus", "sample_look"]
