"""Training datasets: pairs synthesised by the physical engine, and ready-made pairs from folders.

A sample is a dict:

- ``source`` ``(T, 3, H, W)``: all-in-focus frames, linear light;
- ``target`` ``(T, 3, H, W)``: the same frames with depth of field (the physical engine's render
  for synthesised pairs);
- ``disparity`` ``(T, 1, H, W)``: the clean disparity the target was rendered from;
- ``disparity_input`` ``(T, 1, H, W)``: what the model is given (corrupted when augmenting);
- ``focus`` / ``blur`` ``(T,)``: per-frame F and K;
- ``reference`` ``(3, h, w)``: a reference bokeh image, ``has_reference`` and ``has_depth`` flags
  (``bool`` tensors, so that no valid value doubles as "missing");
- ``instruction`` (`str`) and ``meta`` (`str`, JSON: scene ids, look, focus, blur label, index).

:class:`PairSynthesizer` is map-style and deterministic: sample ``i`` depends only on the seed and
``i`` (its own generator), so a run resumed at a data position sees exactly the samples it would
have seen, whatever the number of workers.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Sequence

import torch

from bokehfx.errors import UsageError
from bokehfx.focus.plan import FocusPlan
from bokehfx.renderers.base import Look, Renderer
from bokehfx.training.augment import CropRanges, DisparityCorruption, corrupt_disparity, crop_and_flip
from bokehfx.training.sampling import FocusRanges, LookRanges, instruction, sample_focus, sample_look
from bokehfx.training.sources import ProceduralSource, WindowSource

#: Target of the reference render: the nearest subject, so the backdrop's lights bloom into bokeh.
REFERENCE_FOCUS = "near"
#: Keys of a sample that are tensors (the rest are strings).
TENSOR_KEYS = ("source", "target", "disparity", "disparity_input", "focus", "blur", "reference", "has_reference",
               "has_depth")


@dataclass(frozen=True)
class SynthesisSpec:
    r"""How pairs are synthesised.

    Args:
        frames (`int`): frames per window.
        size (`tuple[int, int]`): ``(height, width)`` of the training frames.
        reference_size (`tuple[int, int]`): ``(height, width)`` of the reference image.
        rate (`Fraction`): nominal frame rate (instructions time pulls in frames).
        focus (`FocusRanges`): focus and blur draws.
        look (`LookRanges`): aperture and highlight draws.
        crop (`CropRanges`): crops and flips.
        corruption (`DisparityCorruption`, *optional*): disparity corruption of the model's input
            (``None``: the model sees the clean disparity).
    """

    frames: int = 4
    size: tuple[int, int] = (64, 96)
    reference_size: tuple[int, int] = (64, 96)
    rate: Fraction = Fraction(24)
    focus: FocusRanges = FocusRanges()
    look: LookRanges = LookRanges()
    crop: CropRanges = CropRanges()
    corruption: DisparityCorruption | None = None


def sample_seed(seed: int, index: int) -> int:
    """The generator seed of sample ``index`` of a dataset seeded ``seed`` (well mixed, 63 bits)."""
    return int(hashlib.sha256(f"bokehfx-pair:{seed}:{index}".encode()).hexdigest()[:15], 16)


def look_to_dict(look: Look) -> dict[str, Any]:
    """A JSON-friendly look (sampled looks never use a kernel image)."""
    return {k: v for k, v in dataclasses.asdict(look).items() if k != "kernel_image"}


def render_reference(renderer: Renderer, look: Look, k: float, size: tuple[int, int], seed: int,
                     source: ProceduralSource) -> torch.Tensor:
    """One frame of the procedural scene ``seed`` rendered with ``look`` and blur ``k``: ``(3, h, w)``."""
    window = source.scene_window(seed, 1, size)
    curve = FocusPlan.static(REFERENCE_FOCUS, k).evaluate(list(window.disparity[:, 0]), 1, frame_count=1)
    focus = torch.tensor(curve.focus, dtype=torch.float32)
    blur = torch.tensor(curve.k, dtype=torch.float32)
    return renderer.render(window.frames, window.disparity, focus, blur, look)[0]


class PairSynthesizer(torch.utils.data.Dataset):
    r"""Pairs made on the fly by the physical engine (see the module docstring).

    Args:
        sources (`Sequence[WindowSource]`): where windows come from.
        weights (`Sequence[float]`): relative chance of each source.
        spec (`SynthesisSpec`): sizes and draws.
        seed (`int`): the dataset's seed.
        length (`int`): nominal number of samples (an epoch); indices beyond it are valid too.
        renderer (`Renderer`, *optional*): the engine making targets (the physical one by default).
        reference_source (`ProceduralSource`, *optional*): scenes the references are rendered from.
        cache_dir (`Path`, *optional*): where samples are stored once made and read back from.
    """

    def __init__(self, sources: Sequence[WindowSource], weights: Sequence[float], spec: SynthesisSpec, seed: int = 0,
                 length: int = 10_000, renderer: Renderer | None = None,
                 reference_source: ProceduralSource | None = None, cache_dir: Path | None = None) -> None:
        if not sources or len(sources) != len(weights):
            raise UsageError("the pair synthesiser needs at least one source and one weight per source")
        if any(w < 0 for w in weights) or sum(weights) <= 0:
            raise UsageError(f"source weights must be >= 0 with a positive sum, got {list(weights)}")
        from bokehfx.renderers.physical import PhysicalRenderer

        self.sources = list(sources)
        self.weights = torch.tensor([float(w) for w in weights], dtype=torch.float64)
        self.spec = spec
        self.seed = seed
        self.length = length
        self.renderer: Renderer = renderer or PhysicalRenderer()
        self.reference_source = reference_source or ProceduralSource()
        self.cache_dir = Path(cache_dir) / self._fingerprint() if cache_dir is not None else None

    def _fingerprint(self) -> str:
        text = json.dumps({"spec": dataclasses.asdict(self.spec), "seed": self.seed,
                           "sources": [repr(s) for s in self.sources], "weights": self.weights.tolist()},
                          sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict[str, Any]:
        if self.cache_dir is not None:
            from bokehfx.io.pairs import load_pair

            stored = load_pair(self.cache_dir / f"{index:09d}.safetensors")
            if stored is not None:
                tensors, strings = stored
                return {**tensors, **strings}
        sample = self.make(index)
        if self.cache_dir is not None:
            from bokehfx.io.pairs import save_pair

            save_pair(self.cache_dir / f"{index:09d}.safetensors", {k: sample[k] for k in TENSOR_KEYS},
                      {"instruction": sample["instruction"], "meta": sample["meta"]})
        return sample

    def make(self, index: int) -> dict[str, Any]:
        """Synthesise sample ``index`` (no cache)."""
        spec = self.spec
        gen = torch.Generator().manual_seed(sample_seed(self.seed, index))
        which = int(torch.multinomial(self.weights, 1, generator=gen))
        window = self.sources[which].window(gen, spec.frames, spec.size)
        frames, disparity = window.frames, window.disparity
        crop = spec.crop if window.cropped else dataclasses.replace(spec.crop, scale=(1.0, 1.0))
        frames, disparity = crop_and_flip(frames, disparity, spec.size, gen, crop)
        focus_sample = sample_focus(gen, spec.frames, spec.focus)
        plan = focus_sample.plan(spec.rate)
        curve = plan.evaluate(list(disparity[:, 0]), spec.rate, frame_count=spec.frames)
        focus = torch.tensor(curve.focus, dtype=torch.float32)
        blur = torch.tensor(curve.k, dtype=torch.float32)
        look = sample_look(gen, spec.look)
        target = self.renderer.render(frames, disparity, focus, blur, look)
        ref_seed = self.reference_source.draw_seed(gen)
        while f"procedural:{ref_seed}" == window.scene:
            ref_seed = self.reference_source.draw_seed(gen)
        reference = render_reference(self.renderer, look, focus_sample.k, spec.reference_size, ref_seed,
                                     self.reference_source)
        text = instruction(gen, focus_sample)
        model_disparity = disparity if spec.corruption is None else corrupt_disparity(disparity, gen, spec.corruption)
        meta = {"index": index, "source": self.sources[which].name, "scene": window.scene,
                "reference_scene": f"procedural:{ref_seed}", "look": look_to_dict(look), "k": focus_sample.k,
                "blur_label": focus_sample.blur_label, "plan": plan.to_dict(spec.rate, spec.frames)}
        return {"source": frames, "target": target, "disparity": disparity, "disparity_input": model_disparity,
                "focus": focus, "blur": blur, "reference": reference, "has_reference": torch.tensor(True),
                "has_depth": torch.tensor(True), "instruction": text, "meta": json.dumps(meta, default=str)}


class FolderPairs(torch.utils.data.Dataset):
    r"""Ready-made pairs from folders (see :class:`bokehfx.io.pairs.PairFolder` for the layout).

    Each sample is a window of ``frames`` frames of one pair (the pair ``index % len(pairs)``, at a
    start drawn from the seed and index), cropped and flipped like synthesised pairs. F and K come
    from ``focus.json``, or from the instruction read by the prompt parser over the pair's depth.

    Args:
        root (`Path`): folder holding one folder per pair.
        spec (`SynthesisSpec`): frames, sizes, crops (and the depth corruption of the input).
        seed (`int`): the dataset's seed.
    """

    def __init__(self, root: Path, spec: SynthesisSpec, seed: int = 0) -> None:
        from bokehfx.io.pairs import list_pair_folders

        self.pairs = list_pair_folders(root)
        for pair in self.pairs:
            if pair.focus is None and (pair.instruction is None or pair.depth is None):
                raise UsageError(f"pair folder {str(pair.folder)!r} needs focus.json, or an instruction.txt and a "
                                 "depth file, to know its focus and blur")
        self.spec = spec
        self.seed = seed

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> dict[str, Any]:
        from bokehfx.io.pairs import read_clip_window
        from bokehfx.training.depth_windows import read_depth_window
        from bokehfx.io.probe import probe

        spec = self.spec
        pair = self.pairs[index % len(self.pairs)]
        gen = torch.Generator().manual_seed(sample_seed(self.seed, index))
        info = probe(pair.aif, fps=spec.rate, exact_count=True)
        count = int(info.video.frame_count or 1)
        size = (info.video.height, info.video.width)
        start = int(torch.randint(0, max(1, count - spec.frames + 1), (), generator=gen))
        source = read_clip_window(pair.aif, start, spec.frames, spec.rate)
        target = read_clip_window(pair.bokeh, start, spec.frames, spec.rate)
        if target.shape != source.shape:
            raise UsageError(f"pair {str(pair.folder)!r}: bokeh {tuple(target.shape)} does not match aif {tuple(source.shape)}")
        has_depth = pair.depth is not None
        if has_depth:
            from bokehfx.depth.sidecar import SidecarOptions
            from bokehfx.training.depth_windows import SidecarWindows

            kind = (pair.focus or {}).get("depth_kind", "disparity")
            depth = SidecarWindows(pair.depth, SidecarOptions(kind=kind))  # type: ignore[arg-type]
            disparity = read_depth_window(depth, start, spec.frames, size)
        else:
            disparity = torch.zeros(spec.frames, 1, *size)
        focus, blur = self._focus(pair, disparity, start)
        stacked = torch.cat([source, target], dim=1)
        stacked, disparity = crop_and_flip(stacked, disparity, spec.size, gen, spec.crop)
        source, target = stacked[:, :3], stacked[:, 3:]
        if pair.reference is not None:
            from bokehfx.io.source import read_still

            ref = torch.from_numpy(read_still(pair.reference)).permute(2, 0, 1)[None]
            reference = torch.nn.functional.interpolate(ref, size=spec.reference_size, mode="bilinear",
                                                        antialias=True, align_corners=False)[0]
        else:
            reference = torch.zeros(3, *spec.reference_size)
        model_disparity = disparity if spec.corruption is None or not has_depth else \
            corrupt_disparity(disparity, gen, spec.corruption)
        meta = {"index": index, "source": "folder", "scene": f"pair:{pair.folder.name}:{start}"}
        return {"source": source, "target": target, "disparity": disparity, "disparity_input": model_disparity,
                "focus": focus, "blur": blur, "reference": reference,
                "has_reference": torch.tensor(pair.reference is not None), "has_depth": torch.tensor(has_depth),
                "instruction": pair.instruction or "", "meta": json.dumps(meta)}

    def _focus(self, pair: Any, disparity: torch.Tensor, start: int) -> tuple[torch.Tensor, torch.Tensor]:
        frames = self.spec.frames
        if pair.focus is not None:
            out = []
            for key in ("focus", "blur"):
                value = pair.focus[key]
                values = [float(value)] * frames if isinstance(value, (int, float)) else \
                    [float(v) for v in value[start:start + frames]]
                if len(values) != frames:
                    raise UsageError(f"{str(pair.folder / 'focus.json')!r}: {key!r} has too few values for frames "
                                     f"{start}..{start + frames - 1}")
                out.append(torch.tensor(values, dtype=torch.float32))
            return out[0], out[1]
        from bokehfx.focus.prompt import parse_prompt

        plan = parse_prompt(pair.instruction, self.spec.rate)
        curve = plan.evaluate(list(disparity[:, 0]), self.spec.rate, frame_count=frames)
        return torch.tensor(curve.focus, dtype=torch.float32), torch.tensor(curve.k, dtype=torch.float32)


def collate(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """Stack the tensors of samples into a batch; strings become lists."""
    out: dict[str, Any] = {}
    for key in samples[0]:
        values = [s[key] for s in samples]
        out[key] = torch.stack(values) if isinstance(values[0], torch.Tensor) else values
    return out


__all__ = ["FolderPairs", "PairSynthesizer", "SynthesisSpec", "collate", "look_to_dict", "render_reference",
           "sample_seed"]
