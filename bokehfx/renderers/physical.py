"""The physical renderer: layered, occlusion-aware thin-lens depth of field.

How it works (frame by frame; on CPU the slabs of a frame are filtered in parallel):

1. The signed circle-of-confusion radius ``s = K * (d - F)`` (pixels; negative = far, positive =
   near) is computed per pixel and clamped to ``look.max_blur``.
2. ``s`` is cut into slices (:mod:`bokehfx.renderers.slices`) at a fixed grid of radii (0, then steps of ``layer_step_px`` growing
   geometrically by ``layer_step_ratio``). Inside its slice a pixel is blurred by a mix of the
   kernels at the slice's two bounding radii, linear in its position, so the blur varies
   continuously with depth: there is no banding between slices. Slices are grouped into slabs,
   which set the occlusion order: consecutive slices within ``occlusion_step_px`` of CoC form one
   slab (on a continuing surface nothing occludes between them), the rest a slab each.
3. A slab only changes the picture near its own pixels: within its kernel radius, and, for the
   area it is extended into behind nearer slabs (step 5), within the blur of the nearer slabs
   around it. So each slab is worked on only there: its area is cut into disjoint boxes, row band
   by row band (:mod:`bokehfx.renderers.slabs`), each box is blurred into itself grown by the
   blur's reach, and the grown boxes add up where they overlap (overlap-add). On continuous depth
   (floors, walls, faces) a slab is a band across the frame and its boxes a small part of it, so
   the cost of a frame follows the area the slabs cover, not their number times the frame.
4. Each slab is filtered on a pyramid level proportional to its CoC: the coarsest power-of-two
   reduction ``f`` that keeps its smaller radius at or above ``lowres_min_radius`` reduced pixels.
   A blur of radius ``r`` carries no detail finer than about ``r`` pixels, so nothing visible is
   lost; the kernel is shrunk so that the reduction and the upsampling add no blur of their own
   (their variance is taken out of the kernel's).
5. Each slab is extended behind the nearer slabs: its colour and coverage are inpainted by
   pull-push interpolation into the region that nearer slabs hide, so a defocused foreground edge
   reveals a plausible background instead of smearing itself.
6. Each slab's premultiplied colour and coverage are convolved with the aperture kernels
   (direct convolution for small kernels, FFT otherwise) and upsampled to full resolution.
7. Slabs are composited at full resolution with the "over" operator, back to front, in one
   accumulator. A sharp foreground therefore never leaks a halo into a blurred background, and a
   blurred foreground spreads over a sharp one. The result is normalised by the accumulated
   coverage.
8. A pixel whose CoC is exactly 0 and that no nearer blur reaches comes out as the source pixel,
   bit for bit.

Everything happens in linear light; values above 1.0 are kept.
"""

from __future__ import annotations

import contextlib
import math
import threading
from collections import OrderedDict, deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor

import torch

from bokehfx.errors import UsageError
from bokehfx.renderers.aperture import KERNEL_MARGIN_PX, aperture_key
from bokehfx.renderers.base import Look, check_inputs
from bokehfx.renderers.filters import SpectrumCache, expand_bilinear, reduce_tent, reduced_zeros
from bokehfx.renderers.layers import SlabFrame, blur_parts, extend_behind
from bokehfx.renderers.slabs import (BAND_ROWS, Box, band_extents, blur_in_front, cover, cut_pieces, occlusion_groups,
                                    slab_regions)
from bokehfx.renderers.slices import layer_centres, signed_coc, slab, slab_index, slab_positions  # noqa: F401 (part of this module's API)

#: Slab layers computed in advance of the compositing per thread (bounds the memory they hold).
SLABS_AHEAD_PER_THREAD = 2

#: Memory kept for kernel spectra from frame to frame (a slab whose box has the size it had on an
#: earlier frame, as on a locked-off shot, reuses its kernels' FFTs): a 1080p frame's take at most.
SPECTRUM_CACHE_BYTES = 128 * 2**20
#: Largest box, in pixels of its pyramid level, that a slab is filtered in on a CPU; larger boxes are
#: cut into strips (see :func:`~bokehfx.renderers.slabs.slab_regions`). Measured on 1080p scenes whose
#: background slab spans the frame on full resolution (`layered` at K = 10): 0.35-0.49 -> 0.27-0.40 s
#: per frame on one thread, results within 1/255 everywhere; smaller caps split the 0.4 MP boxes of
#: continuous depth and cost more than they gain.
MAX_BOX_LEVEL_PIXELS = 1 << 20

#: Apertures (looks) whose rasterised kernels are kept from frame to frame: an animated aperture
#: makes a new look every frame.
KERNEL_CACHE_LOOKS = 4

#: Extra room in full-resolution pixels around a slab's region for the filters' borders.
BORDER_PX = 2

#: Rec. 709 luminance weights of linear RGB (used by the highlight boost).
LUMA_WEIGHTS = (0.2126, 0.7152, 0.0722)

#: Accumulated coverage below which a pixel is considered empty when normalising.
COVERAGE_EPS = 1e-6

#: Coverage of nearer blur below which an in-focus pixel keeps its source value exactly (a quarter
#: of a 12-bit code value: invisible in any output).
INVISIBLE_COVERAGE = 2.0**-14

#: Variance (per axis, in full-resolution pixels squared, per unit of ``f**2 - 1``) that reducing
#: by area averages and upsampling bilinearly a level at a time add to a slab filtered at reduction
#: ``f`` (measured on point spreads; see ``tests/test_renderer_physical.py``). A disc of radius
#: ``r`` has variance ``r**2 / 4`` per axis.
LEVEL_VARIANCE = 0.3

#: Renderer settings per quality: ``lowres_min_radius`` sets how coarse a slab's level may be,
#: ``layer_step_px`` / ``layer_step_ratio`` how finely depth is sliced.
QUALITY_PRESETS: dict[str, dict[str, float]] = {
    "draft": {"lowres_min_radius": 1.0, "blur_min_radius": 1.0, "lowres_shape_radius": 4.0, "layer_step_px": 1.5,
              "layer_step_ratio": 0.25, "fill_reach": 1.0, "occlusion_step_px": 2.0},
    "normal": {"lowres_min_radius": 4.0, "blur_min_radius": 4.0, "lowres_shape_radius": 6.0, "layer_step_px": 1.0,
               "layer_step_ratio": 0.15, "fill_reach": 1.0, "occlusion_step_px": 2.0},
    "final": {"lowres_min_radius": 6.0, "blur_min_radius": 6.0, "lowres_shape_radius": 8.0, "layer_step_px": 1.0,
              "layer_step_ratio": 0.1, "fill_reach": 6.0, "occlusion_step_px": 0.0},
}
QUALITIES: tuple[str, ...] = tuple(QUALITY_PRESETS)


def boost_highlights(frames: torch.Tensor, s: torch.Tensor, look: Look) -> torch.Tensor:
    """Apply ``L' = L + gain * max(0, L - threshold)`` to defocused pixels (see :class:`Look`)."""
    if look.highlight_gain == 0:
        return frames
    weights = torch.tensor(LUMA_WEIGHTS, device=frames.device, dtype=frames.dtype).view(1, 3, 1, 1)
    luma = (frames * weights).sum(dim=1, keepdim=True)
    excess = (luma - look.highlight_threshold).clamp_min(0.0)
    ramp = (s.abs() / look.highlight_ramp_px).clamp(0.0, 1.0)
    factor = 1.0 + ramp * look.highlight_gain * excess / luma.clamp_min(COVERAGE_EPS)
    return frames * factor


class PhysicalRenderer:
    r"""Layered, occlusion-aware thin-lens renderer (the default bokehfx engine).

    Implements :class:`bokehfx.renderers.base.Renderer`.

    Args:
        device (`torch.device` or `str`, defaults to `"cpu"`):
            Where the work happens. Inputs are moved there; the result goes back to the device of
            the input frames.
        dtype (`torch.dtype`, defaults to `torch.float32`):
            Precision of the inputs and the result (float32, float64, float16 or bfloat16). Slab
            filtering and compositing run in float64 when it is float64 and in float32 otherwise
            (torch's FFT has no bfloat16 and only power-of-two float16).
        quality (`str`, defaults to `"normal"`):
            `"draft"`, `"normal"` or `"final"`: the defaults of ``lowres_min_radius``,
            ``layer_step_px`` and ``layer_step_ratio`` (see ``QUALITY_PRESETS``). Draft previews
            fast; final slices depth finer and filters each slab on a finer level.
        layer_step_px (`float`, *optional*):
            Smallest spacing of the layer radii, in pixels (1.0 at normal quality).
        layer_step_ratio (`float`, *optional*):
            Relative spacing of layer radii for large blurs (0.15 at normal quality: one layer
            every 15 % of radius).
        lowres_min_radius (`float`, *optional*):
            A slab is filtered at the coarsest power-of-two reduction ``f`` that keeps its smaller
            radius at or above this many reduced pixels, then upsampled (2.0 at normal quality).
            Larger values are slower and keep the aperture's shape crisper for small blurs.
        max_downsample (`int`, defaults to 32):
            Largest reduction factor ``f`` (a power of two).
        fill_confidence (`float`, defaults to 0.1):
            Pull-push trust threshold of the background fill: a pixel keeps its own colour once
            this much of it is known.
        cat_eye_zones (`int`, defaults to 3):
            Zones per frame axis between which cat-eye kernels are interpolated.
        direct_max_taps (`int`, defaults to 25):
            Kernels with at most this many taps are applied by direct convolution, larger by FFT.
        fill_downsample (`int`, defaults to 4):
            Reduction (power of two) at which the hidden-area fill is interpolated; the fill is
            smooth, so this costs little quality and saves most of its time.
        occlusion_step_px (`float`, *optional*):
            Consecutive depth slices within this many pixels of CoC are composited as one layer
            (their occlusion between them is a sum, each keeping its own kernels): 2 at draft and
            normal quality, 0 (every slice its own layer) at final. The slices touching the
            focal plane always stay alone.
        fill_reach (`float`, *optional*):
            How far each slab is extended behind nearer slabs, in units of the distance over which
            that can show (its own blur plus the blur of the nearer slabs around it): 1 at draft
            and normal quality, 6 at final (the fill then draws on a wider area; slower). ``inf``
            extends every slab across the whole frame.
        chunk_frames (`int`, defaults to 4):
            Frames rendered together (a batch); bounds memory. Results do not depend on it.
    """

    def __init__(
        self,
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
        quality: str = "normal",
        layer_step_px: float | None = None,
        layer_step_ratio: float | None = None,
        lowres_min_radius: float | None = None,
        lowres_shape_radius: float | None = None,
        blur_min_radius: float | None = None,
        max_downsample: int = 32,
        fill_confidence: float = 0.1,
        cat_eye_zones: int = 3,
        direct_max_taps: int = 25,
        fill_downsample: int = 4,
        fill_reach: float | None = None,
        occlusion_step_px: float | None = None,
        chunk_frames: int = 4,
    ) -> None:
        if dtype not in (torch.float16, torch.bfloat16, torch.float32, torch.float64):
            raise UsageError(f"dtype must be a floating torch dtype, got {dtype!r}")
        if quality not in QUALITY_PRESETS:
            raise UsageError(f"quality must be one of {', '.join(QUALITIES)}, got {quality!r}")
        preset = QUALITY_PRESETS[quality]
        layer_step_px = preset["layer_step_px"] if layer_step_px is None else layer_step_px
        layer_step_ratio = preset["layer_step_ratio"] if layer_step_ratio is None else layer_step_ratio
        lowres_min_radius = preset["lowres_min_radius"] if lowres_min_radius is None else lowres_min_radius
        lowres_shape_radius = preset["lowres_shape_radius"] if lowres_shape_radius is None else lowres_shape_radius
        blur_min_radius = preset["blur_min_radius"] if blur_min_radius is None else blur_min_radius
        fill_reach = preset["fill_reach"] if fill_reach is None else fill_reach
        occlusion_step_px = preset["occlusion_step_px"] if occlusion_step_px is None else occlusion_step_px
        if not layer_step_px > 0 or not layer_step_ratio >= 0:
            raise UsageError(f"layer_step_px must be > 0 and layer_step_ratio >= 0, got {layer_step_px!r}, {layer_step_ratio!r}")
        if not min(lowres_min_radius, lowres_shape_radius, blur_min_radius) > 0:
            raise UsageError("lowres_min_radius, lowres_shape_radius and blur_min_radius must be > 0, "
                             f"got {lowres_min_radius!r}, {lowres_shape_radius!r}, {blur_min_radius!r}")
        if max_downsample < 1 or max_downsample & (max_downsample - 1):
            raise UsageError(f"max_downsample must be a power of two >= 1, got {max_downsample!r}")
        if not 0 < fill_confidence <= 1:
            raise UsageError(f"fill_confidence must be in (0, 1], got {fill_confidence!r}")
        if not occlusion_step_px >= 0:
            raise UsageError(f"occlusion_step_px must be >= 0, got {occlusion_step_px!r}")
        if not fill_reach >= 1:
            raise UsageError(f"fill_reach must be >= 1, got {fill_reach!r}")
        if fill_downsample < 1 or fill_downsample & (fill_downsample - 1):
            raise UsageError(f"fill_downsample must be a power of two >= 1, got {fill_downsample!r}")
        if chunk_frames < 1:
            raise UsageError(f"chunk_frames must be >= 1, got {chunk_frames!r}")
        if cat_eye_zones < 2:
            raise UsageError(f"cat_eye_zones must be >= 2, got {cat_eye_zones!r}")
        self.device = torch.device(device)
        self.dtype = dtype
        self.quality = quality
        self.layer_step_px = layer_step_px
        self.layer_step_ratio = layer_step_ratio
        self.lowres_min_radius = lowres_min_radius
        self.lowres_shape_radius = lowres_shape_radius
        self.blur_min_radius = blur_min_radius
        self.max_downsample = max_downsample
        self.fill_confidence = fill_confidence
        self.cat_eye_zones = cat_eye_zones
        self.direct_max_taps = direct_max_taps
        self.fill_downsample = fill_downsample
        self.fill_reach = fill_reach
        self.occlusion_step_px = occlusion_step_px
        self.chunk_frames = chunk_frames
        self._kernels: OrderedDict[tuple, dict] = OrderedDict()
        self._kernels_lock = threading.Lock()  # frames may render side by side on one renderer
        self._spectra = SpectrumCache(SPECTRUM_CACHE_BYTES)

    def render(
        self,
        frames: torch.Tensor,
        disparity: torch.Tensor,
        focus: torch.Tensor,
        blur: torch.Tensor,
        look: Look,
        alpha: torch.Tensor | None = None,
    ) -> torch.Tensor:
        r"""Render depth of field (see :class:`bokehfx.renderers.base.Renderer`).

        Args:
            frames (`torch.Tensor`): ``(T, 3, H, W)`` linear-light frames (values > 1 allowed).
            disparity (`torch.Tensor`): ``(T, 1, H, W)`` disparity normalized per clip to ``[0, 1]``.
            focus (`torch.Tensor`): ``(T,)`` focal plane ``F`` per frame.
            blur (`torch.Tensor`): ``(T,)`` blur strength ``K`` per frame (pixels).
            look (`Look`): aperture and highlight settings.
            alpha (`torch.Tensor`, *optional*): ``(T, 1, H, W)`` straight coverage of ``frames``.
                When given, the result is the *premultiplied* colour (i.e. over black); use
                :meth:`render_rgba` to also get the blurred coverage.

        Returns:
            `torch.Tensor`: ``(T, 3, H, W)`` frames, dtype and device of ``frames``.
        """
        return self.render_rgba(frames, disparity, focus, blur, look, alpha)[0]

    def render_rgba(
        self,
        frames: torch.Tensor,
        disparity: torch.Tensor,
        focus: torch.Tensor,
        blur: torch.Tensor,
        look: Look,
        alpha: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        r"""Render colour and coverage.

        Args:
            frames, disparity, focus, blur, look: as in :meth:`render`.
            alpha (`torch.Tensor`, *optional*): ``(T, 1, H, W)`` straight coverage; ``None`` means
                fully opaque.

        Returns:
            `tuple[torch.Tensor, torch.Tensor]`: colour ``(T, 3, H, W)`` and coverage
            ``(T, 1, H, W)``. Without ``alpha`` the colour is normalised (opaque) and the coverage
            is all ones; with ``alpha`` the colour is premultiplied by the blurred coverage, which
            is the input coverage spread by the same kernels and occlusions as the colour.
        """
        check_inputs(frames, disparity, focus, blur, alpha)
        out_device, out_dtype = frames.device, frames.dtype
        active = torch.nonzero(blur > 0).flatten().tolist()
        wd = self.dtype
        if alpha is None and len(active) == frames.shape[0] <= self.chunk_frames:
            # Every frame blurred, in one chunk, opaque (the usual call): the result is written over the
            # rendered colour, with no copy of the input.
            rgb, _, exact = self._render_active(frames.to(self.device, wd), disparity.to(self.device, wd),
                                                focus.to(self.device, wd), blur.to(self.device, wd), look, None)
            rgb = rgb.to(out_device, out_dtype)
            return torch.where(exact.to(out_device), frames.detach(), rgb, out=rgb).contiguous(), torch.ones_like(frames[:, :1])
        colour = frames.detach().clone()
        coverage = torch.ones_like(frames[:, :1]) if alpha is None else alpha.detach().to(out_dtype).clone()
        if alpha is not None:
            colour = colour * coverage
        if not active:
            return colour, coverage
        for start in range(0, len(active), self.chunk_frames):
            chunk = active[start : start + self.chunk_frames]
            # Consecutive frames (the usual case) are sliced: views, no gathering and scattering.
            index = (slice(chunk[0], chunk[-1] + 1) if chunk[-1] - chunk[0] == len(chunk) - 1
                     else torch.tensor(chunk, device=out_device))
            rgb, cov, exact = self._render_active(
                frames[index].to(self.device, wd),
                disparity[index].to(self.device, wd),
                focus[index].to(self.device, wd),
                blur[index].to(self.device, wd),
                look,
                None if alpha is None else alpha[index].to(self.device, wd),
            )
            exact = exact.to(out_device)
            for out, new in ((colour, rgb),) if cov is None else ((colour, rgb), (coverage, cov)):
                kept = out[index]
                kept = torch.where(exact, kept, new.to(out_device, out_dtype), out=kept)
                if isinstance(index, torch.Tensor):
                    out[index] = kept
        return colour, coverage

    def _downsample_factor(self, radius: float, base: float | None = None) -> int:
        """Pyramid level (reduction) for a blur of ``radius`` pixels.

        The coarsest power of two ``f`` that keeps at least ``base`` reduced pixels of radius at
        ``f = 2`` (``base`` defaults to ``lowres_min_radius``) and at least ``lowres_shape_radius``
        on coarser levels: small blurs go to half resolution early, large ones keep enough reduced
        pixels for the aperture (and bright highlights' rims) to keep their shape.
        """
        base = self.lowres_min_radius if base is None else base
        factor = 1
        while factor * 2 <= self.max_downsample and radius >= 2 * factor * (base if factor == 1 else self.lowres_shape_radius):
            factor *= 2
        return factor

    @staticmethod
    def _level_radius(radius: float, factor: int) -> float:
        """Kernel radius in reduced pixels so that reduction, kernel and upsampling blur by ``radius``."""
        if factor == 1:
            return radius
        return math.sqrt(max(radius**2 - 4.0 * LEVEL_VARIANCE * (factor**2 - 1), 0.0)) / factor

    def _render_active(
        self,
        frames: torch.Tensor,
        disparity: torch.Tensor,
        focus: torch.Tensor,
        blur: torch.Tensor,
        look: Look,
        alpha: torch.Tensor | None,
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
        """Render frames that all have ``K > 0``: colour, coverage (``None`` when opaque) and the mask of exact pixels.

        Frames go one at a time: each slab's box is cut around that frame's own pixels, so a frame's
        result does not depend on the frames rendered with it.
        """
        threads = torch.get_num_threads() if self.device.type == "cpu" else 1
        # On CPU the slabs' layers are filtered in parallel, one torch thread per worker: their
        # tensors are too small for torch's own threads to pay (their barriers wait on busy cores),
        # and each layer is computed the same way whatever the number of threads, so results do not
        # depend on it. The whole-frame steps before and after keep torch's threads.
        workers = (ThreadPoolExecutor(threads, thread_name_prefix="bokehfx-slab", initializer=torch.set_num_threads,
                                      initargs=(1,)) if threads > 1 else contextlib.nullcontext())
        with workers as pool:
            outputs = [self._render_frame(frames[t : t + 1], disparity[t : t + 1], focus[t : t + 1], blur[t : t + 1],
                                          look, None if alpha is None else alpha[t : t + 1], pool,
                                          SLABS_AHEAD_PER_THREAD * threads)
                       for t in range(frames.shape[0])]
        if len(outputs) == 1:
            return outputs[0]
        return tuple(None if parts[0] is None else torch.cat(parts) for parts in zip(*outputs))

    def _render_frame(
        self,
        frames: torch.Tensor,
        disparity: torch.Tensor,
        focus: torch.Tensor,
        blur: torch.Tensor,
        look: Look,
        alpha: torch.Tensor | None,
        pool: ThreadPoolExecutor | None,
        ahead: int,
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
        """Render one frame (``T == 1``) with ``K > 0``: colour, coverage (``None`` when opaque) and the mask of exact pixels.

        The slabs' layers are computed on ``pool`` when given, at most ``ahead`` in advance of the compositing.
        """
        s = signed_coc(disparity, focus, blur, look.max_blur)
        frames = boost_highlights(frames, s, look)
        centres = layer_centres(float(s.abs().max()), self.layer_step_px, self.layer_step_ratio)
        count = len(centres) - 1
        index, frac = slab_positions(s, centres)
        band = max(BAND_ROWS, self.max_downsample)
        x0, x1 = band_extents(index, count, band)
        occupied = [any(b > a for a, b in zip(x0[j], x1[j])) for j in range(count)]
        radii = centres.tolist()
        reach = [max(abs(radii[j]), abs(radii[j + 1])) if occupied[j] else 0.0 for j in range(count)]
        in_front = blur_in_front(index, reach)
        focus_slice = radii.index(0.0)
        groups = [g for g in occlusion_groups(radii, focus_slice, self.occlusion_step_px) if any(occupied[g[0] : g[1]])]
        h, w = s.shape[-2:]
        # The slabs compare the slice map many times: a narrow integer type moves less memory.
        narrow = torch.int16 if count < torch.iinfo(torch.int16).max else torch.int32
        # Every slab reads its box of each channel: planes, not interleaved pixels (a host's pictures
        # often arrive channels-last; one copy here is several times cheaper than strided reads in every slab).
        context = SlabFrame(frames.to(self._math_dtype).contiguous(),
                            None if alpha is None else alpha.to(self._math_dtype).contiguous(),
                            index.to(narrow), frac.to(self._math_dtype), look, h, w, self._kernels_of(look), self._spectra)

        def layer(group: tuple[int, int]) -> list[tuple[Box, torch.Tensor]]:
            j0, j1 = group
            starts = [min(x0[j][b] for j in range(j0, j1)) for b in range(len(x0[j0]))]
            ends = [max(x1[j][b] for j in range(j0, j1)) for b in range(len(x0[j0]))]
            return self._layer(context, group, radii, starts, ends, band, max(in_front[j0:j1]))

        threads = torch.get_num_threads()
        if pool is not None:
            torch.set_num_threads(1)  # this thread composites while the workers filter
        try:
            acc, covered = self._accumulate(self._produce(groups, layer, pool, ahead), (s.shape[0], 4, h, w),
                                            in_front_of=focus_slice, order=[g[0] for g in groups])
        finally:
            torch.set_num_threads(threads)
        acc_rgb, acc_cov = acc[:, :3], acc[:, 3:4]
        exact = (s == 0) & (covered <= INVISIBLE_COVERAGE)
        if alpha is None:
            # Opaque: the coverage stays 1, and where no light at all landed the source is kept.
            exact |= acc_cov <= COVERAGE_EPS
            return acc_rgb.div_(acc_cov.clamp_min(COVERAGE_EPS)).to(self.dtype), None, exact
        return acc_rgb.to(self.dtype), acc_cov.clamp(0.0, 1.0).to(self.dtype), exact

    def _kernels_of(self, look: Look) -> dict:
        """The rasterised kernels kept for ``look``'s aperture (the last ``KERNEL_CACHE_LOOKS`` apertures are kept)."""
        key = aperture_key(look)
        with self._kernels_lock:
            kernels = self._kernels.pop(key, None)
            kernels = self._kernels[key] = {} if kernels is None else kernels
            while len(self._kernels) > KERNEL_CACHE_LOOKS:
                self._kernels.popitem(last=False)
        return kernels

    @property
    def _math_dtype(self) -> torch.dtype:
        """Precision of filtering and compositing: float64 when asked for, float32 otherwise."""
        return torch.float64 if self.dtype == torch.float64 else torch.float32

    def _layer(self, frame: SlabFrame, group: tuple[int, int], radii: list[float], x0: list[int], x1: list[int],
               band: int, extend: float) -> list[tuple[Box, torch.Tensor]]:
        """The slab of slices ``group = (j0, j1)`` filtered and upsampled, as ``(box, (T, 4, bh, bw))`` parts that add up.

        ``x0``/``x1`` are the slab's column extents per band of ``band`` rows; ``extend`` is the blur
        of the nearer slabs around it (full-resolution pixels, see :func:`blur_in_front`). The slab
        is cut into disjoint boxes that hold all of that input; each is blurred into its box grown
        by the blur's reach, and the parts overlap there (overlap-add). Elsewhere the slab adds
        nothing.
        """
        j0, j1 = group
        kernel_radii = radii[j0 : j1 + 1]
        factor = self._downsample_factor(min(abs(r) for r in kernel_radii))
        owns = [max(factor, self._downsample_factor(abs(r), self.blur_min_radius)) for r in kernel_radii]
        align = max(owns + [factor, self.fill_downsample])
        # Upsampling from a reduced level spreads a point by about two of its pixels.
        reach = max(abs(r) for r in kernel_radii) + KERNEL_MARGIN_PX + (2 * max(owns) if max(owns) > 1 else 0)
        spill = -(-math.ceil(reach) // align) * align
        # A pixel sees the slab within the slab's own blur of it, also where nearer slabs hide the
        # slab (rays pass beside a sharp occluder), and a blurred nearer slab lets it show through
        # within that nearer blur: the extension covers both. Its filters (pull-push, reductions)
        # need a cell of their grid and a little more.
        extend = min(self.fill_reach * (extend + reach), float(max(frame.h, frame.w))) + self.fill_downsample + BORDER_PX
        return [(grown, self._layer_in(frame, group, kernel_radii, box, grown, factor, owns))
                for box, grown in slab_regions(x0, x1, band, extend, spill, align, frame.h, frame.w,
                                               MAX_BOX_LEVEL_PIXELS * factor**2 if self.device.type == "cpu" else None)]

    def _layer_in(self, frame: SlabFrame, group: tuple[int, int], kernel_radii: list[float], box: Box, grown: Box,
                  factor: int, owns: list[int]) -> torch.Tensor:
        """The slab's input inside ``box``, filtered on level ``factor`` and upsampled: ``(T, 4)`` over ``grown``.

        A kernel part may be filtered on a coarser level (``owns``) than its slab (the slab's level
        is set by its smallest radius); parts on the same level share one convolution.
        """
        fill_factor = max(factor, self.fill_downsample)
        rows, cols = -(-grown.height // factor), -(-grown.width // factor)
        top, left = (box.y0 - grown.y0) // factor, (box.x0 - grown.x0) // factor
        h, w = -(-box.height // factor), -(-box.width // factor)
        # The parts are cut straight into the grown box; beyond the box the slab adds nothing.
        parts = frame.frames.new_empty((frame.frames.shape[0], 4 * (group[1] - group[0] + 1), rows, cols))
        parts[..., :top, :].zero_()
        parts[..., top + h :, :].zero_()
        parts[..., top : top + h, :left].zero_()
        parts[..., top : top + h, left + w :].zero_()
        pieces = cut_pieces(frame.frames, frame.alpha, frame.index, frame.frac, *group, box, factor,
                            parts[..., top : top + h, left : left + w])
        extend_behind(pieces, fill_factor // factor, self.fill_confidence)
        # Beyond the box the parts are zero: their blur needs no replicated border there.
        zeros = (top, rows - top - h, left, cols - left - w)
        by_level: dict[int, list[tuple[torch.Tensor, float, bool]]] = {}
        for k, (radius, own) in enumerate(zip(kernel_radii, owns)):
            part = reduce_tent(parts[:, 4 * k : 4 * k + 4], own // factor)
            by_level.setdefault(own, []).append((part, self._level_radius(abs(radius), own), radius > 0))
        out = None
        for own, level_parts in by_level.items():
            blurred = blur_parts(level_parts, frame, grown, own, self.cat_eye_zones, self.direct_max_taps,
                                 reduced_zeros(zeros, own // factor))
            blurred = expand_bilinear(blurred, own // factor, rows, cols)
            out = blurred if out is None else out + blurred
        return self._refine(out, factor, grown.height, grown.width)

    @staticmethod
    def _produce(order: list, layer, pool: ThreadPoolExecutor | None, ahead: int) -> Iterator[list[tuple[Box, torch.Tensor]]]:
        """The layers of the slabs in ``order``, in that order; on ``pool``, at most ``ahead`` computed in advance."""
        if pool is None:
            yield from (layer(j) for j in order)
            return
        pending: deque[Future] = deque()
        for j in order:
            pending.append(pool.submit(layer, j))
            if len(pending) > ahead:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()

    def _accumulate(self, produced: Iterator[list[tuple[Box, torch.Tensor]]], shape: tuple[int, int, int, int],
                    in_front_of: int, order: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        """Composite the slabs (their layers ``produced`` in ``order``, far to near) at full resolution.

        Each slab goes over the accumulator ("over" operator, back to front): a sharp foreground
        never leaks a halo into a blurred background, and a blurred foreground spreads over a
        sharp one. A slab's parts are added up first (in a scratch frame where they overlap), then
        composited where they lie. Returns the ``(T, 4, H, W)`` premultiplied result and the
        ``(T, 1, H, W)`` coverage of the slabs nearer than slab ``in_front_of``.
        """
        acc = torch.zeros(shape, device=self.device, dtype=self._math_dtype)
        covered = torch.zeros_like(acc[:, :1])
        scratch = None
        for j in order:
            parts = next(produced)
            if len(parts) == 1:
                regions = parts
            else:
                if scratch is None:
                    scratch = torch.zeros_like(acc)
                for box, new in parts:
                    box.cut(scratch).add_(new)
                regions = [(box, box.cut(scratch)) for box in cover([box for box, _ in parts])]
            for box, new in regions:
                clear = torch.rsub(new[:, 3:4], 1.0).clamp_min_(0.0)
                region = box.cut(acc)
                region.mul_(clear).add_(new)
                if j > in_front_of:
                    box.cut(covered).mul_(clear).add_(new[:, 3:4])
                if len(parts) > 1:
                    new.zero_()
        return acc, covered

    @staticmethod
    def _refine(x: torch.Tensor, factor: int, h: int, w: int) -> torch.Tensor:
        """Upsample ``x`` from reduction ``factor`` to full resolution ``h, w``, one level at a time."""
        while factor > 1:
            factor //= 2
            x = expand_bilinear(x, 2, -(-h // factor), -(-w // factor))
        return x
