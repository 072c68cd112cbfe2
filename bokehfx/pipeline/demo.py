"""``bokehfx demo``: an offline rack focus on a procedural RGB-D clip, through the real pipeline.

Steps: 1. build a small procedural scene (textured layers at several depths, moving, with point
lights far above 1.0 in linear light) and write it as a half-float EXR sequence with a disparity
EXR sequence beside it; 2. render a rack focus from near to far with the physical engine from
those files, exactly as ``bokehfx render`` does, to ProRes; 3. transcode that render to H.264;
4. render the focus-map diagnostic; 5. write a side-by-side movie (source | render) and a contact
sheet PNG. Everything is generated here: no download, no model.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Callable

import numpy as np

from bokehfx.errors import OutputExistsError, UsageError
from bokehfx.io.paths import output_target
from bokehfx.io.probe import synthetic_info
from bokehfx.io.sink import EncodeSettings, SequenceSink, open_sink, write_data
from bokehfx.io.source import Frame, VideoSource
from bokehfx.depth.source import DepthSpec
from bokehfx.pipeline.dof import OutputView
from bokehfx.pipeline.job import RenderRequest, run_render
from bokehfx.pipeline.render import DofSettings, FocusRequest, render_clip
from bokehfx.renderers.base import Look

#: The demo's focus instruction (the same grammar as ``--prompt``).
DEMO_PROMPT = "the focus transitions from the foreground to the background, introducing a large blur"
#: The demo's look: a 7-blade aperture with slightly curved blades and luminous highlights.
DEMO_LOOK = Look(aperture="polygon", blades=7, roundness=0.3, highlight_threshold=1.0, highlight_gain=0.5)
#: Disparity stored for the scene's farthest plane (the clip's normalization maps it back to 0).
STORED_DISPARITY_FLOOR = 0.1
#: Frames of the contact sheet (as fractions of the clip).
CONTACT_SHEET_POSITIONS = (0.0, 1 / 3, 2 / 3, 1.0)

#: Names of the files the demo writes in its folder.
OUTPUT_NAMES = {
    "source": "source/frame.%04d.exr",
    "depth": "source/disparity.%04d.exr",
    "prores": "rack_focus.mov",
    "h264": "rack_focus.mp4",
    "focus_map": "focus_map.mp4",
    "side_by_side": "side_by_side.mp4",
    "contact_sheet": "contact_sheet.png",
}


@dataclass
class DemoSettings:
    """Size of the demo clip."""

    width: int = 640
    height: int = 360
    frames: int = 48
    rate: Fraction = Fraction(24)
    layers: int = 4
    lights: int = 24
    seed: int = 7

    def __post_init__(self) -> None:
        if self.width < 64 or self.height < 64 or self.width % 2 or self.height % 2:
            raise UsageError(f"demo size must be even and at least 64x64, got {self.width}x{self.height}")
        if self.frames < 2:
            raise UsageError(f"demo needs at least 2 frames, got {self.frames}")


def _scene_frames(settings: DemoSettings) -> tuple[np.ndarray, np.ndarray]:
    from bokehfx.scenes import make_scene

    scene = make_scene(settings.height, settings.width, frames=settings.frames, layers=settings.layers,
                       speed_px=settings.width / 160, lights=settings.lights, seed=settings.seed)
    frames, disparity = scene.composite()
    return frames.permute(0, 2, 3, 1).numpy(), disparity[:, 0].numpy()


def _side_by_side(a: np.ndarray, b: np.ndarray, gap: int = 4) -> np.ndarray:
    spacer = np.zeros((a.shape[0], gap, 3), np.float32)
    return np.concatenate([a, spacer, b], axis=1)


def contact_sheet(rows: list[list[np.ndarray]], gap: int = 4) -> np.ndarray:
    """Tile equally sized linear RGB images ``rows[r][c]`` into one image with ``gap`` black pixels."""
    h, w = rows[0][0].shape[:2]
    cols = max(len(r) for r in rows)
    sheet = np.zeros((len(rows) * (h + gap) - gap, cols * (w + gap) - gap, 3), np.float32)
    for r, row in enumerate(rows):
        for c, image in enumerate(row):
            sheet[r * (h + gap): r * (h + gap) + h, c * (w + gap): c * (w + gap) + w] = image
    return sheet


def run_demo(out_dir: Path, *, settings: DemoSettings | None = None, force: bool = False,
             progress: Callable[[str], Callable[[int, int | None], None] | None] | None = None) -> dict[str, Path]:
    """Write the demo into ``out_dir`` and return the written paths by name."""
    settings = settings or DemoSettings()
    out_dir = Path(out_dir)
    paths = {name: out_dir / rel for name, rel in OUTPUT_NAMES.items()}
    existing = [p for name, p in paths.items() if "%" not in p.name and p.exists()]
    if existing and not force:
        raise OutputExistsError(f"demo outputs already exist in {str(out_dir)!r} (e.g. {existing[0].name}); "
                                "pass --force to overwrite")
    (out_dir / "source").mkdir(parents=True, exist_ok=True)
    step = progress or (lambda label: None)

    # 1. the procedural RGB-D source, written as EXR (highlights far above 1.0 survive).
    frames, disparity = _scene_frames(settings)
    info = synthetic_info(settings.width, settings.height, settings.rate, settings.frames)
    tb = info.video.time_base
    with SequenceSink(output_target(paths["source"]), info) as sink:
        for i, image in enumerate(frames):
            sink.write(Frame(i, i, 1, tb, image))
    # Stored disparity 0 means "unknown" in most depth formats: keep the scene's far plane above it.
    write_data(paths["depth"], iter(STORED_DISPARITY_FLOOR + (1 - STORED_DISPARITY_FLOOR) * disparity),
                        info, force=True)
    del frames, disparity

    # 2. the rack focus, from the files, as `bokehfx render` does it.
    dof = DofSettings(focus=FocusRequest(prompt=DEMO_PROMPT), look=DEMO_LOOK,
                      depth=DepthSpec(path=paths["depth"], kind="disparity"))
    base = RenderRequest(input=paths["source"], output=paths["prores"], force=True, fps=settings.rate)
    render_clip(base, dof, progress=step("rack focus (ProRes)"))
    # 3. H.264 from the ProRes render (identity path: no second render).
    run_render(RenderRequest(input=paths["prores"], output=paths["h264"], force=True,
                             encode=EncodeSettings(crf=18)), progress=step("H.264"))
    # 4. the focus-map diagnostic.
    render_clip(RenderRequest(input=paths["source"], output=paths["focus_map"], force=True, fps=settings.rate),
                DofSettings(focus=dof.focus, look=DEMO_LOOK, depth=dof.depth, view=OutputView.focus_map),
                progress=step("focus map"))
    # 5. side by side and contact sheet, streaming over the three clips in lockstep.
    wanted = {round(p * (settings.frames - 1)) for p in CONTACT_SHEET_POSITIONS}
    rows: list[list[np.ndarray]] = []
    sbs_info = synthetic_info(2 * settings.width + 4, settings.height, settings.rate, settings.frames)
    with VideoSource(paths["source"], fps=settings.rate) as src, VideoSource(paths["prores"]) as ren, \
            VideoSource(paths["focus_map"]) as fmap, \
            open_sink(output_target(paths["side_by_side"]), sbs_info, settings=EncodeSettings()) as sbs:
        for a, b, c in zip(src, ren, fmap):
            tone_a = np.clip(a.image, 0.0, 1.0)
            sbs.write(Frame(a.index, a.index, 1, tb, _side_by_side(tone_a, b.image)))
            if a.index in wanted:
                rows.append([tone_a, b.image, c.image])
    sheet = contact_sheet(rows)
    sheet_info = synthetic_info(sheet.shape[1], sheet.shape[0], settings.rate, 1)
    sheet_pattern = out_dir / ".contact_sheet.%d.png"
    with SequenceSink(output_target(sheet_pattern), sheet_info) as sink:
        sink.write(Frame(0, 0, 1, tb, sheet))
    (out_dir / ".contact_sheet.0.png").replace(paths["contact_sheet"])
    return paths
