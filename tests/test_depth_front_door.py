"""One front door for depth: one place decides sidecar, cache or estimator; the I/O layer only reads and writes."""

from __future__ import annotations

import ast
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from bokehfx.depth.source import CachedDepth, DepthSpec, EstimatedDepth, SidecarDepth, depth_source
from bokehfx.errors import UsageError
from tests.conftest import REPO
from tests.depth_helpers import save_tiny_depth_anything
from tests.media_factory import write_clip, write_sequence

#: Packages above the I/O layer, and model libraries: nothing in bokehfx/io may import them. (safetensors
#: is a tensor file format, which the I/O layer may read and write: the training pair cache uses it.)
ABOVE_IO = ("bokehfx.depth", "bokehfx.pipeline", "bokehfx.renderers", "bokehfx.focus", "bokehfx.timeline",
            "bokehfx.training", "cli", "plugins", "transformers", "diffusers", "accelerate")
W, H, N = 32, 24, 5


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_the_io_layer_never_imports_upward_or_a_model():
    offending = {
        f"{path.relative_to(REPO)}: {name}"
        for path in sorted((REPO / "bokehfx/io").glob("*.py"))
        for name in imported_modules(path)
        if any(name == top or name.startswith(top + ".") for top in ABOVE_IO)
    }
    assert not offending


def test_reading_a_sidecar_loads_no_model_library(tmp_path: Path):
    write_sequence(tmp_path / "d.%04d.exr", [np.full((4, 6), v, np.float32) for v in (0.0, 1.0)], codec="exr",
                   pix_fmt="grayf32le", in_fmt="grayf32le")
    code = (
        "import sys; from bokehfx.depth.source import read_sidecar_disparity; from bokehfx.depth.sidecar import "
        f"SidecarOptions; list(read_sidecar_disparity({str(tmp_path / 'd.%04d.exr')!r}, "
        "options=SidecarOptions(kind='disparity'))); "
        "print(','.join(m for m in ('transformers', 'diffusers', 'bokehfx.depth.estimator', "
        "'bokehfx.depth.temporal') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert out.stdout.strip() == ""


@pytest.fixture()
def clip(tmp_path: Path) -> tuple[Path, object]:
    from bokehfx.io.probe import probe

    rng = np.random.default_rng(5)
    frames = [(rng.random((H, W, 3)) * 60000).astype(np.uint16) for _ in range(N)]
    path = write_clip(tmp_path / "clip.mov", frames, codec="prores_ks", pix_fmt="yuv422p10le",
                      options={"profile": "hq"}, rate=Fraction(24))
    return path, probe(path)


def test_one_place_decides_sidecar_then_estimator_then_cache(clip, tmp_path: Path):
    from bokehfx.io.source import read_frames

    path, info = clip
    still = write_sequence(tmp_path / "disp.%d.exr", [np.tile(np.linspace(0, 1, W, dtype=np.float32), (H, 1))],
                           codec="exr", pix_fmt="grayf32le", in_fmt="grayf32le")
    sidecar = depth_source(DepthSpec(path=Path(str(still) % 1), kind="disparity"), path, info, tmp_path / "o.mov")
    assert isinstance(sidecar, SidecarDepth) and sidecar.origin == "sidecar"
    maps = sidecar.frames()
    first = [next(maps) for _ in range(N + 3)]  # a still stands for every frame of the clip
    assert all(np.array_equal(m, first[0]) for m in first) and first[0][0, 0] == 0.0

    decoded = []

    def frames():
        decoded.append(True)
        return (f.image.transpose(2, 0, 1) for f in read_frames(path))

    spec = DepthSpec(model=str(save_tiny_depth_anything(tmp_path / "tiny")), window=4, overlap=1,
                     cache_dir=tmp_path / "cache")
    estimated = depth_source(spec, path, info, tmp_path / "o.mov", frames_factory=frames)
    assert isinstance(estimated, EstimatedDepth) and not decoded  # nothing decoded before frames() is asked
    fresh = np.stack(list(estimated.frames()))
    assert fresh.shape == (N, H, W) and fresh.min() == 0.0 and fresh.max() == pytest.approx(1.0)  # one clip range
    cached = depth_source(spec, path, info, tmp_path / "o.mov", frames_factory=frames)
    assert isinstance(cached, CachedDepth) and cached.origin == "cache"
    np.testing.assert_allclose(np.stack(list(cached.frames())), fresh, atol=1e-4)
    assert len(decoded) == 1  # the second request read the cache, not the clip


def test_contradicting_sidecar_options_are_refused_at_the_door(clip, tmp_path: Path):
    path, info = clip
    with pytest.raises(UsageError, match="encoding 'middlebury' stores disparity"):
        depth_source(DepthSpec(path=path, kind="depth", encoding="middlebury"), path, info, tmp_path / "o.mov")
