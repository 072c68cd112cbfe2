"""From a :class:`bokehfx.training.config.TrainConfig` to datasets for each stage."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import torch

from bokehfx.training.config import DataConfig, SourceConfig, StageConfig
from bokehfx.training.datasets import FolderPairs, PairSynthesizer, SynthesisSpec
from bokehfx.training.sources import ClipSource, ProceduralSource, WindowSource


def _fps(value: float | None) -> Fraction | None:
    return None if value is None else Fraction(value).limit_denominator(1001)


def window_source(src: SourceConfig) -> WindowSource:
    """The window source of one ``[[data.sources]]`` entry (not for ``folder`` sources)."""
    if src.kind == "procedural":
        return ProceduralSource(layers=src.layers, lights=src.lights, speed=src.speed)
    if src.kind == "sidecar":
        from bokehfx.depth.sidecar import SidecarOptions
        from bokehfx.training.depth_windows import SidecarWindows

        options = SidecarOptions(kind=src.depth_kind, encoding=src.depth_encoding, depth_range=src.depth_range)
        return ClipSource(Path(src.video), SidecarWindows(src.depth, options), _fps(src.fps),  # type: ignore[arg-type]
                          name=f"sidecar:{Path(src.video).name}")
    from bokehfx.io.pairs import find_cached_depth

    entry = find_cached_depth(src.depth_cache, src.video, src.entry)  # type: ignore[arg-type]
    return ClipSource(Path(src.video), entry, _fps(src.fps), name=f"cached:{Path(src.video).name}")  # type: ignore[arg-type]


def synthesis_spec(data: DataConfig, frames: int, depth_augmentation: bool) -> SynthesisSpec:
    """The synthesiser's settings for windows of ``frames`` frames."""
    return SynthesisSpec(frames=frames, size=data.size, reference_size=data.reference_size,
                         rate=Fraction(data.rate).limit_denominator(1001), focus=data.focus, look=data.look,
                         crop=data.crop, corruption=data.corruption if depth_augmentation else None)


def stage_dataset(data: DataConfig, stage: StageConfig, seed_offset: int = 0) -> torch.utils.data.Dataset:
    """The dataset of one stage: synthesised pairs, and ready-made folders mixed in by weight."""
    spec = synthesis_spec(data, stage.frames, stage.depth_augmentation)
    seed = data.seed + seed_offset
    synth = [s for s in data.sources if s.kind != "folder"]
    folders = [s for s in data.sources if s.kind == "folder"]
    parts: list[torch.utils.data.Dataset] = []
    weights: list[float] = []
    if synth:
        cache = Path(data.cache_dir) if data.cache_dir else None
        parts.append(PairSynthesizer([window_source(s) for s in synth], [s.weight for s in synth], spec, seed,
                                     data.samples_per_epoch, cache_dir=cache))
        weights.append(sum(s.weight for s in synth))
    for src in folders:
        parts.append(FolderPairs(Path(src.path), spec, seed))  # type: ignore[arg-type]
        weights.append(src.weight)
    return parts[0] if len(parts) == 1 else MixedDataset(parts, weights, seed)


class MixedDataset(torch.utils.data.Dataset):
    """Datasets mixed by weight; item ``i`` picks its dataset from the seed and ``i`` alone."""

    def __init__(self, parts: list[torch.utils.data.Dataset], weights: list[float], seed: int) -> None:
        self.parts = parts
        self.weights = torch.tensor(weights, dtype=torch.float64)
        self.seed = seed

    def __len__(self) -> int:
        return sum(len(p) for p in self.parts)  # type: ignore[arg-type]

    def __getitem__(self, index: int) -> dict:
        from bokehfx.training.datasets import sample_seed

        gen = torch.Generator().manual_seed(sample_seed(self.seed ^ 0x5EED, index))
        which = int(torch.multinomial(self.weights, 1, generator=gen))
        return self.parts[which][index]


__all__ = ["MixedDataset", "stage_dataset", "synthesis_spec", "window_source"]
