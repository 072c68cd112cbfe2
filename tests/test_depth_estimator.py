"""Depth Anything estimator: loaded through the users' code path from a tiny saved model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from depth_helpers import decode_frames, save_tiny_depth_anything, srgb_to_linear

from bokehfx.colour import linear_to_srgb
from bokehfx.depth.estimator import (
    DepthAnythingEstimator,
    DepthEstimator,
    load_depth_model,
    resolve_dtype,
)
from bokehfx.depth.resize import model_input_size
from bokehfx.errors import ModelNotAvailableError, UsageError

INPUT_SIZE = 28
"""Short side of the tiny model's input: two ViT patches keep the tests fast."""


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory):
    return save_tiny_depth_anything(tmp_path_factory.mktemp("tiny_da"))


@pytest.fixture(scope="module")
def estimator(tiny_model_dir):
    return DepthAnythingEstimator(str(tiny_model_dir), input_size=INPUT_SIZE, batch_size=3)


@pytest.fixture(scope="module")
def clip_frames(shared):
    """8 real frames of a 16:9 clip, linear light, 96x54."""
    return srgb_to_linear(decode_frames(shared / "media/da1_davis_dolphins.mp4", 8, 96, 54))


def capture_model_input(estimator):
    shapes = []
    handle = estimator.model.register_forward_pre_hook(
        lambda module, args, kwargs: shapes.append(tuple(kwargs["pixel_values"].shape)), with_kwargs=True
    )
    return shapes, handle


def test_one_map_per_frame_at_the_source_size(estimator, clip_frames):
    assert isinstance(estimator, DepthEstimator)
    shapes, handle = capture_model_input(estimator)
    try:
        disp = estimator.estimate(clip_frames)
    finally:
        handle.remove()
    assert isinstance(disp, np.ndarray) and disp.dtype == np.float32
    assert disp.shape == (8, 1, 54, 96)
    assert np.isfinite(disp).all() and disp.std() > 0
    # batches of 3: the model saw 28x56 inputs (aspect 2.0 for 1.78: the nearest patch grid), never 28x28
    assert shapes == [(3, 3, 28, 56), (3, 3, 28, 56), (2, 3, 28, 56)]


def test_portrait_and_torch_input(estimator, shared):
    frames = srgb_to_linear(decode_frames(shared / "media/mb_sar_2x1.mp4", 3, 40, 70))
    shapes, handle = capture_model_input(estimator)
    try:
        disp = estimator.estimate(torch.from_numpy(frames))
    finally:
        handle.remove()
    assert isinstance(disp, torch.Tensor) and disp.dtype == torch.float32
    assert tuple(disp.shape) == (3, 1, 70, 40)
    assert shapes == [(3, 3, 56, 28)]
    np.testing.assert_allclose(disp.numpy(), estimator.estimate(frames), rtol=1e-5, atol=1e-6)


def test_anamorphic_source_is_unsqueezed_for_the_model(estimator, shared):
    frames = srgb_to_linear(decode_frames(shared / "media/mb_sar_2x1.mp4", 2, 56, 28))
    shapes, handle = capture_model_input(estimator)
    try:
        disp = estimator.estimate(frames, pixel_aspect=2.0)
    finally:
        handle.remove()
    assert shapes == [(2, 3, 28, 112)]  # displayed 4:1, not the stored 2:1
    assert disp.shape == (2, 1, 28, 56)  # back at the stored size
    with pytest.raises(UsageError, match="pixel_aspect must be positive, got 0"):
        estimator.estimate(frames, pixel_aspect=0)


def test_batching_does_not_change_the_result(tiny_model_dir, estimator, clip_frames):
    one_by_one = DepthAnythingEstimator(str(tiny_model_dir), input_size=INPUT_SIZE, batch_size=1)
    np.testing.assert_allclose(one_by_one.estimate(clip_frames), estimator.estimate(clip_frames), rtol=1e-3, atol=1e-3)


def test_transfer_linear_encodes_to_srgb_for_the_model(tiny_model_dir, estimator, shared):
    display = decode_frames(shared / "media/da1_davis_dolphins.mp4", 2, 96, 54)
    as_srgb = DepthAnythingEstimator(str(tiny_model_dir), input_size=INPUT_SIZE, transfer="srgb")
    np.testing.assert_allclose(
        estimator.estimate(srgb_to_linear(display)), as_srgb.estimate(display), rtol=1e-3, atol=1e-4
    )
    x = torch.tensor([0.0, 0.0031308, 0.18, 1.0, 2.0])
    np.testing.assert_allclose(linear_to_srgb(x).numpy(), [0.0, 0.04045, 0.46135, 1.0, 1.0], atol=1e-4)


def test_bfloat16_runs_on_cpu_and_returns_float32(tiny_model_dir, estimator, clip_frames):
    bf16 = DepthAnythingEstimator(str(tiny_model_dir), dtype="bf16", input_size=INPUT_SIZE)
    assert bf16.dtype == torch.bfloat16 and bf16.fingerprint != estimator.fingerprint
    got = bf16.estimate(clip_frames[:2])
    ref = estimator.estimate(clip_frames[:2])
    assert got.dtype == np.float32 and got.shape == ref.shape
    assert np.corrcoef(got.ravel(), ref.ravel())[0, 1] > 0.95


def test_default_dtype_per_device():
    assert resolve_dtype(None, torch.device("cpu")) == torch.float32
    assert resolve_dtype(None, torch.device("cuda")) == torch.float16
    assert resolve_dtype("bf16", torch.device("cpu")) == torch.bfloat16
    with pytest.raises(UsageError, match="dtype must be one of .* got 'int8'"):
        resolve_dtype("int8", torch.device("cpu"))


def test_missing_weights_offline_name_the_model_and_write_nothing(monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    cache = constants.HF_HUB_CACHE
    before = sorted(p.name for p in Path(cache).glob("*")) if cache else []
    with pytest.raises(ModelNotAvailableError) as err:
        load_depth_model("bokehfx-tests/no-such-depth-model")
    message = str(err.value)
    assert "'bokehfx-tests/no-such-depth-model'" in message
    assert "huggingface-cli download bokehfx-tests/no-such-depth-model" in message
    assert "--depth-model" in message
    after = sorted(p.name for p in Path(cache).glob("*")) if cache else []
    assert after == before


def test_missing_or_incomplete_local_folder(tmp_path):
    with pytest.raises(ModelNotAvailableError, match="no folder"):
        load_depth_model(str(tmp_path / "nope" / "model"))
    with pytest.raises(ModelNotAvailableError, match="has no config.json"):
        load_depth_model(str(tmp_path))


def test_bad_frames_are_usage_errors(estimator):
    with pytest.raises(UsageError, match=r"frames must have shape \(T, 3, H, W\), got \(2, 4, 8, 8\)"):
        estimator.estimate(np.zeros((2, 4, 8, 8), np.float32))
    with pytest.raises(UsageError, match="frames must be floating point, got dtype uint8"):
        estimator.estimate(np.zeros((1, 3, 8, 8), np.uint8))


def test_model_input_size_keeps_aspect_within_rounding():
    assert model_input_size(1080, 1920, 518) == (518, 924)
    assert model_input_size(1920, 1080, 518) == (924, 518)
    h, w = model_input_size(480, 640, 518)
    assert h % 14 == 0 and w % 14 == 0
    assert abs(w / h - 640 / 480) < 14 / h
    assert model_input_size(10, 10, 5) == (14, 14)  # at least one patch


def test_metric_depth_models_are_inverted_to_disparity(tmp_path, clip_frames):
    from transformers import AutoConfig

    folder = save_tiny_depth_anything(tmp_path / "metric")
    config = AutoConfig.from_pretrained(folder)
    config.depth_estimation_type = "metric"
    config.max_depth = 20
    config.save_pretrained(folder)
    est = DepthAnythingEstimator(str(folder), input_size=INPUT_SIZE)
    assert est.metric
    frames = torch.from_numpy(clip_frames[:2])
    with torch.no_grad():
        x = est.model_size(54, 96)
        pixel = torch.nn.functional.interpolate(linear_to_srgb(frames), size=x, mode="bilinear", antialias=True)
        pixel = (pixel.clamp(0, 1) - torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)) / torch.tensor(
            [0.229, 0.224, 0.225]
        ).view(1, 3, 1, 1)
        depth = est.model(pixel_values=pixel).predicted_depth[:, None]
    expected = torch.nn.functional.interpolate(1.0 / depth.clamp_min(1e-3), size=(54, 96), mode="bilinear")
    np.testing.assert_allclose(est.estimate(frames).numpy(), expected.numpy(), rtol=1e-3, atol=1e-3)
