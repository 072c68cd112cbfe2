"""The ``--prompt`` grammar: focus instructions in plain words, read deterministically.

A prompt is read without guessing and without a model: it is split into clauses, every word of
a clause must belong to one form below, or the prompt is refused with a
:class:`bokehfx.errors.UsageError` that quotes the part not understood and lists the accepted
forms. The vocabulary is in :mod:`bokehfx.focus.lexicon`, the lexer in :mod:`bokehfx.focus.tokens`,
the terms (times, targets) in :mod:`bokehfx.focus.terms` and the clause forms in
:mod:`bokehfx.focus.clauses`; :func:`bokehfx.focus.canonical.describe_plan` says back what was
understood in the grammar's own words. Case, articles, politeness and intensifiers (*the, a,
please, just, very, really, super, I'd like*...) and brackets are ignored.

Clauses (split at ``, ; . ! ? /``, *and, then, while, but, plus, also, with, whereas, after
that*, and before a contrast: *not, rather than, instead of, as opposed to*)::

    focus     focus on the foreground | focus: bg | bring focus to 2m | the focal point is the background
              keep the background sharp | make the midground the focal point | bring the foreground into focus
              sharp foreground | the distant hills stay sharp | foreground (a bare target)
    start     start on the foreground | first focus on the background | open on near
    pull      rack focus to the background at 2s over 1s | pull focus from near to far between 1s and 3s
              the focus transitions from the foreground to the background | near -> far at 2s
              let the focus drift to the background | snap focus to near at 3s | quickly rack back to fg
    end       end on the background | land on the foreground halfway through
    blurred   blur the background | soften the foreground | throw the background out of focus
              knock the foreground out of focus | the background should be soft | soft background
              the background softly blurred | a creamy background | everything in front should be soft
    negation  not the foreground | focus on the background, not the foreground | rather than the foreground
              instead of the background | don't focus on the foreground | the foreground is not sharp
              don't blur the background (= keep it sharp)
    blur      a small|medium|large blur | a touch of blur | lots of bokeh | strong bokeh | blur 12 | k=30
              no blur | the blur should be large | blur the rest heavily
    dof       shallow depth of field | deep focus | wide open | everything in focus | all-in-focus
    fstop     f/1.4 | at f2.8 | aperture 4

Targets: near (foreground, front, closest, nearest, nearby...), middle (midground, centre...),
far (background, back, distance, distant, horizon, behind...), with nouns after them ("the
nearest subject", "the distant hills", "the back of the frame", "closest to the camera"),
place phrases ("whatever is closest", "everything in front", "the layer at the back"),
ordinals ("the first layer" = near, "the second layer" / "the second closest" = middle, "the
last layer" = far); ``0.35`` (normalized disparity, 1 = nearest), ``disparity 0.8``, ``2m`` /
``150cm`` (depth), ``point 0.5,0.4`` / ``640,360 px``, ``box 0.1 0.1 0.4 0.9``; and, when the
caller allows named subjects (a detector is configured), any other short noun phrase: "the
dog", "the woman in red" (:class:`~bokehfx.focus.plan.SubjectTarget`).

Times: ``2s``, ``1.5 seconds``, ``two seconds``, ``500ms``, ``12 frames``, ``frame 24``,
``00:00:02:12`` (needs the rate), ``the start``; points of the clip: ``halfway (through)``,
``midway``, ``the end``, ``a quarter of the way``, ``25%``; spans ``the first half``, ``the last
third``. Timing phrases: ``at T``, ``after T``, ``starting at T``, ``from T to T``, ``between T
and T``, ``over D``, ``for D``, ``within D``, ``by T``, ``until T``, ``halfway through``, ``over
the second half``, ``throughout`` / ``over the whole shot``. Speed: quick words (0.5 s), slow
words (2 s), ``linearly``, ``smoothly``, ``cut`` / ``snap`` / ``jump`` (no transition).

Meaning (deterministic rules):

- Times are from the clip's first frame. Timecode and frame counts need the clip's ``rate``.
  Points of the clip (halfway, the end, 25%) are fractions of it (0 = first frame, 1 = last);
  they cannot be mixed with times in seconds in one prompt.
- A static focus with no time is the starting focus; with ``at T`` it cuts to the target at T.
- A pull with ``at T`` lasts :data:`DEFAULT_PULL_SECONDS` (0.5 s when quick, 2 s when slow)
  unless ``over D`` or an end time is given; ``over D`` alone starts at the previous keyframe
  (or 0). A pull with no time spans the whole clip, first frame to last; nothing can follow it.
  A pull from a point of the clip with no end runs to the last frame.
- A pull with no ``from`` starts from the focus before it, or from the middle. Pulls ease in
  and out unless told ``linearly`` or ``cut``.
- Blur applies to the whole plan. An explicit value (``blur 12``, ``f/1.4``) wins over a word
  (``shallow``, ``large``); two different explicit values, two different words, or no blur
  together with a blur, are an error. With no blur stated the blur is medium.
- A blurred region implies the focus when none is stated: blurring (or negating) the foreground
  focuses far, the background near, both of them the middle. Blurring the middle, or what is in
  focus, is refused.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any, Optional, Sequence, Union

from bokehfx.errors import UsageError
from bokehfx.focus import lexicon
from bokehfx.focus.clauses import Clause, ClauseReader
from bokehfx.focus.plan import (
    DEFAULT_BLUR_LABEL,
    DEFAULT_TARGET_NAME,
    Blur,
    FocusPlan,
    Interp,
    Keyframe,
    PointTarget,
    SymbolicTarget,
    Target,
    parse_blur,
    parse_target,
)
from bokehfx.focus.terms import DEFAULT_PULL_SECONDS, QUICK_PULL_SECONDS, SLOW_PULL_SECONDS, Timing
from bokehfx.focus.tokens import Token, split_clauses, tokenize
from bokehfx.timecode import RateLike, exact_rate

ACCEPTED_FORMS = (
    "accepted forms: 'focus on the foreground|middle|background', 'keep the background sharp', "
    "'bring the foreground into focus', 'blur the background', 'focus on the background, not the foreground', "
    "'focus at 0.35', 'focus at 2m', 'focus on point 0.5,0.4', 'focus on box 0.2 0.2 0.6 0.8', "
    "'rack focus to the background at 2s over 1s', 'start on near, then pull to far halfway through', "
    "'the focus transitions from the foreground to the background', "
    "'a small|medium|large blur', 'a touch of blur', 'blur 12', 'f/1.4', 'shallow depth of field'"
)
SUBJECT_HINT = "to focus on a named subject (the dog), give --subject-model"
#: Every word of the vocabulary: an unknown word outside it may be a subject's name (the refusal says how).
GRAMMAR_WORDS = frozenset(word for table in vars(lexicon).values() if isinstance(table, (frozenset, dict))
                          for word in table if isinstance(word, str))
#: The focus a blurred region implies, when no focus is stated.
OPPOSITE = {"near": "far", "far": "near"}


def _quote(text: str, tokens: Sequence[Token]) -> str:
    return text[tokens[0].start:tokens[-1].end] if tokens else text


def _parse_clause(text: str, tokens: list[Token], rate: Optional[Fraction], subjects: bool) -> Clause:
    lowered = text.lower().replace("\u2019", "'")
    reader = ClauseReader(tokens, rate, subjects, lowered)
    for form in ClauseReader.FORMS:
        got = getattr(reader, form)(0)
        if got is not None and got[1] == len(tokens):
            return got[0]
    lead = ClauseReader(tokens, rate, subjects).timings(0, Timing())
    if 0 < lead < len(tokens):  # "throughout the shot keep X sharp": the timing read after the rest
        moved = ClauseReader(tokens[lead:] + tokens[:lead], rate, subjects, lowered)
        for form in ClauseReader.FORMS:
            got = getattr(moved, form)(0)
            if got is not None and got[1] == len(tokens):
                return got[0]
    left = tokens[reader.furthest:] if reader.furthest < len(tokens) else tokens
    whole = _quote(lowered, tokens)
    part = _quote(lowered, left)
    where = f" in {whole!r}" if part != whole else ""
    hint = f"; {SUBJECT_HINT}" if not subjects and left[0].kind == "word" and left[0].text not in GRAMMAR_WORDS else ""
    raise UsageError(f"prompt: did not understand {part!r}{where}{hint}; {ACCEPTED_FORMS}")


def _attach_timings(clauses: list[list[Token]], rate: Optional[Fraction]) -> list[list[Token]]:
    """A clause that is only a timing ("after two seconds, rack to far") joins the next clause
    (the previous one when it is last: "rack to far at 2s, quickly")."""
    out: list[list[Token]] = []
    pending: list[Token] = []
    for index, tokens in enumerate(clauses):
        last = index == len(clauses) - 1
        reader = ClauseReader(tokens, rate)
        try:
            only_timing = reader.timings(0, Timing()) == len(tokens)
        except UsageError:
            only_timing = False
        manner = [t for t in tokens if t.text not in lexicon.MOVE_WORDS | lexicon.FOCUS_WORDS | {"rack", "pull"}]
        if not only_timing and manner and len(manner) < len(tokens) and all(
                t.text in lexicon.QUICK_WORDS | lexicon.SLOW_WORDS | lexicon.LINEAR_WORDS | lexicon.EASE_WORDS
                | lexicon.CUT_WORDS for t in manner):
            if out:  # "with a quick rack": the manner of the change before it
                out[-1] = out[-1] + manner
                continue
            tokens, only_timing = manner, True
        source = reader.target(1) if tokens[0].text == "from" and len(tokens) > 1 else None
        if (only_timing or source is not None and source[1] == len(tokens)) and not last:
            pending.extend(tokens)  # "from the background, rack to near" reads "rack to near from the background"
            continue
        if only_timing and out and not pending:
            out[-1] = out[-1] + tokens
            continue
        out.append(tokens + pending)
        pending = []
    return out


def _blur_of(clauses: list[Clause], initial_blur: Optional[Blur] = None) -> Blur:
    values = {c.blur_value.k for c in clauses if c.blur_value is not None}
    words = {c.blur_word for c in clauses if c.blur_word is not None}
    if len(values) > 1:
        raise UsageError(f"prompt: more than one blur value ({', '.join(f'{v:g}' for v in sorted(values))}); "
                         "give one")
    if values == {0.0} and (words or any(c.blurred is not None and not c.negated for c in clauses)):
        raise UsageError("prompt: 'everything in focus' / 'no blur' contradicts asking for blur; give one")
    if values:
        return Blur(values.pop())
    if len(words) > 1:
        raise UsageError(f"prompt: conflicting blur sizes ({', '.join(sorted(words))}); give one")
    if words:
        return Blur.from_label(words.pop())
    return initial_blur if initial_blur is not None else Blur.from_label(DEFAULT_BLUR_LABEL)


def parse_prompt(text: str, rate: Optional[RateLike] = None, initial: Optional[Target] = None,
                 initial_blur: Optional[Blur] = None, *, subjects: bool = False) -> FocusPlan:
    """Parse a focus instruction into a :class:`FocusPlan` (grammar in the module docstring).

    Args:
        text (`str`): the instruction, e.g. ``"rack focus to the background at 2s over 1 second"``.
        rate (`RateLike`, *optional*): the clip's frame rate; needed for timecode and frame counts.
        initial (`Target`, *optional*): the focus in force before the prompt (a pull with no
            ``from`` starts there); the middle when None.
        initial_blur (`Blur`, *optional*): the blur when the prompt states none; medium when None.
        subjects (`bool`, *optional*, defaults to False): read other noun phrases as named
            subjects ("the dog"); only when a detector will look for them.

    Returns:
        `FocusPlan`: keyframes in seconds from the clip's first frame (or relative to its length).

    Raises:
        UsageError: quoting the part not understood and listing the accepted forms, or naming
            the conflict (two blur values, keyframes out of order, a region both sharp and blurred).
    """
    if not isinstance(text, str):
        raise UsageError(f"prompt must be text, got {type(text).__name__}")
    exact = exact_rate(rate, "fps") if rate is not None else None
    clauses_tokens = _attach_timings([c for c in split_clauses(tokenize(text)) if c], exact)
    if not clauses_tokens:
        raise UsageError(f"prompt is empty; {ACCEPTED_FORMS}")
    clauses: list[Clause] = []
    for tokens in clauses_tokens:
        clause = _parse_clause(text, tokens, exact, subjects)
        if clause.bare and clauses and clauses[-1].blurred is not None and not clauses[-1].negated:  # "blur the foreground and the background"
            clause = Clause("blur", blurred=clause.target)
        clauses.append(clause)
    blur = _blur_of(clauses, initial_blur)
    return _assemble(clauses, blur, initial)


def _name(target: Target) -> str:
    if isinstance(target, SymbolicTarget):
        return {"near": "the foreground", "middle": "the middle", "far": "the background"}[target.name]
    return f"{target.kind} {target.describe()}"


def _implied(clauses: list[Clause]) -> Optional[Target]:
    """The focus blurred regions imply when no focus is stated (see the module docstring)."""
    focus = [c for c in clauses if c.kind != "blur"]
    blurred = [c.blurred for c in clauses if c.kind == "blur" and c.blurred is not None]
    for c in focus:
        if c.kind == "static" and (c.timing is None or c.timing.untimed) and c.target in blurred:
            raise UsageError(f"prompt: {_name(c.target)} cannot be both in focus and out of focus")  # type: ignore[arg-type]
    if focus or not blurred:
        return None
    names = {t.name for t in blurred if isinstance(t, SymbolicTarget)}
    if len(names) != len(set(blurred)) or "middle" in names:
        what = ", ".join(sorted({_name(t) for t in blurred}))
        raise UsageError(f"prompt: blurring {what} does not say what is in focus; say what stays sharp")
    if names == {"near", "far"}:
        return SymbolicTarget("middle")
    return SymbolicTarget(OPPOSITE[names.pop()])


def _assemble(clauses: list[Clause], blur: Blur, initial: Optional[Target] = None) -> FocusPlan:
    keyframes: list[Keyframe] = []
    whole_clip = False
    focus_clauses = [c for c in clauses if c.kind != "blur"]
    implied = _implied(clauses)
    default_target: Target = initial if initial is not None else (implied or SymbolicTarget(DEFAULT_TARGET_NAME))

    def last_time(relative: bool) -> Fraction:
        same = [kf.time for kf in keyframes if kf.relative == relative or kf.time == 0]
        return same[-1] if same else Fraction(0)

    def current() -> Target:
        return keyframes[-1].target if keyframes else default_target

    def add(kf: Keyframe) -> None:
        if whole_clip:
            raise UsageError("prompt: a change of focus with no times spans the whole clip, so nothing "
                             "can follow it; give times (at 2s over 1s)")
        if keyframes and kf.time < last_time(kf.relative):
            unit = "of the clip" if kf.relative else "s"
            raise UsageError(f"prompt: a focus change at {float(kf.time):g}{unit} comes before the previous one "
                             f"at {float(last_time(kf.relative)):g}{unit}; list changes in order")
        last = keyframes[-1] if keyframes else None
        if last is not None and kf.interp is Interp.HOLD and kf.time == last.time and kf.target == last.target \
                and (kf.relative == last.relative or kf.time == 0):
            return  # the same focus at the same time, said twice
        keyframes.append(kf)

    for c in focus_clauses:
        t = c.timing or Timing()
        if t.whole:
            t = Timing(speed=t.speed, interp=t.interp)
        rel = t.relative
        if rel and t.duration is not None:
            raise UsageError("prompt: a duration in seconds cannot go with a point of the clip (halfway, the "
                             "end); give both in seconds, or both as points of the clip")
        if c.kind == "static":
            if t.untimed:
                if keyframes:
                    raise UsageError("prompt: a second focus with no time; say when it happens (at 3s) or "
                                     "use a rack or pull")
                add(Keyframe(Fraction(0), c.target, blur))  # type: ignore[arg-type]
                continue
            if t.start == 0 and t.end is not None and t.duration is None:  # "hold X for the first half"
                if keyframes:
                    raise UsageError("prompt: a focus held from the start must come first")
                add(Keyframe(Fraction(0), c.target, blur))  # type: ignore[arg-type]
                add(Keyframe(t.end, c.target, blur, Interp.HOLD, relative=rel))  # type: ignore[arg-type]
                continue
            if c.hold and t.duration is not None and t.end is None:  # "hold on X for 2s"
                start = t.start if t.start is not None else last_time(rel)
                if not keyframes or keyframes[-1].target != c.target:
                    add(Keyframe(start, c.target, blur, Interp.HOLD, relative=rel))  # type: ignore[arg-type]
                add(Keyframe(start + t.duration, c.target, blur, Interp.HOLD, relative=rel))  # type: ignore[arg-type]
                continue
            if t.duration is not None or t.end is not None or t.speed is not None:
                c = Clause("pull", target=c.target, timing=t)  # "refocus to far at 2s, quickly"
            else:
                if not keyframes and t.start > 0:  # type: ignore[operator]
                    add(Keyframe(Fraction(0), default_target, blur))
                add(Keyframe(t.start, c.target, blur, t.interp or Interp.HOLD, relative=rel))  # type: ignore[arg-type]
                continue
        if c.kind == "end":
            c = Clause("pull", target=c.target, timing=t)
            if t.untimed:
                if not keyframes:
                    add(Keyframe(Fraction(0), default_target, blur, relative=True))
                add(Keyframe(Fraction(1), c.target, blur, t.interp or Interp.EASE, relative=True))  # type: ignore[arg-type]
                whole_clip = True
                continue
        source = c.source or current()
        if c.source is not None and keyframes and c.source != current() and t.start is None:
            raise UsageError(f"prompt: a pull from {_name(c.source)} follows focus on {_name(current())}; "
                             "give it a start time")
        interp = t.interp or Interp.EASE
        if t.untimed and keyframes and not keyframes[-1].relative and keyframes[-1].time > 0:
            t = Timing(start=keyframes[-1].time, speed=t.speed, interp=t.interp)  # "..., then rack to far"
        if t.untimed:
            if keyframes:
                add(Keyframe(Fraction(1), c.target, blur, interp, relative=True))  # type: ignore[arg-type]
            else:
                add(Keyframe(Fraction(0), source, blur, relative=True))
                add(Keyframe(Fraction(1), c.target, blur, interp, relative=True))  # type: ignore[arg-type]
            whole_clip = True
            continue
        start, end = t.start, t.end
        if start is None:
            start = last_time(rel) if end is None or end > last_time(rel) else Fraction(0)
        if end is None and t.duration is None and interp is Interp.HOLD:
            end = start
        if end is None and rel:
            end = Fraction(1)
        if end is None:
            end = start + (t.duration if t.duration is not None else (t.speed or DEFAULT_PULL_SECONDS))
        elif t.duration is not None and end != start + t.duration:
            raise UsageError(f"prompt: a pull from {float(start):g}s to {float(end):g}s cannot last "
                             f"{float(t.duration):g}s")
        if end < start:
            raise UsageError(f"prompt: a pull cannot end ({float(end):g}) before it starts ({float(start):g})")
        if not keyframes and start > 0:
            add(Keyframe(Fraction(0), source, blur))
        add(Keyframe(start, source, blur, Interp.HOLD, relative=rel))
        add(Keyframe(end, c.target, blur, interp if end > start else Interp.HOLD, relative=rel))  # type: ignore[arg-type]
    if not keyframes:
        keyframes.append(Keyframe(Fraction(0), default_target, blur))
    if any(kf.relative and kf.time > 0 for kf in keyframes) and any(not kf.relative and kf.time > 0 for kf in keyframes):
        raise UsageError("prompt: times in seconds and points of the clip (halfway, the end) cannot be mixed; "
                         "give all times one way")
    return FocusPlan(tuple(keyframes))


# ------------------------------------------------------------------------------------- the flags


def parse_point(value: Union[str, Sequence[float]], name: str = "--focus-point") -> PointTarget:
    """``"x,y"`` (normalized) or ``"x,y px"`` / ``"640px,360px"`` (pixels) to a :class:`PointTarget`."""
    if isinstance(value, str):
        text = value.strip().lower()
        pixels = "px" in text
        parts = [p.strip().replace("px", "").strip() for p in text.split(",")]
        if len(parts) != 2:
            raise UsageError(f"{name} must be X,Y (normalized 0..1, or pixels with px), got {value!r}")
        try:
            x, y = float(parts[0]), float(parts[1])
        except ValueError:
            raise UsageError(f"{name} must be X,Y (normalized 0..1, or pixels with px), got {value!r}") from None
    else:
        pair = list(value)
        if len(pair) != 2:
            raise UsageError(f"{name} must be two numbers x, y, got {value!r}")
        x, y, pixels = pair[0], pair[1], False
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in pair):
            raise UsageError(f"{name} must be two numbers x, y, got {value!r}")
    try:
        return PointTarget(float(x), float(y), pixels=pixels)
    except UsageError as err:
        raise UsageError(f"{name}: {err}") from None


def merge_flags(plan: Optional[FocusPlan] = None, *, focus: Any = None, blur: Any = None,
                focus_point: Any = None) -> FocusPlan:
    """Apply explicit flags over a plan (from a prompt or a timeline): flags win.

    - ``focus`` (``--focus``: a disparity, near/middle/far, or metres like ``2m``) or
      ``focus_point`` (``--focus-point X,Y``) replaces the plan's focus entirely: the result is a
      static focus on that target from the first frame, keeping the plan's first blur.
    - ``blur`` (``--blur``: K, small/medium/large/none or ``f/N``) replaces the blur of every keyframe.

    Args:
        plan (`FocusPlan`, *optional*): the plan to override; the default plan when None.
        focus, blur, focus_point: the flags' values, or None when not given.

    Returns:
        `FocusPlan`: the merged plan.

    Raises:
        UsageError: when both ``focus`` and ``focus_point`` are given, or a value is bad.
    """
    if focus is not None and focus_point is not None:
        raise UsageError("give either --focus or --focus-point, not both")
    base = plan if plan is not None else FocusPlan.static()
    if focus is not None or focus_point is not None:
        target = parse_target(focus, "--focus") if focus is not None else parse_point(focus_point)
        base = FocusPlan((Keyframe(Fraction(0), target, base.keyframes[0].blur),))
    if blur is not None:
        base = base.with_blur(parse_blur(blur, "--blur"))
    return base


def plan_from_inputs(prompt: Optional[str] = None, *, focus: Any = None, blur: Any = None,
                     focus_point: Any = None, rate: Optional[RateLike] = None, subjects: bool = False) -> FocusPlan:
    """The plan a command line asks for: the prompt (if any) with the flags merged over it."""
    plan = parse_prompt(prompt, rate, subjects=subjects) if prompt is not None else None
    return merge_flags(plan, focus=focus, blur=blur, focus_point=focus_point)


__all__ = ["ACCEPTED_FORMS", "DEFAULT_PULL_SECONDS", "QUICK_PULL_SECONDS", "SLOW_PULL_SECONDS", "merge_flags",
           "parse_point", "parse_prompt", "plan_from_inputs", "tokenize"]
