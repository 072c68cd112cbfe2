"""The pair synthesiser and the datasets of `bokehfx train` (tiny sizes, CPU, seconds)."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch

from bokehfx.focus.plan import Blur, target_kind
from bokehfx.focus.prompt import parse_prompt
from bokehfx.renderers.base import Look
from bokehfx.renderers.physical import PhysicalRenderer
from bokehfx.training.augment import CropRanges, DisparityCorruption, corrupt_disparity, crop_and_flip, crop_box
from bokehfx.training.datasets import FolderPairs, PairSynthesizer, SynthesisSpec, render_reference
from bokehfx.training.sampling import FocusRanges, instruction, sample_focus
from bokehfx.training.sources import ClipSource, ProceduralSource
from tests.training_helpers import one_thread  # noqa: F401  (autouse fixture)

SIZE = (32, 48)
RATE = Fraction(24)
ALL_CORRUPTIONS = DisparityCorruption(blur_probability=1.0, morph_probability=1.0, warp_probability=1.0,
                                      noise_probability=1.0, scale_probability=1.0)


def _synth(frames: int = 3, **spec: object) -> PairSynthesizer:
    return PairSynthesizer([ProceduralSource(lights=(2, 6))], [1.0],
                           SynthesisSpec(frames=frames, size=SIZE, reference_size=SIZE, **spec), seed=5)


def _look(meta: dict) -> Look:
    return Look(**meta["look"])


def test_target_is_the_physical_render_of_the_same_frames_with_the_sampled_parameters() -> None:
    ds = _synth()
    for i in range(3):
        s = ds[i]
        meta = json.loads(s["meta"])
        again = PhysicalRenderer().render(s["source"], s["disparity"], s["focus"], s["blur"], _look(meta))
        assert torch.equal(again, s["target"])
        assert torch.allclose(s["blur"], torch.full((3,), meta["k"]))
        assert not torch.equal(s["target"], s["source"])  # something was blurred


def test_source_frames_are_the_procedural_scene_itself() -> None:
    s = _synth()[0]
    seed = int(json.loads(s["meta"])["scene"].split(":")[1])
    window = ProceduralSource(lights=(2, 6)).scene_window(seed, 3, SIZE)
    assert torch.equal(s["source"], window.frames) or torch.equal(s["source"], window.frames.flip(-1))


def test_references_come_from_another_scene_with_the_same_look() -> None:
    ds = _synth()
    for i in range(3):
        s = ds[i]
        meta = json.loads(s["meta"])
        assert meta["reference_scene"] != meta["scene"]
        seed = int(meta["reference_scene"].split(":")[1])
        expected = render_reference(PhysicalRenderer(), _look(meta), meta["k"], SIZE, seed, ProceduralSource())
        assert torch.equal(expected, s["reference"])
        content = s["source"][0]
        assert (content - s["reference"]).abs().mean() > 1e-3


def test_every_instruction_parses_back_to_the_sampled_targets_and_blur_label() -> None:
    disparity = ProceduralSource().scene_window(3, 8, SIZE).disparity
    maps = list(disparity[:, 0])
    for i in range(300):
        gen = torch.Generator().manual_seed(i)
        sample = sample_focus(gen, 8, FocusRanges())
        text = instruction(gen, sample)
        parsed = parse_prompt(text, RATE)
        wanted = sample.plan(RATE)
        assert [target_kind(k.target) for k in parsed.keyframes] == [target_kind(k.target) for k in wanted.keyframes], text
        assert [k.target for k in parsed.keyframes] == [k.target for k in wanted.keyframes], text
        assert {k.blur.label for k in parsed.keyframes} == {Blur(sample.k).label}, text
        np.testing.assert_allclose(parsed.evaluate(maps, RATE).focus, wanted.evaluate(maps, RATE).focus, err_msg=text)


def test_dataset_instructions_match_their_plans() -> None:
    ds = _synth(frames=6)
    for i in range(4):
        s = ds[i]
        meta = json.loads(s["meta"])
        parsed = parse_prompt(s["instruction"], RATE).evaluate(list(s["disparity"][:, 0]), RATE, frame_count=6)
        np.testing.assert_allclose(parsed.focus, s["focus"].numpy(), atol=1e-6, err_msg=s["instruction"])
        assert Blur(float(parse_prompt(s["instruction"], RATE).keyframes[0].blur.k)).label == meta["blur_label"]


def test_k_is_drawn_in_the_configured_range_with_labels() -> None:
    ks = [sample_focus(torch.Generator().manual_seed(i), 4, FocusRanges(k_range=(1.0, 31.0))).k for i in range(200)]
    assert 1.0 <= min(ks) and max(ks) <= 31.0
    labels = {Blur(k).label for k in ks}
    assert labels == {"small", "medium", "large"}


def test_samples_are_deterministic_and_the_cache_gives_them_back(tmp_path: Path) -> None:
    a, b = _synth()[2], _synth()[2]
    assert all(torch.equal(a[k], b[k]) for k in a if isinstance(a[k], torch.Tensor))
    cached = PairSynthesizer([ProceduralSource(lights=(2, 6))], [1.0],
                             SynthesisSpec(frames=3, size=SIZE, reference_size=SIZE), seed=5, cache_dir=tmp_path)
    first = cached[2]
    files = list(tmp_path.rglob("*.safetensors"))
    assert len(files) == 1
    second = cached[2]
    for key in ("source", "target", "reference", "focus"):
        assert torch.equal(first[key], a[key]) and torch.equal(second[key], a[key])
    assert second["instruction"] == a["instruction"]


def test_depth_corruption_changes_only_the_models_disparity() -> None:
    clean = _synth()[1]
    s = _synth(corruption=ALL_CORRUPTIONS)[1]
    assert torch.equal(s["disparity"], clean["disparity"]) and torch.equal(s["target"], clean["target"])
    assert not torch.equal(s["disparity_input"], s["disparity"])
    assert float(s["disparity_input"].min()) >= 0.0 and float(s["disparity_input"].max()) <= 1.0


@pytest.mark.parametrize("kind", ["blur", "morph", "warp", "noise", "scale"])
def test_each_corruption_alters_the_map(kind: str) -> None:
    disparity = ProceduralSource().scene_window(1, 2, SIZE).disparity
    off = {f"{k}_probability": 0.0 for k in ("blur", "morph", "warp", "noise", "scale")}
    spec = DisparityCorruption(**{**off, f"{kind}_probability": 1.0, "warp_amplitude": 0.1})
    out = corrupt_disparity(disparity, torch.Generator().manual_seed(0), spec)
    assert out.shape == disparity.shape and not torch.equal(out, disparity)
    untouched = corrupt_disparity(disparity, torch.Generator().manual_seed(0), DisparityCorruption(**off))
    assert torch.equal(untouched, disparity)


def test_crops_keep_the_aspect_ratio() -> None:
    for i in range(50):
        gen = torch.Generator().manual_seed(i)
        top, left, h, w = crop_box(480, 640, 36, 64, gen, CropRanges(scale=(0.3, 1.0)))
        assert abs(h / w - 36 / 64) < 0.02 and top + h <= 480 and left + w <= 640
    frames, disp = torch.rand(2, 3, 48, 80), torch.rand(2, 1, 48, 80)
    f2, d2 = crop_and_flip(frames, disp, (24, 32), torch.Generator().manual_seed(0), CropRanges())
    assert f2.shape == (2, 3, 24, 32) and d2.shape == (2, 1, 24, 32)
    assert set(torch.unique(d2).tolist()) <= set(torch.unique(disp).tolist())  # depth never invented


def test_flip_flips_frames_and_depth_together() -> None:
    frames, disp = torch.rand(1, 3, 16, 16), torch.rand(1, 1, 16, 16)
    f2, d2 = crop_and_flip(frames, disp, (16, 16), torch.Generator(), CropRanges(scale=(1.0, 1.0), flip_probability=1.0))
    assert torch.equal(f2, frames.flip(-1)) and torch.equal(d2, disp.flip(-1))


def test_sidecar_source_gives_real_rgbd_windows(shared: Path) -> None:
    from bokehfx.depth.sidecar import SidecarOptions
    from bokehfx.training.depth_windows import SidecarWindows

    root = shared / "rgbd" / "redwood_seq"
    depth = SidecarWindows(root / "depth" / "%05d.png", SidecarOptions(encoding="mm"))
    src = ClipSource(root / "color" / "%05d.jpg", depth, Fraction(30))
    ds = PairSynthesizer([src], [1.0], SynthesisSpec(frames=3, size=(36, 48), reference_size=(36, 48)), seed=1)
    s = ds[0]
    assert s["source"].shape == (3, 3, 36, 48) and s["disparity"].shape == (3, 1, 36, 48)
    assert float(s["disparity"].max()) <= 1.0 and float(s["disparity"].max()) > float(s["disparity"].min())
    meta = json.loads(s["meta"])
    assert meta["scene"].startswith("clip:") and meta["reference_scene"].startswith("procedural:")
    again = PhysicalRenderer().render(s["source"], s["disparity"], s["focus"], s["blur"], _look(meta))
    assert torch.equal(again, s["target"])


def test_cached_depth_source_finds_the_clip_by_content(tmp_path: Path) -> None:
    from bokehfx.io.depthcache import DepthCacheWriter, clip_fingerprint
    from bokehfx.io.pairs import find_cached_depth

    clip = tmp_path / "clip.%04d.png"
    _write_png_sequence(clip, 4, 40, 56)
    with DepthCacheWriter(tmp_path / "cache", "k1", {"clip": clip_fingerprint(clip)}) as writer:
        for i in range(4):
            writer.write(np.tile(np.linspace(1.0, 3.0, 56, dtype=np.float32), (40, 1)) + i)
        writer.commit()
    entry = find_cached_depth(tmp_path / "cache", clip)
    src = ClipSource(clip, entry, Fraction(24))
    window = src.window(torch.Generator().manual_seed(0), 3, (32, 48))
    assert window.frames.shape == (3, 3, 40, 56) and window.disparity.shape == (3, 1, 40, 56)
    assert float(window.disparity.min()) >= 0.0 and float(window.disparity.max()) <= 1.0


def _write_png_sequence(pattern: Path, frames: int, h: int, w: int, value: float | None = None) -> None:
    import cv2

    rng = np.random.default_rng(0)
    for i in range(frames):
        img = rng.integers(0, 255, (h, w, 3), dtype=np.uint8) if value is None else np.full((h, w, 3), value, np.uint8)
        cv2.imwrite(str(pattern).replace("%04d", f"{i:04d}"), img)


def test_folder_pairs_read_ready_made_pairs(tmp_path: Path) -> None:
    import cv2

    pair = tmp_path / "pairs" / "p0"
    pair.mkdir(parents=True)
    _write_png_sequence(pair / "aif.%04d.png", 4, 40, 60)
    _write_png_sequence(pair / "bokeh.%04d.png", 4, 40, 60, value=128)
    cv2.imwrite(str(pair / "depth.png"), np.tile(np.linspace(0, 65535, 60), (40, 1)).astype(np.uint16))
    (pair / "focus.json").write_text(json.dumps({"focus": 0.5, "blur": [4, 5, 6, 7]}))
    (pair / "instruction.txt").write_text("focus at 0.5, blur 5\n")
    ds = FolderPairs(tmp_path / "pairs", SynthesisSpec(frames=3, size=(20, 30), reference_size=(20, 30)), seed=0)
    s = ds[0]
    assert s["source"].shape == (3, 3, 20, 30) and s["target"].shape == (3, 3, 20, 30)
    assert s["instruction"] == "focus at 0.5, blur 5" and bool(s["has_depth"]) and not bool(s["has_reference"])
    assert torch.allclose(s["focus"], torch.full((3,), 0.5))
    assert float(s["blur"][0]) in (4.0, 5.0)


def test_folder_pair_without_focus_or_depth_is_refused(tmp_path: Path) -> None:
    from bokehfx.errors import UsageError

    pair = tmp_path / "pairs" / "p0"
    pair.mkdir(parents=True)
    _write_png_sequence(pair / "aif.%04d.png", 2, 16, 16)
    _write_png_sequence(pair / "bokeh.%04d.png", 2, 16, 16)
    with pytest.raises(UsageError, match="focus.json"):
        FolderPairs(tmp_path / "pairs", SynthesisSpec(frames=2, size=(16, 16), reference_size=(16, 16)))


def test_config_sources_mix_procedural_scenes_and_a_real_sidecar_clip(shared: Path, tmp_path: Path) -> None:
    from bokehfx.training.build import stage_dataset
    from bokehfx.training.config import parse_config

    root = shared / "rgbd" / "redwood_seq"
    config = parse_config(f"""
[data]
size = [24, 32]
reference_size = [24, 32]
[[data.sources]]
kind = "procedural"
weight = 1.0
[[data.sources]]
kind = "sidecar"
weight = 1.0
video = "{root / 'color' / '%05d.jpg'}"
depth = "{root / 'depth' / '%05d.png'}"
depth_encoding = "mm"
fps = 30.0
[[stages]]
train = "unet"
steps = 1
frames = 2
""", tmp_path)
    data = stage_dataset(config.data, config.stages[0])
    kinds = {json.loads(data[i]["meta"])["source"].split(":")[0] for i in range(6)}
    assert kinds == {"procedural", "sidecar"}
