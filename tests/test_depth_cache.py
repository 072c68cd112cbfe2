"""Depth cache: content keys, quantized storage, hits without re-estimating, atomic entries."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from depth_helpers import decode_frames, save_tiny_depth_anything, srgb_to_linear

from bokehfx.depth.cache import cache_key
from bokehfx.depth.estimator import DepthAnythingEstimator
from bokehfx.depth.source import CachedDepth, estimate_into_cache
from bokehfx.depth.temporal import estimate_clip_disparity
from bokehfx.errors import CorruptMediaError, InputNotFoundError, UsageError
from bokehfx.io.depthcache import DepthCacheWriter, clip_fingerprint, dequantize, open_cached_depth, quantize


class CountingEstimate:
    """Wraps a real estimator and counts the frames it was asked for."""

    def __init__(self, estimator: DepthAnythingEstimator) -> None:
        self.estimator = estimator
        self.frames = 0

    def __call__(self, frames):
        self.frames += len(frames)
        return self.estimator.estimate(frames)


@pytest.fixture(scope="module")
def estimator(tmp_path_factory):
    folder = save_tiny_depth_anything(tmp_path_factory.mktemp("tiny_da"))
    return DepthAnythingEstimator(str(folder), input_size=28, batch_size=8)


@pytest.fixture(scope="module")
def clip(shared):
    path = shared / "media/da1_demo1_video.mp4"
    return path, list(srgb_to_linear(decode_frames(path, 10, 48, 27)))


def test_key_changes_with_every_input():
    base = cache_key("clip", "model", {"window": 16, "overlap": 4})
    assert base == cache_key("clip", "model", {"overlap": 4, "window": 16})
    others = {
        cache_key("clip2", "model", {"window": 16, "overlap": 4}),
        cache_key("clip", "model2", {"window": 16, "overlap": 4}),
        cache_key("clip", "model", {"window": 8, "overlap": 4}),
    }
    assert base not in others and len(others) == 3
    with pytest.raises(UsageError, match="settings must be JSON-serializable"):
        cache_key("clip", "model", {"f": object()})
    with pytest.raises(UsageError, match="fingerprints must be non-empty"):
        cache_key("", "model")


def test_quantization_error_is_bounded():
    rng = np.random.default_rng(0)
    maps = rng.uniform(-3.0, 40.0, (5, 9, 11))
    codes, low, high = quantize(maps)
    assert codes.dtype == np.uint16
    assert np.abs(dequantize(codes, low, high) - maps).max() <= (high - low) / 131070 + 1e-5
    flat_codes, lo, hi = quantize(np.full((2, 2), 7.0))
    np.testing.assert_array_equal(dequantize(flat_codes, lo, hi), np.full((2, 2), 7.0))


def test_clip_fingerprint_follows_content_not_name(tmp_path, shared):
    src = shared / "media/da1_demo1_video.mp4"
    copy = tmp_path / "renamed.mp4"
    shutil.copyfile(src, copy)
    assert clip_fingerprint(copy) == clip_fingerprint(src)
    data = bytearray(copy.read_bytes())
    data[len(data) // 2] ^= 0xFF
    copy.write_bytes(bytes(data))
    assert clip_fingerprint(copy) != clip_fingerprint(src)
    seq = clip_fingerprint(shared / "rgbd/redwood_seq/depth/%05d.png")
    assert seq != clip_fingerprint(shared / "rgbd/redwood_seq/depth/00000.png")
    with pytest.raises(InputNotFoundError, match="does not exist"):
        clip_fingerprint(tmp_path / "missing.mp4")


def test_second_run_reads_the_cache_without_estimating(tmp_path, estimator, clip):
    path, frames = clip
    counting = CountingEstimate(estimator)
    fp = clip_fingerprint(path)
    entry, hit = estimate_into_cache(frames, counting, tmp_path, fp, estimator.fingerprint, window=4, overlap=1)
    assert not hit and counting.frames >= len(frames)
    assert (entry.num_frames, entry.height, entry.width) == (10, 27, 48)
    first = np.stack(list(CachedDepth(entry).frames()))
    expected = estimate_clip_disparity(frames, estimator.estimate, window=4, overlap=1)
    np.testing.assert_allclose(first, expected, atol=1e-4)

    decoded = []

    def decode_again():
        decoded.append(True)
        return frames

    counting.frames = 0
    again, hit = estimate_into_cache(decode_again, counting, tmp_path, fp, estimator.fingerprint, window=4, overlap=1)
    assert hit and counting.frames == 0 and not decoded
    np.testing.assert_array_equal(np.stack(list(CachedDepth(again).frames())), first)

    _, hit = estimate_into_cache(frames, counting, tmp_path, fp, estimator.fingerprint, window=5, overlap=1)
    assert not hit and counting.frames > 0  # other settings, other entry
    assert len([p for p in tmp_path.iterdir() if not p.name.startswith(".")]) == 2


def test_failed_estimation_leaves_no_entry(tmp_path):
    def broken(frames):
        raise RuntimeError("model crashed")

    frames = [np.zeros((3, 4, 4), np.float32)] * 6
    with pytest.raises(RuntimeError, match="model crashed"):
        estimate_into_cache(frames, broken, tmp_path, "clip", "model", window=4, overlap=1)
    assert list(tmp_path.iterdir()) == []


def test_partial_or_damaged_entries(tmp_path):
    with DepthCacheWriter(tmp_path, "k1", chunk_frames=2) as writer:
        for i in range(5):
            writer.write(np.full((3, 4), float(i), np.float32))
        entry = writer.commit()
    assert len(entry.meta["chunks"]) == 3
    assert [float(f[0, 0]) for f in entry.frames()] == pytest.approx([0, 1, 2, 3, 4], abs=1e-4)
    assert [float(f[0, 0]) for f in CachedDepth(entry).frames()] == pytest.approx([0, 0.25, 0.5, 0.75, 1.0], abs=1e-4)
    (tmp_path / "k1" / "chunk_000001.npz").write_bytes(b"garbage")
    with pytest.raises(CorruptMediaError, match="chunk_000001.npz"):
        list(open_cached_depth(tmp_path, "k1").frames())
    (tmp_path / "k1" / "chunk_000002.npz").unlink()
    assert open_cached_depth(tmp_path, "k1") is None
    assert open_cached_depth(tmp_path, "never-written") is None
    writer = DepthCacheWriter(tmp_path, "k2")
    writer.write(np.ones((2, 2), np.float32))
    assert open_cached_depth(tmp_path, "k2") is None  # not committed: invisible
    with pytest.raises(UsageError, match=r"must keep the shape \(2, 2\)"):
        writer.write(np.ones((3, 2), np.float32))
    writer.abort()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["k1"]
    with pytest.raises(UsageError, match="holds no frame"):
        DepthCacheWriter(tmp_path, "k3").commit()
