"""Temporal stability: least-squares alignment, windowed cross-fade, one normalization per clip."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from depth_helpers import decode_frames, save_tiny_depth_anything, srgb_to_linear

from bokehfx.depth.convert import DisparityRange, normalize_disparity
from bokehfx.depth.estimator import DepthAnythingEstimator
from bokehfx.depth.temporal import (
    TemporalDepthStabilizer,
    estimate_clip_disparity,
    fit_scale_shift,
    mean_frame_change,
    stabilized_disparity,
)
from bokehfx.errors import UsageError

H, W = 12, 16


def index_frames(n: int) -> list[np.ndarray]:
    """Frames that carry their own index, so a synthetic estimator knows which frame it sees."""
    return [np.full((3, H, W), float(i), np.float32) for i in range(n)]


def ground_truth(n: int) -> np.ndarray:
    """A scene whose disparity really changes over time (something approaching the camera)."""
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float64)
    base = 1.0 + 0.2 * xx + 0.1 * yy
    return np.stack([base + 0.05 * t * (xx > 8) for t in range(n)])


class PerCallAffineEstimator:
    """Returns the true disparity under a different unknown scale and shift on every call (window)."""

    def __init__(self, truth: np.ndarray, seed: int = 0) -> None:
        self.truth = truth
        self.rng = np.random.default_rng(seed)
        self.calls: list[tuple[float, float]] = []

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        s, t = self.rng.uniform(0.3, 3.0), self.rng.uniform(-2.0, 2.0)
        self.calls.append((s, t))
        idx = np.asarray(frames)[:, 0, 0, 0].astype(int)
        return (s * self.truth[idx] + t)[:, None].astype(np.float32)


class PerFrameJitterEstimator:
    """A fixed disparity under per-frame scale/shift jitter, pixel noise and a few outlier pixels."""

    def __init__(self, base: np.ndarray, n: int, noise: float, seed: int = 1) -> None:
        rng = np.random.default_rng(seed)
        self.base = base
        self.scale = rng.uniform(0.7, 1.4, n)
        self.shift = rng.uniform(-0.5, 0.5, n)
        self.noise = rng.normal(0, noise, (n, *base.shape))
        self.spikes = [(rng.integers(0, H), rng.integers(0, W), rng.uniform(-3, 6)) for _ in range(n)]

    def frame(self, i: int) -> np.ndarray:
        d = self.scale[i] * self.base + self.shift[i] + self.noise[i]
        y, x, v = self.spikes[i]
        d[y, x] += v  # an outlier pixel, like a specular or sky pixel an image model gets wrong
        return d

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        idx = np.asarray(frames)[:, 0, 0, 0].astype(int)
        return np.stack([self.frame(i) for i in idx])[:, None].astype(np.float32)


def test_fit_recovers_known_scale_and_shift_exactly():
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 5, (4, H, W))
    s, t = fit_scale_shift(x, 2.5 * x - 0.7)
    assert s == pytest.approx(2.5, abs=1e-12) and t == pytest.approx(-0.7, abs=1e-12)
    assert fit_scale_shift(np.ones((3, 3)), np.full((3, 3), 4.0)) == (1.0, 3.0)
    s_flip, _ = fit_scale_shift(x, -x)
    assert s_flip > 0  # never flips near and far
    with pytest.raises(UsageError, match="same shape"):
        fit_scale_shift(x, x[0])


@pytest.mark.parametrize(("n", "window", "overlap"), [(20, 8, 2), (23, 8, 3), (5, 8, 2), (26, 16, 8)])
def test_windows_under_unknown_affine_are_aligned_exactly(n, window, overlap):
    truth = ground_truth(n)
    est = PerCallAffineEstimator(truth)
    out = estimate_clip_disparity(index_frames(n), est, window, overlap, frame_alignment=False)
    expected = normalize_disparity(truth, truth.min(), truth.max())
    np.testing.assert_allclose(out, expected, atol=1e-5)


def test_window_fits_invert_the_per_window_affine():
    n, window, overlap = 20, 8, 2
    truth = ground_truth(n)
    est = PerCallAffineEstimator(truth, seed=3)
    stab = TemporalDepthStabilizer(est, window, overlap, frame_alignment=False)
    for f in index_frames(n):
        stab.push(f)
    stab.finish()
    (s0, t0) = est.calls[0]
    for (sk, tk), (fs, ft) in zip(est.calls[1:], stab.window_fits[1:]):
        # window k is mapped onto window 0's scale: fs * (sk * x + tk) + ft == s0 * x + t0
        assert fs * sk == pytest.approx(s0, rel=1e-6)
        assert fs * tk + ft == pytest.approx(t0, abs=1e-5)


def test_per_frame_jitter_is_removed_and_flicker_drops():
    n = 24
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float64)
    base = 1.0 + np.sin(xx / 3.0) + 0.1 * yy
    noise = 0.01
    est = PerFrameJitterEstimator(base, n, noise)
    per_frame = np.stack([est.frame(i) for i in range(n)])
    naive = np.stack([normalize_disparity(d, d.min(), d.max()) for d in per_frame])
    clip = normalize_disparity(per_frame, per_frame.min(), per_frame.max())
    ours = estimate_clip_disparity(index_frames(n), est, window=8, overlap=3)
    runs = [("per-frame", naive), ("per-frame clip-norm", clip), ("aligned", ours)]
    change = {name: mean_frame_change(v) for name, v in runs}
    print("mean |d(t+1) - d(t)| on a static scene:", {k: round(v, 5) for k, v in change.items()})
    assert change["aligned"] < 0.5 * change["per-frame"]
    assert change["aligned"] < 0.5 * change["per-frame clip-norm"]
    # the shape of the scene survives (up to the clip's one affine normalization)
    s, t = fit_scale_shift(ours, np.broadcast_to(base, ours.shape))
    assert np.abs(s * ours + t - base).mean() < 0.03 * np.ptp(base)


def test_real_clip_with_tiny_model_prints_flicker(shared, tmp_path):
    """With random weights the model's output is not meaningful depth, but its per-frame
    instability is real: aligned windows must flicker less than frame-by-frame estimation."""
    est = DepthAnythingEstimator(str(save_tiny_depth_anything(tmp_path / "m")), input_size=28, batch_size=8)
    frames = srgb_to_linear(decode_frames(shared / "media/vda_davis_rollercoaster.mp4", 12, 64, 36))
    raw = est.estimate(frames)[:, 0]
    naive = np.stack([normalize_disparity(d, d.min(), d.max()) for d in raw])
    ours = estimate_clip_disparity(list(frames), est.estimate, window=6, overlap=2)
    assert ours.shape == (12, 36, 64)
    per_frame, aligned = mean_frame_change(naive), mean_frame_change(ours)
    print(f"real clip, tiny random model: per-frame {per_frame:.5f}, aligned {aligned:.5f}")
    assert aligned < per_frame


def test_streaming_holds_at_most_a_window_and_a_stride():
    n, window, overlap = 50, 8, 3
    est = PerCallAffineEstimator(ground_truth(n))
    stab = TemporalDepthStabilizer(est, window, overlap)
    released = []
    for f in index_frames(n):
        released += stab.push(f)
        assert len(stab._inputs) <= window + (window - overlap)
    released += stab.finish()
    assert len(released) == n
    assert not stab._inputs and not stab._blended


def test_torch_frames_and_external_range():
    n = 10
    truth = ground_truth(n)
    est = PerCallAffineEstimator(truth)

    def torch_estimate(frames: torch.Tensor) -> torch.Tensor:
        assert isinstance(frames, torch.Tensor)
        return torch.from_numpy(est(frames.numpy()))

    clip_range = DisparityRange()
    frames = [torch.from_numpy(f) for f in index_frames(n)]
    maps = list(stabilized_disparity(frames, torch_estimate, 4, 1, frame_alignment=False, clip_range=clip_range))
    assert len(maps) == n and clip_range.frames == n
    expected = normalize_disparity(truth, truth.min(), truth.max())
    np.testing.assert_allclose(clip_range.normalize(np.stack(maps)), expected, atol=1e-5)


def test_bad_arguments():
    with pytest.raises(UsageError, match="overlap must be smaller than window"):
        TemporalDepthStabilizer(lambda f: f, window=4, overlap=4)
    with pytest.raises(UsageError, match="mode must be one of"):
        TemporalDepthStabilizer(lambda f: f, mode="step")
    with pytest.raises(UsageError, match=r"frame must have shape \(3, H, W\)"):
        TemporalDepthStabilizer(lambda f: f).push(np.zeros((H, W)))
    with pytest.raises(UsageError, match="at least one frame"):
        estimate_clip_disparity([], lambda f: f)
