"""The --prompt grammar: many phrasings to exact plans, clear refusals, flags over prompts."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bokehfx.errors import UsageError
from bokehfx.focus import Blur, DepthTarget, DisparityTarget, PointTarget, RegionTarget, SymbolicTarget
from bokehfx.focus.plan import Interp
from bokehfx.focus.prompt import ACCEPTED_FORMS, merge_flags, parse_point, parse_prompt, plan_from_inputs


def summary(text: str, rate=24) -> list[tuple]:
    """(time, target, K, interp) per keyframe; relative times as 'r0' / 'r1'."""
    plan = parse_prompt(text, rate)
    out = []
    for kf in plan.keyframes:
        when = f"r{kf.time}" if kf.relative else kf.time
        target = kf.target
        if isinstance(target, SymbolicTarget):
            what = target.name
        elif isinstance(target, DisparityTarget):
            what = ("disparity", target.value)
        elif isinstance(target, DepthTarget):
            what = ("depth", target.metres)
        elif isinstance(target, PointTarget):
            what = ("point", target.x, target.y, target.pixels)
        else:
            what = ("region",) + tuple(target.box)
        out.append((when, what, kf.blur.k, kf.interp.value))
    return out


H, L, E = "hold", "linear", "ease-in-out"
F = Fraction

STATIC = [
    ("focus on the foreground", [(0, "near", 20, H)]),
    ("Focus on the background.", [(0, "far", 20, H)]),
    ("focus on the middle ground", [(0, "middle", 20, H)]),
    ("focused on the nearest subject", [(0, "near", 20, H)]),
    ("set focus to the far plane", [(0, "far", 20, H)]),
    ("keep the foreground in focus", [(0, "near", 20, H)]),
    ("the background is sharp", [(0, "far", 20, H)]),
    ("make the midground sharp", [(0, "middle", 20, H)]),
    ("focus at 0.35", [(0, ("disparity", 0.35), 20, H)]),
    ("focus at disparity 0.8", [(0, ("disparity", 0.8), 20, H)]),
    ("focus at 2 metres", [(0, ("depth", 2.0), 20, H)]),
    ("focus on 150cm", [(0, ("depth", 1.5), 20, H)]),
    ("focus on point 0.25, 0.75", [(0, ("point", 0.25, 0.75, False), 20, H)]),
    ("focus on point 640,360 px", [(0, ("point", 640.0, 360.0, True), 20, H)]),
    ("focus on the region 0.1 0.1 0.4 0.9", [(0, ("region", 0.1, 0.1, 0.4, 0.9), 20, H)]),
    ("focus on the background at 3s", [(0, "middle", 20, H), (3, "far", 20, H)]),
    ("keep the background sharp and blur the rest heavily", [(0, "far", 40, H)]),
    ("focus on the foreground with a small blur", [(0, "near", 10, H)]),
    ("focus at 0.35", [(0, ("disparity", 0.35), 20, H)]),
]

DYNAMIC = [
    ("rack focus from the foreground to the background", [("r0", "near", 20, H), ("r1", "far", 20, E)]),
    ("the focus transitions from the foreground to the background, introducing a large blur",
     [("r0", "near", 40, H), ("r1", "far", 40, E)]),
    ("rack focus to the background at 2s over 1 second",
     [(0, "middle", 20, H), (2, "middle", 20, H), (3, "far", 20, E)]),
    ("pull focus from near to far between 00:00:01:00 and 00:00:03:12",
     [(0, "near", 20, H), (1, "near", 20, H), (F(7, 2), "far", 20, E)]),
    ("pull focus to the background at 1.5s over 2 seconds",
     [(0, "middle", 20, H), (F(3, 2), "middle", 20, H), (F(7, 2), "far", 20, E)]),
    ("rack to far at 00:00:02:00 over 12 frames", [(0, "middle", 20, H), (2, "middle", 20, H), (F(5, 2), "far", 20, E)]),
    ("the focus shifts from near to far between 1s and 3s", [(0, "near", 20, H), (1, "near", 20, H), (3, "far", 20, E)]),
    ("focus moves from the background to the foreground from 2s to 4s",
     [(0, "far", 20, H), (2, "far", 20, H), (4, "near", 20, E)]),
    ("slow pull to the foreground at 1s", [(0, "middle", 20, H), (1, "middle", 20, H), (3, "near", 20, E)]),
    ("quick rack to the background at 2s", [(0, "middle", 20, H), (2, "middle", 20, H), (F(5, 2), "far", 20, E)]),
    ("rack focus to the background at 2s linearly over 1s",
     [(0, "middle", 20, H), (2, "middle", 20, H), (3, "far", 20, L)]),
    ("cut to the background at 2s", [(0, "middle", 20, H), (2, "middle", 20, H), (2, "far", 20, H)]),
    ("start on the background, then pull focus to the foreground at 1s over 1s, then rack back to the "
     "background at 4s", [(0, "far", 20, H), (1, "far", 20, H), (2, "near", 20, E), (4, "near", 20, H),
                          (5, "far", 20, E)]),
    ("rack focus to the foreground by 3s", [(0, "middle", 20, H), (3, "near", 20, E)]),
    ("pull focus to near over half a second", [(0, "middle", 20, H), (F(1, 2), "near", 20, E)]),
    ("focus pull from far to near starting at frame 24 lasting 24 frames",
     [(0, "far", 20, H), (1, "far", 20, H), (2, "near", 20, E)]),
    ("end on the foreground", [("r0", "middle", 20, H), ("r1", "near", 20, E)]),
    ("rack focus to the background over 2 seconds", [(0, "middle", 20, H), (2, "far", 20, E)]),
]

BLUR = [
    ("a small blur", 10), ("with a medium blur", 20), ("large bokeh", 40), ("heavy blur", 40),
    ("blur 12", 12), ("blur of 25", 25), ("k=30", 30), ("f/1.4", 40), ("f2.8", 20), ("at f/8", 7),
    ("aperture 4", 14), ("shallow depth of field", 40), ("deep focus", 10), ("no blur", 0),
    ("everything in focus", 0), ("shallow depth of field, f/1.4", 40), ("focus at 0.35 with blur 12", 12),
    ("creamy bokeh, focus on the foreground", 40),
]


def _expected(rows):
    return [(f"r{t[1:]}" if isinstance(t, str) else F(t), what, float(k), interp) for t, what, k, interp in rows]


@pytest.mark.parametrize("text,rows", STATIC + DYNAMIC)
def test_phrasings_give_exact_keyframes(text, rows) -> None:
    assert summary(text) == _expected(rows)


@pytest.mark.parametrize("text,k", BLUR)
def test_blur_phrasings(text, k) -> None:
    ks = {kf.blur.k for kf in parse_prompt(text, 24).keyframes}
    assert ks == {float(k)}


def test_at_least_forty_distinct_phrasings() -> None:
    assert len({t for t, _ in STATIC + DYNAMIC} | {t for t, _ in BLUR}) >= 40


def test_blur_object_implies_focus_only_without_a_stated_focus() -> None:
    assert summary("blur the background slightly") == _expected([(0, "near", 10, H)])
    assert summary("blur the foreground heavily") == _expected([(0, "far", 40, H)])
    assert summary("focus on the background and blur the foreground") == _expected([(0, "far", 20, H)])


def test_timecode_keyframes_land_on_frames_at_ntsc() -> None:
    rate = Fraction(30000, 1001)
    plan = parse_prompt("pull focus from near to far between 00:00:01:00 and 00:00:03:12", rate)
    frames = [r.frame for r in plan.resolve(rate)]
    assert frames == [0, 30, 102]


@pytest.mark.parametrize("text,quoted", [
    ("focus on the cat", "'cat'"),
    ("xyzzy", "'xyzzy'"),
    ("focus on the foreground, make it pop", "'make it pop'"),
    ("rack focus to the moon at 2s", "'to the moon at 2s'"),
    ("blur 12 please and dance", "'dance'"),
])
def test_unknown_phrasing_quotes_the_part_and_lists_forms(text, quoted) -> None:
    with pytest.raises(UsageError) as err:
        parse_prompt(text, 24)
    assert quoted in str(err.value)
    assert ACCEPTED_FORMS in str(err.value)


@pytest.mark.parametrize("text,match", [
    ("", "empty"),
    ("focus at 3", "neither a normalized disparity"),
    ("blur 12, blur 30", "more than one blur value"),
    ("small blur, heavy blur", "conflicting blur sizes"),
    ("rack to far at 3s, rack to near at 1s", "comes before"),
    ("focus on near, focus on far", "second focus"),
    ("rack from near to far, rack to near at 2s", "whole clip"),
    ("rack to far at 00:00:01:30", "not valid"),
    ("pull to far between 3s and 1s", "before it starts"),
    ("focus on point 1.5, 0.2", r"\[0, 1\]"),
])
def test_conflicts_and_bad_values_are_usage_errors(text, match) -> None:
    with pytest.raises(UsageError, match=match):
        parse_prompt(text, 24)


def test_timecode_needs_a_rate() -> None:
    with pytest.raises(UsageError, match="frame rate"):
        parse_prompt("rack to far at 00:00:01:00")
    assert parse_prompt("rack to far at 1s").keyframes[-1].time == 2


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_any_text_raises_nothing_but_usage_error(text) -> None:
    try:
        parse_prompt(text, 24)
    except UsageError:
        pass


WORDS = ["focus", "on", "the", "background", "foreground", "rack", "pull", "to", "from", "at", "over", "2s",
         "00:00:01:00", "and", "blur", "small", "large", "f/1.4", "0.35", ",", "between", "1.5", "point", "0.5",
         "box", "then", "keep", "sharp", "shallow", "depth", "of", "field", "frames", "12", "cut", "start", "end"]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(WORDS), max_size=12))
def test_vocabulary_soup_raises_nothing_but_usage_error(words) -> None:
    try:
        plan = parse_prompt(" ".join(words), 24)
    except UsageError:
        return
    assert plan.keyframes


def test_flags_override_the_prompt() -> None:
    plan = parse_prompt("rack focus from near to far, large blur", 24)
    assert merge_flags(plan).keyframes == plan.keyframes
    focused = merge_flags(plan, focus="0.3")
    assert [kf.target for kf in focused.keyframes] == [DisparityTarget(0.3)]
    assert focused.keyframes[0].blur == Blur(40)
    blurred = merge_flags(plan, blur="f/2.8")
    assert len(blurred.keyframes) == 2 and {kf.blur.k for kf in blurred.keyframes} == {20.0}
    pointed = merge_flags(plan, focus_point="0.5,0.4", blur=12)
    assert pointed.keyframes[0].target == PointTarget(0.5, 0.4) and pointed.keyframes[0].blur == Blur(12)
    assert merge_flags(None, focus="far").keyframes[0].target == SymbolicTarget("far")
    assert plan_from_inputs("focus on the foreground", blur="small").keyframes[0].blur == Blur(10)
    assert plan_from_inputs(None).keyframes[0].target == SymbolicTarget("middle")
    with pytest.raises(UsageError, match="not both"):
        merge_flags(plan, focus=0.3, focus_point="0.1,0.1")
    with pytest.raises(UsageError, match="--blur"):
        merge_flags(plan, blur="enormous")
    with pytest.raises(UsageError, match="--focus"):
        merge_flags(plan, focus="closer")


def test_parse_point_units() -> None:
    assert parse_point("0.5, 0.25") == PointTarget(0.5, 0.25)
    assert parse_point("640,360px") == PointTarget(640, 360, pixels=True)
    assert parse_point((0.1, 0.9)) == PointTarget(0.1, 0.9)
    for bad in ["0.5", "a,b", "2,0.5", "0.1,0.2,0.3"]:
        with pytest.raises(UsageError, match="--focus-point"):
            parse_point(bad)


def test_region_prompt_needs_ordered_box() -> None:
    with pytest.raises(UsageError, match="x1 > x0"):
        parse_prompt("focus on box 0.5 0.5 0.1 0.9", 24)
    assert isinstance(parse_prompt("focus on box 0 0 0.5 0.5", 24).keyframes[0].target, RegionTarget)
    assert parse_prompt("rack to far over 1s linearly", 24).keyframes[-1].interp is Interp.LINEAR
