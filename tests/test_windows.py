"""The shared window planner: coverage, tail handling, blend weights, streaming == offline."""

from __future__ import annotations

import doctest

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bokehfx.errors import UsageError
from bokehfx import windows as windows_mod
from bokehfx.windows import (
    StreamingWindowPlanner,
    blend_windows,
    crossfade_ramp,
    frame_weights,
    plan_windows,
)

plan_args = st.integers(min_value=1, max_value=40).flatmap(
    lambda w: st.tuples(st.integers(0, 200), st.just(w), st.integers(0, w - 1))
)


def spans(plan):
    return [(w.start, w.stop) for w in plan]


def test_docstring_examples():
    result = doctest.testmod(windows_mod)
    assert result.attempted >= 3
    assert result.failed == 0


@settings(max_examples=300, deadline=None)
@given(plan_args)
def test_every_frame_covered_and_windows_full_length(args):
    n, window, overlap = args
    plan = plan_windows(n, window, overlap)
    covered = np.zeros(n, dtype=int)
    for w in plan:
        covered[w.start : w.stop] += 1
        assert w.length == min(window, n)
    assert (covered >= 1).all()
    if n:
        assert plan[0].start == 0 and plan[-1].stop == n
    assert [w.index for w in plan] == list(range(len(plan)))
    for a, b in zip(plan, plan[1:]):
        assert b.start > a.start
        assert b.start <= a.stop  # no gap
        assert b.blend_in == a.stop - b.start
        assert b.blend_in >= overlap


@settings(max_examples=300, deadline=None)
@given(plan_args, st.sampled_from(["linear", "cosine"]))
def test_weights_sum_to_one_on_every_frame(args, mode):
    n, window, overlap = args
    plan = plan_windows(n, window, overlap)
    weights = frame_weights(plan, n, mode)
    np.testing.assert_allclose(weights.sum(axis=0), 1.0, atol=1e-12)
    for k, w in enumerate(plan):
        inside = weights[k, w.start : w.stop]
        assert (inside > 0).all()  # each window contributes on all its frames...
        outside = np.delete(weights[k], np.arange(w.start, w.stop))
        assert (outside == 0).all()  # ...and nowhere else


@settings(max_examples=300, deadline=None)
@given(plan_args, st.lists(st.integers(0, 7), min_size=1, max_size=60))
def test_streaming_equals_offline(args, chunks):
    n, window, overlap = args
    planner = StreamingWindowPlanner(window, overlap)
    streamed = []
    pushed = 0
    for c in chunks:
        c = min(c, n - pushed)
        fresh = planner.push(c)
        pushed += c
        for w in fresh:
            assert w.stop <= pushed  # emitted only once its frames exist
        streamed.extend(fresh)
        assert planner.final_before <= (streamed[-1].start if streamed else 0)
    streamed.extend(planner.push(n - pushed))
    streamed.extend(planner.finish())
    assert tuple(streamed) == plan_windows(n, window, overlap)
    assert planner.final_before == n


def test_regular_plan_without_tail():
    assert spans(plan_windows(20, 8, 2)) == [(0, 8), (6, 14), (12, 20)]


def test_tail_window_is_shifted_back_not_a_stub():
    plan = plan_windows(15, 8, 2)
    assert spans(plan) == [(0, 8), (6, 14), (7, 15)]
    assert plan[-1].blend_in == 7
    assert plan[-1].overlap_slice == slice(7, 14) and list(plan[-1].frames) == list(range(7, 15))


def test_tail_after_exact_fit_is_not_added():
    assert spans(plan_windows(8, 8, 3)) == [(0, 8)]
    assert spans(plan_windows(13, 8, 3)) == [(0, 8), (5, 13)]


def test_clip_shorter_than_window_gets_one_window():
    plan = plan_windows(5, 16, 4)
    assert spans(plan) == [(0, 5)]
    assert plan[0].blend_in == 0


def test_empty_clip_gets_no_window():
    assert plan_windows(0, 16, 4) == ()


def test_zero_overlap_tiles_the_clip():
    assert spans(plan_windows(9, 3, 0)) == [(0, 3), (3, 6), (6, 9)]


def test_three_windows_overlap_near_a_tail_and_weights_still_sum_to_one():
    plan = plan_windows(26, 16, 8)
    assert spans(plan) == [(0, 16), (8, 24), (10, 26)]
    weights = frame_weights(plan, 26)
    assert (weights[:, 12] > 0).all()
    np.testing.assert_allclose(weights.sum(axis=0), 1.0)


@pytest.mark.parametrize("mode", ["linear", "cosine"])
def test_ramp_rises_strictly_inside_zero_one(mode):
    ramp = crossfade_ramp(6, mode)
    assert ramp.shape == (6,)
    assert (np.diff(ramp) > 0).all()
    assert ramp[0] > 0 and ramp[-1] < 1
    np.testing.assert_allclose(ramp + ramp[::-1], 1.0)  # symmetric cross-fade


def test_linear_ramp_values():
    np.testing.assert_allclose(crossfade_ramp(3, "linear"), [0.25, 0.5, 0.75])
    assert crossfade_ramp(0).shape == (0,)


def test_blend_windows_matches_frame_weights_and_reproduces_constant_signal():
    n, window, overlap = 23, 8, 3
    plan = plan_windows(n, window, overlap)
    rng = np.random.default_rng(0)
    results = [rng.normal(size=(w.length, 2, 3)) for w in plan]
    blended = blend_windows(results, plan, n, "cosine")
    weights = frame_weights(plan, n, "cosine")
    expected = np.zeros((n, 2, 3))
    for k, (w, r) in enumerate(zip(plan, results)):
        expected[w.start : w.stop] += weights[k, w.start : w.stop, None, None] * r
    np.testing.assert_allclose(blended, expected, atol=1e-12)
    ones = blend_windows([np.ones((w.length,)) for w in plan], plan, n)
    np.testing.assert_allclose(ones, 1.0)


@pytest.mark.parametrize(
    ("window", "overlap", "needle"),
    [
        (0, 0, "window must be a positive number of frames, got 0"),
        (-3, 0, "window must be a positive number of frames, got -3"),
        (8, 8, "overlap must be smaller than window (8), got 8"),
        (8, 12, "overlap must be smaller than window (8), got 12"),
        (8, -1, "overlap must be 0 or more frames, got -1"),
        (8.5, 2, "window must be an integer, got 8.5"),
        (8, True, "overlap must be an integer, got True"),
    ],
)
def test_invalid_window_args_name_argument_and_value(window, overlap, needle):
    with pytest.raises(UsageError) as err:
        plan_windows(10, window, overlap)
    assert needle in str(err.value)
    with pytest.raises(UsageError):
        StreamingWindowPlanner(window, overlap)


def test_invalid_other_args():
    with pytest.raises(UsageError, match="num_frames must be 0 or more, got -1"):
        plan_windows(-1, 8, 2)
    with pytest.raises(UsageError, match="mode must be one of linear, cosine, got 'hann'"):
        crossfade_ramp(4, "hann")
    planner = StreamingWindowPlanner(8, 2)
    with pytest.raises(UsageError, match="count must be 0 or more, got -2"):
        planner.push(-2)
    planner.push(3)
    assert [(w.start, w.stop) for w in planner.finish()] == [(0, 3)]
    assert planner.finish() == []
    with pytest.raises(UsageError, match="count of 1 frames pushed after finish"):
        planner.push(1)
    plan = plan_windows(10, 4, 1)
    with pytest.raises(UsageError, match="results must have one entry per window"):
        blend_windows([np.zeros(4)], plan, 10)
    with pytest.raises(UsageError, match=r"results\[1\] must have shape"):
        blend_windows([np.zeros(w.length + (w.index == 1)) for w in plan], plan, 10)
