"""Focus plan model: exact time, targets, blur scale, interpolation, streaming evaluation."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from bokehfx.errors import UsageError
from bokehfx.focus import (
    BLUR_LABELS,
    Blur,
    DepthTarget,
    DisparityTarget,
    FocusPlan,
    Interp,
    Keyframe,
    PointTarget,
    RegionTarget,
    SymbolicTarget,
    parse_blur,
    parse_target,
)
from bokehfx.timecode import exact_rate, format_timecode, frame_at, parse_timecode, seconds_at

NTSC = [Fraction(24000, 1001), Fraction(30000, 1001), Fraction(60000, 1001)]


def flat(value: float, n: int, shape=(8, 10)) -> list[np.ndarray]:
    return [np.full(shape, value, np.float32) for _ in range(n)]


def ramp(shape=(20, 20)) -> np.ndarray:
    """Disparity rising left to right from 0 to 1 (uniform distribution)."""
    return np.tile(np.linspace(0, 1, shape[1], dtype=np.float32), (shape[0], 1))


@pytest.mark.parametrize("text,expected", [
    ("23.976", Fraction(24000, 1001)), (23.976023976, Fraction(24000, 1001)), ("29.97", Fraction(30000, 1001)),
    ("59.94", Fraction(60000, 1001)), ("24000/1001", Fraction(24000, 1001)), (25, Fraction(25)),
    ("25", Fraction(25)), (24.0, Fraction(24)), ("12.5", Fraction(25, 2)),
])
def test_exact_rate(text, expected) -> None:
    assert exact_rate(text) == expected


@pytest.mark.parametrize("bad", ["0", "-24", "abc", "nan", "1/0", True, "inf"])
def test_exact_rate_rejects(bad) -> None:
    with pytest.raises(UsageError):
        exact_rate(bad)


@pytest.mark.parametrize("rate", NTSC + [Fraction(25), Fraction(24)])
def test_frames_round_trip_exactly_for_hours(rate) -> None:
    for frame in (0, 1, 47, 1001, 86399, 10 * 3600 * 60):
        assert frame_at(seconds_at(frame, rate), rate) == frame


def test_timecode_non_drop_and_drop() -> None:
    assert parse_timecode("00:00:01:00", Fraction(24000, 1001)) == 24
    assert parse_timecode("00:00:03:12", 24) == 84
    assert parse_timecode("01:00:00:00", 25) == 90000
    # drop-frame at 29.97: one minute skips frames 0 and 1, ten minutes skip none.
    assert parse_timecode("00:01:00;02", Fraction(30000, 1001)) == 1800
    assert parse_timecode("00:10:00;00", Fraction(30000, 1001)) == 17982
    assert format_timecode(84, 24) == "00:00:03:12"
    for bad, rate in [("00:00:01:24", 24), ("00:00:01;00", 25), ("00:01:00;00", Fraction(30000, 1001)), ("1:2", 24)]:
        with pytest.raises(UsageError):
            parse_timecode(bad, rate)


def test_blur_scale_words_and_f_numbers() -> None:
    assert parse_blur("small").k == BLUR_LABELS["small"] == 10
    assert parse_blur("large").k == 40
    assert parse_blur("f/1.4").k == pytest.approx(40)
    assert parse_blur("f2.8").k == pytest.approx(20)
    assert parse_blur(12).k == 12 and parse_blur("12").k == 12
    assert parse_blur("none").k == 0 and Blur(0).label == "none"
    assert Blur(12).label == "small" and Blur(25).label == "medium" and Blur(90).label == "large"
    assert Blur(40).f_number == pytest.approx(1.4)
    for bad in ["huge", "-3", "f/0", "f/x", True, float("nan")]:
        with pytest.raises(UsageError):
            parse_blur(bad)


def test_targets_validate() -> None:
    assert parse_target("near") == SymbolicTarget("near")
    assert parse_target(0.35) == DisparityTarget(0.35)
    assert parse_target("2.5m") == DepthTarget(2.5)
    for bad in [1.5, "closer", "-1m", True]:
        with pytest.raises(UsageError):
            parse_target(bad)
    with pytest.raises(UsageError):
        PointTarget(1.2, 0.5)
    assert PointTarget(640, 360, pixels=True).describe()["units"] == "px"
    with pytest.raises(UsageError):
        RegionTarget(box=(0.5, 0.5, 0.2, 0.9))
    with pytest.raises(UsageError):
        RegionTarget()


def test_static_plan_reads_each_target_kind() -> None:
    disp = ramp()
    rate = 24
    for target, expected in [("near", 0.9), ("middle", 0.5), ("far", 0.1), (0.3, 0.3)]:
        curve = FocusPlan.static(target, "large").evaluate([disp] * 3, rate)
        assert curve.focus == pytest.approx([expected] * 3, abs=0.03)
        assert list(curve.k) == [40.0] * 3
    # a point reads the median in a small window; a box reads the median inside it.
    point = FocusPlan((Keyframe(0, PointTarget(1.0, 0.5, track=False), Blur(10)),))
    assert not point.needs_images
    assert point.evaluate([disp], rate).focus[0] == pytest.approx(1.0, abs=0.06)
    tracked = FocusPlan((Keyframe(0, PointTarget(1.0, 0.5), Blur(10)),))
    assert tracked.needs_images
    with pytest.raises(UsageError, match="pass the frames"):
        tracked.evaluate([disp], rate)
    region = FocusPlan((Keyframe(0, RegionTarget(box=(0.0, 0.0, 0.2, 1.0)), Blur(10)),))
    assert region.evaluate([disp], rate).focus[0] == pytest.approx(0.1, abs=0.06)
    mask = np.zeros((20, 20), bool)
    mask[:, -3:] = True
    masked = FocusPlan((Keyframe(0, RegionTarget(mask=mask), Blur(10)),))
    assert masked.evaluate([disp], rate).focus[0] == pytest.approx(disp[0, -2], abs=1e-6)


def test_depth_target_needs_metric_depth() -> None:
    plan = FocusPlan((Keyframe(0, DepthTarget(2.0), Blur(10)),))
    with pytest.raises(UsageError, match="metric"):
        plan.evaluate(flat(0.5, 2), 24)
    curve = plan.evaluate(flat(0.5, 2), 24, depth_to_disparity=lambda z: 1.0 / z)
    assert list(curve.focus) == [0.5, 0.5]


def _rack(interp: Interp) -> FocusPlan:
    return FocusPlan((
        Keyframe(0, DisparityTarget(0.2), Blur(10)),
        Keyframe(1, DisparityTarget(0.2), Blur(10), Interp.HOLD),
        Keyframe(2, DisparityTarget(0.8), Blur(30), interp),
    ))


def test_interpolation_hold_linear_ease() -> None:
    rate = 10
    disp = flat(0.5, 31)
    hold = _rack(Interp.HOLD).evaluate(disp, rate)
    assert list(hold.focus[:20]) == [0.2] * 20 and list(hold.focus[20:]) == [0.8] * 11
    linear = _rack(Interp.LINEAR).evaluate(disp, rate)
    assert linear.focus[15] == pytest.approx(0.5) and linear.k[15] == pytest.approx(20)
    assert np.allclose(np.diff(linear.focus[10:21]), 0.06)
    ease = _rack(Interp.EASE).evaluate(disp, rate)
    assert ease.focus[15] == pytest.approx(0.5)
    steps = np.diff(ease.focus[10:21])
    assert steps[0] < steps[4] and steps[-1] < steps[5]  # slow in, slow out
    assert np.all(steps > 0) and ease.focus[20] == pytest.approx(0.8)


@pytest.mark.parametrize("rate", NTSC)
def test_keyframes_land_on_exact_frames_at_ntsc(rate) -> None:
    frame = 1001 * 3 + 7
    t = seconds_at(frame, rate)
    plan = FocusPlan((Keyframe(0, DisparityTarget(0.0), Blur(0)), Keyframe(t, DisparityTarget(1.0), Blur(0))))
    resolved = plan.resolve(rate)
    assert [r.frame for r in resolved] == [0, frame]
    ev = plan.evaluator(rate)
    values = [ev.push(np.zeros((2, 2), np.float32)).focus for _ in range(frame + 1)]
    assert values[frame - 1] == 0.0 and values[frame] == 1.0


def test_relative_keyframes_need_frame_count() -> None:
    plan = FocusPlan((Keyframe(0, SymbolicTarget("near"), Blur(10), relative=True),
                      Keyframe(1, SymbolicTarget("far"), Blur(10), Interp.LINEAR, relative=True)))
    with pytest.raises(UsageError, match="number of frames"):
        plan.resolve(24)
    curve = plan.evaluate([ramp()] * 11, 24)
    assert curve.focus[0] == pytest.approx(0.9, abs=0.03) and curve.focus[-1] == pytest.approx(0.1, abs=0.03)
    assert curve.focus[5] == pytest.approx(0.5, abs=0.03)


def test_streaming_windows_match_whole_clip_and_accept_torch() -> None:
    import torch

    rng = np.random.default_rng(0)
    disp = [rng.random((12, 16)).astype(np.float32) for _ in range(30)]
    plan = FocusPlan((Keyframe(0, SymbolicTarget("near"), Blur(10)),
                      Keyframe(Fraction(1, 2), SymbolicTarget("far"), Blur(40), Interp.EASE)))
    whole = plan.evaluate(disp, 24)
    ev = plan.evaluator(24)
    streamed = []
    for start in range(0, 30, 8):  # windows of 12 overlapping by 4
        window = disp[start:start + 12]
        got = ev.feed([torch.from_numpy(d) for d in window], start=start)
        streamed = streamed[:start] + [r.focus for r in got]
    assert np.allclose(streamed, whole.focus)
    with pytest.raises(UsageError, match="skips"):
        ev.feed(disp[:2], start=40)


def test_plan_to_dict_names_target_and_blur_label() -> None:
    plan = FocusPlan((Keyframe(Fraction(1001, 24000), SymbolicTarget("far"), Blur.from_label("large")),))
    d = plan.to_dict(rate=Fraction(24000, 1001))
    kf = d["keyframes"][0]
    assert d["schema"] == "bokehfx.focus/1"
    assert kf["target"] == "far" and kf["blur"] == 40 and kf["blur_label"] == "large" and kf["frame"] == 1
    assert kf["time_exact"] == "1001/24000"


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
def test_torch_disparity_reads_match_numpy(dtype) -> None:
    import torch

    rng = np.random.default_rng(3)
    disp = rng.random((30, 40)).astype(np.float32)
    tensor = torch.from_numpy(disp).to(getattr(torch, dtype))
    reference = tensor.float().numpy()
    mask = np.zeros((30, 40), bool)
    mask[5:12, 20:33] = True
    for target in [SymbolicTarget("near"), PointTarget(0.3, 0.6, track=False),
                   RegionTarget(box=(0.1, 0.2, 0.5, 0.7)), RegionTarget(mask=mask)]:
        plan = FocusPlan((Keyframe(0, target, Blur(10)),))
        got = plan.evaluate([tensor[None]], 24).focus[0]
        assert got == pytest.approx(plan.evaluate([reference], 24).focus[0], abs=1e-6)


def test_large_maps_are_subsampled_for_percentiles() -> None:
    big = np.tile(np.linspace(0, 1, 2048, dtype=np.float32), (1024, 1))
    big[1::2, :] = np.nan  # holes are ignored
    assert FocusPlan.static("near").evaluate([big], 24).focus[0] == pytest.approx(0.9, abs=0.01)


def test_smoothing_damps_jitter_of_measured_targets_only() -> None:
    rng = np.random.default_rng(5)
    maps = [np.clip(ramp() + rng.normal(0, 0.05), 0, 1) for _ in range(48)]  # whole-frame jitter
    raw = FocusPlan.static("middle").evaluate(maps, 24).focus
    smooth = FocusPlan.static("middle").evaluate(maps, 24, smoothing_seconds=0.25).focus
    assert np.std(np.diff(smooth)) < 0.35 * np.std(np.diff(raw))
    assert smooth[0] == raw[0] and abs(smooth.mean() - raw.mean()) < 0.02
    fixed = FocusPlan.static(0.4).evaluate(maps, 24, smoothing_seconds=0.25).focus
    assert list(fixed) == [0.4] * 48
    with pytest.raises(UsageError, match="smoothing_seconds"):
        FocusPlan.static().evaluator(24, smoothing_seconds=-1)
