"""What a focus plan says, in the ``--prompt`` grammar's canonical words ("understood as: ...").

:func:`describe_plan` turns a :class:`~bokehfx.focus.plan.FocusPlan` back into one sentence of
the grammar, so a user can check how an instruction was read before spending render time. The
sentence reads back to the same plan (``parse_prompt(describe_plan(p))`` gives ``p`` again for
every plan a prompt makes; named subjects need ``subjects=True``).
"""

from __future__ import annotations

from fractions import Fraction

from bokehfx.focus.plan import (
    DepthTarget,
    DisparityTarget,
    FocusPlan,
    Interp,
    Keyframe,
    PointTarget,
    RegionTarget,
    SubjectTarget,
    SymbolicTarget,
    Target,
)

SYMBOLIC_WORDS = {"near": "the foreground", "middle": "the middle", "far": "the background"}
#: Digits kept when a number is written back.
NUMBER_DIGITS = 6


def _number(value: float) -> str:
    return f"{round(float(value), NUMBER_DIGITS):g}"


def describe_target(target: Target) -> str:
    """A target in canonical words: the foreground, disparity 0.35, 2m, point 0.5,0.4, the dog."""
    if isinstance(target, SymbolicTarget):
        return SYMBOLIC_WORDS[target.name]
    if isinstance(target, DisparityTarget):
        return f"disparity {_number(target.value)}"
    if isinstance(target, DepthTarget):
        return f"{_number(target.metres)}m"
    if isinstance(target, PointTarget):
        return f"point {_number(target.x)},{_number(target.y)}" + (" px" if target.pixels else "")
    if isinstance(target, RegionTarget):
        if target.box is None:
            return "a mask region"
        return "box " + " ".join(_number(v) for v in target.box) + (" px" if target.pixels else "")
    if isinstance(target, SubjectTarget):
        return f"the {target.text}"
    return str(target)


def describe_time(kf: Keyframe) -> str:
    """A keyframe's time: ``2s``, or a point of the clip (the start, halfway, the end, 25%)."""
    if kf.time == 0:
        return "the start"
    if not kf.relative:
        return f"{_number(kf.time)}s"
    if kf.time == 1:
        return "the end"
    if kf.time == Fraction(1, 2):
        return "halfway"
    return f"{_number(kf.time * 100)}%"


def describe_blur(k: float) -> str:
    """``no blur`` or ``a medium blur (K=20)`` (the word is the nearest label)."""
    from bokehfx.focus.plan import Blur

    blur = Blur(k)
    if blur.k == 0:
        return "no blur"
    return f"a {blur.label} blur (K={_number(blur.k)})"


def _interp_words(interp: Interp) -> str:
    return " linearly" if interp is Interp.LINEAR else ""


def describe_plan(plan: FocusPlan) -> str:
    """One sentence of the grammar that reads back to ``plan`` (see the module docstring)."""
    kfs = list(plan.keyframes)
    parts = [f"focus on {describe_target(kfs[0].target)}"]
    current = kfs[0].target
    whole = len(kfs) == 2 and kfs[0].relative and kfs[1].relative and kfs[0].time == 0 and kfs[1].time == 1 \
        and kfs[1].interp is not Interp.HOLD
    if whole:
        parts = [f"rack focus from {describe_target(kfs[0].target)} to {describe_target(kfs[1].target)} "
                 f"over the whole clip{_interp_words(kfs[1].interp)}"]
        kfs = kfs[:1]
    index = 1
    while index < len(kfs):
        kf = kfs[index]
        nxt = kfs[index + 1] if index + 1 < len(kfs) else None
        if kf.interp is not Interp.HOLD:  # a pull arriving here from the previous keyframe
            start = kfs[index - 1]
            parts.append(f"rack focus to {describe_target(kf.target)} between {describe_time(start)} and "
                         f"{describe_time(kf)}{_interp_words(kf.interp)}")
            current = kf.target
            index += 1
            continue
        if kf.target == current and nxt is not None and nxt.interp is not Interp.HOLD:
            parts.append(f"rack focus to {describe_target(nxt.target)} between {describe_time(kf)} and "
                         f"{describe_time(nxt)}{_interp_words(nxt.interp)}")
            current = nxt.target
            index += 2
            continue
        if kf.target != current:
            parts.append(f"focus on {describe_target(kf.target)} at {describe_time(kf)}")
        current = kf.target
        index += 1
    ks = {kf.blur.k for kf in plan.keyframes}
    blur = describe_blur(ks.pop()) if len(ks) == 1 else \
        "blur " + ", ".join(f"K={_number(kf.blur.k)} at {describe_time(kf)}" for kf in plan.keyframes)
    return ", then ".join(parts) + ", " + blur


__all__ = ["describe_blur", "describe_plan", "describe_target", "describe_time"]
