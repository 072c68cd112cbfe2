"""Clips in overlapping windows: every frame once and in order, bounded memory, no seams."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bokehfx.diffusion.sampling import LatentWindowStream
from bokehfx.windows import frame_weights, plan_windows
from tests.diffusion_helpers import inputs, make_position_independent, tiny_pipeline


@pytest.fixture(scope="module")
def pipe():
    p = tiny_pipeline()
    make_position_independent(p)
    return p


def stream(pipe, window, overlap, steps, chunks, frames=7):
    rgb, disp, f, k = inputs(frames=frames)
    context = pipe.prepare_context("blur", None)
    s = LatentWindowStream(pipe, context, window=window, overlap=overlap, steps=steps, guidance_image=1.0,
                           guidance_text=1.0, seed=4, decode_chunk=2, output_latents=True)
    out, held, start = [], [], 0
    for n in chunks:
        out.append(s.push(rgb[start:start + n], disp[start:start + n], f[start:start + n], k[start:start + n]))
        held.append(s.held_frames)
        start += n
    out.append(s.finish())
    return torch.cat([o for o in out if o.shape[0]]), held


@pytest.mark.parametrize("frames,window,overlap", [(7, 3, 1), (10, 4, 2), (2, 4, 1)])
def test_planner_weights_cover_every_frame_and_sum_to_one(frames, window, overlap):
    windows = plan_windows(frames, window, overlap)
    weights = frame_weights(windows, frames)
    np.testing.assert_allclose(weights.sum(axis=0), 1.0)
    assert (weights.max(axis=0) > 0).all()


def test_windows_leave_no_seam_in_multi_step_mode(pipe):
    whole, _ = stream(pipe, window=7, overlap=0, steps=2, chunks=[7])
    windowed, held = stream(pipe, window=3, overlap=1, steps=2, chunks=[2, 1, 3, 1])
    assert windowed.shape == whole.shape == (7, 4, 6, 8)
    # Two sampler steps through float32 layers batched differently (a window vs the whole clip):
    # summation order alone moves values by up to ~2.5e-4 with one torch thread.
    torch.testing.assert_close(windowed, whole, rtol=5e-4, atol=5e-4)
    assert max(held) <= 3 + 2, "frames held are bounded by the window plus its stride"


def test_windows_leave_no_seam_in_one_step_mode(pipe):
    whole, _ = stream(pipe, window=7, overlap=0, steps=1, chunks=[7])
    windowed, _ = stream(pipe, window=3, overlap=2, steps=1, chunks=[1] * 7)
    torch.testing.assert_close(windowed, whole, rtol=1e-4, atol=1e-4)


def test_windowed_frames_decode_to_the_single_window_render(pipe):
    rgb, disp, f, k = inputs(frames=5)
    whole = pipe(rgb, disp, f, k, num_inference_steps=2, window=5, guidance_image=1, guidance_text=1).frames
    windowed = pipe(rgb, disp, f, k, num_inference_steps=2, window=3, overlap=1, guidance_image=1,
                    guidance_text=1).frames
    assert windowed.shape == (5, 3, 24, 32)
    torch.testing.assert_close(windowed, whole, rtol=1e-3, atol=1e-3)
