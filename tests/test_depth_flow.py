"""Flow-guided smoothing: less noise on a moving scene, without smearing its moving edges."""

from __future__ import annotations

import numpy as np
import pytest

from bokehfx.depth.flow import FlowSmoother, backward_flow, warp
from bokehfx.depth.temporal import estimate_clip_disparity
from bokehfx.errors import UsageError

H, W, SHIFT, N = 48, 64, 2, 12


def textured_scene():
    """Frames of a textured image moving right by SHIFT px per frame, and its true disparity."""
    rng = np.random.default_rng(0)
    big_w = W + SHIFT * N
    texture = rng.random((H // 4, big_w // 4))
    texture = np.kron(texture, np.ones((4, 4)))  # blocks Farneback can track
    yy, xx = np.mgrid[0:H, 0:big_w]
    disparity = 0.2 + 0.6 * ((xx // 16) % 2)  # vertical bands of near/far: sharp moving edges
    frames, truth = [], []
    for t in range(N):
        x0 = big_w - W - SHIFT * t  # the view slides left over the texture: content moves right
        img = texture[:, x0 : x0 + W].astype(np.float32)
        frames.append(np.stack([img, img, img]))
        truth.append(disparity[:, x0 : x0 + W].astype(np.float32))
    return frames, np.stack(truth)


def test_flow_recovers_the_motion():
    frames, _ = textured_scene()
    prev, cur = frames[3][0], frames[4][0]
    flow = backward_flow(cur, prev)
    inner = np.s_[8:-8, 8:-8]
    assert np.median(flow[..., 0][inner]) == pytest.approx(-SHIFT, abs=0.25)
    assert np.median(np.abs(flow[..., 1][inner])) < 0.25
    assert np.abs(warp(prev, flow) - cur)[inner].mean() < 0.05


def test_smoothing_removes_noise_without_ghosting_edges():
    frames, truth = textured_scene()
    rng = np.random.default_rng(1)
    noisy = truth + rng.normal(0, 0.05, truth.shape).astype(np.float32)
    smoother = FlowSmoother(strength=0.6, linear=False)
    smoothed = np.stack([smoother.push(f, d) for f, d in zip(frames, noisy)])
    plain_ema = [noisy[0]]
    for d in noisy[1:]:
        plain_ema.append(0.4 * d + 0.6 * plain_ema[-1])
    plain_ema = np.stack(plain_ema)
    inner = np.s_[4:, 8:-8, 8:-8]
    err = {name: float(np.abs(v - truth)[inner].mean()) for name, v in
           [("noisy", noisy), ("flow-smoothed", smoothed), ("EMA without flow", plain_ema)]}
    print("mean error vs truth:", {k: round(v, 4) for k, v in err.items()})
    assert err["flow-smoothed"] < 0.8 * err["noisy"]
    assert err["flow-smoothed"] < err["EMA without flow"]


def test_stabilizer_option_and_validation():
    frames, truth = textured_scene()

    def estimate(batch):
        idx = [int(np.argmin([np.abs(b - f).sum() for f in frames])) for b in batch]
        return truth[idx][:, None]

    off = estimate_clip_disparity(frames, estimate, window=4, overlap=1, frame_alignment=False)
    on = estimate_clip_disparity(frames, estimate, window=4, overlap=1, frame_alignment=False, flow_smoothing=0.5)
    assert on.shape == off.shape == truth.shape
    assert not np.array_equal(on, off)
    assert np.abs(on - off)[:, 8:-8, 8:-8].mean() < 0.05  # a clean signal stays (nearly) unchanged
    with pytest.raises(UsageError, match=r"strength must be in \[0, 1\), got 1.0"):
        FlowSmoother(strength=1.0)
    with pytest.raises(UsageError, match="disparity must match the frame size"):
        FlowSmoother().push(frames[0], truth[0][:10])
