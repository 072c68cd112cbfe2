"""The diffusion pipeline with tiny random components: determinism, guidance, conditioning, save/load."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from bokehfx.diffusion.loading import load_pipeline
from bokehfx.diffusion.pipeline import BokehVideoPipeline, combine_guidance, shared_noise
from tests.diffusion_helpers import inputs, tiny_pipeline


@pytest.fixture(scope="module")
def pipe() -> BokehVideoPipeline:
    return tiny_pipeline()


@pytest.fixture(scope="module")
def reference() -> torch.Tensor:
    return torch.rand(3, 40, 40, generator=torch.Generator().manual_seed(7))


def run(pipe, *, steps=1, seed=0, focus=None, blur=None, reference=None, prompt="large blur", **kw):
    rgb, disp, f, k = inputs()
    return pipe(rgb, disp, f if focus is None else focus, k if blur is None else blur, prompt=prompt,
                reference=reference, num_inference_steps=steps, seed=seed, **kw).frames


def test_shape_and_range(pipe, reference):
    for steps in (1, 2):
        out = run(pipe, steps=steps, reference=reference)
        assert out.shape == (3, 3, 24, 32)
        assert torch.isfinite(out).all() and out.min() >= 0 and out.max() <= 1


def test_same_seed_same_output_and_another_seed_differs(pipe, reference):
    a = run(pipe, steps=2, seed=5, reference=reference)
    b = run(pipe, steps=2, seed=5, reference=reference)
    c = run(pipe, steps=2, seed=6, reference=reference)
    assert torch.equal(a, b)
    assert not torch.allclose(a, c)


def test_guidance_is_the_dual_formula_of_three_separate_passes(pipe, reference):
    torch.manual_seed(0)
    context = pipe.prepare_context("large blur", reference)
    tokens = pipe.window_context(context, 3, rows=3)
    model_input = torch.randn(3, pipe.unet.config.in_channels, 4, 4)
    blur = torch.tensor([2.0, 4.0, 8.0])
    lam_i, lam_t = 1.7, 4.5
    with torch.no_grad():
        batched = pipe.predict(model_input, 0.3, tokens, blur, lam_i, lam_t)
        single = [pipe.predict(model_input, 0.3, tokens[r:r + 1], blur, 1.0, 1.0) for r in range(3)]
    expected = single[0] + lam_i * (single[1] - single[0]) + lam_t * (single[2] - single[1])
    torch.testing.assert_close(batched, expected, rtol=1e-4, atol=1e-5)
    assert not torch.allclose(single[0], single[2]), "the conditions must differ for the test to mean anything"
    stacked = torch.stack(single)
    torch.testing.assert_close(combine_guidance(stacked, lam_i, lam_t), expected)


def test_save_then_load_gives_identical_output(pipe, reference, tmp_path: Path):
    before = run(pipe, steps=2, seed=3, reference=reference)
    pipe.save_pretrained(tmp_path / "model")
    loaded = load_pipeline(str(tmp_path / "model"))
    assert type(loaded.unet).__name__ == "BokehUNetSpatioTemporalModel"
    processors = {type(p).__name__ for p in loaded.unet.attn_processors.values()}
    assert "DecoupledCrossAttnProcessor" in processors
    assert torch.equal(run(loaded, steps=2, seed=3, reference=reference), before)


def test_focus_blur_and_reference_steer_the_output(pipe, reference):
    base = run(pipe, reference=reference)
    other_focus = run(pipe, reference=reference, focus=torch.full((3,), 0.8))
    other_blur = run(pipe, reference=reference, blur=torch.full((3,), 1.0))
    other_ref = run(pipe, reference=torch.flip(reference, dims=[2]) * 0.5)
    no_ref = run(pipe, reference=None)
    for changed in (other_focus, other_blur, other_ref, no_ref):
        assert (changed - base).abs().max() > 1e-4


def test_blur_embedding_alone_changes_the_prediction(pipe):
    """K enters twice: the defocus map and the Fourier embedding added to the time embedding."""
    context = pipe.prepare_context(None, None)
    tokens = pipe.window_context(context, 2, rows=1)
    x = torch.randn(2, pipe.unet.config.in_channels, 4, 4)
    with torch.no_grad():
        a = pipe.predict(x, 0.3, tokens, torch.tensor([2.0, 2.0]), 1, 1)
        b = pipe.predict(x, 0.3, tokens, torch.tensor([9.0, 9.0]), 1, 1)
    assert (a - b).abs().max() > 1e-5


def test_shared_noise_belongs_to_frames_not_windows():
    a = shared_noise(range(2, 6), (4, 3, 4), seed=1)
    b = shared_noise(range(4, 8), (4, 3, 4), seed=1)
    assert torch.equal(a[2:], b[:2])
    assert not torch.equal(a[0], a[1])
    assert not torch.equal(shared_noise([2], (4, 3, 4), seed=2)[0], a[0])


def test_check_inputs_names_the_bad_argument(pipe):
    rgb, disp, f, k = inputs(height=20)
    with pytest.raises(ValueError, match="multiple of"):
        pipe(rgb, disp, f, k)
    rgb, disp, f, k = inputs()
    with pytest.raises(ValueError, match="focus and blur"):
        pipe(rgb, disp, f[:2], k)
    with pytest.raises(ValueError, match="num_inference_steps"):
        pipe(rgb, disp, f, k, num_inference_steps=0)


def test_multi_step_pulls_the_overlap_to_the_previous_window_after_every_step(pipe):
    rgb, disp, f, k = inputs()
    latents = pipe.encode_frames(rgb)
    cond = pipe.conditioning(latents, disp, f, k)
    tokens = pipe.window_context(pipe.prepare_context("blur", None), 3, rows=1)
    noise = shared_noise(range(3), tuple(latents.shape[1:]), seed=0)
    own, own_steps = pipe.denoise_window(latents, cond, k, tokens, noise, 2, 1, 1)
    ramp = torch.tensor([0.25, 0.75])
    prefix = [torch.randn(2, *latents.shape[1:]) for _ in range(2)]
    pulled, pulled_steps = pipe.denoise_window(latents, cond, k, tokens, noise, 2, 1, 1, blend=(ramp, prefix))
    w = ramp.view(-1, 1, 1, 1)
    torch.testing.assert_close(pulled_steps[0][:2], prefix[0] * (1 - w) + own_steps[0][:2] * w)
    torch.testing.assert_close(pulled[:2], pulled_steps[1][:2])
    assert not torch.allclose(pulled, own)
