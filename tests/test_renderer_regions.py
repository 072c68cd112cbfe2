"""Where the physical renderer works on each slab: boxes around its pixels, overlap-add, nearby blur."""

from __future__ import annotations

import math

import pytest
import torch

import bokehfx.renderers.physical as physical
import bokehfx.renderers.slabs as slabs
from bokehfx.renderers import Look, PhysicalRenderer
from bokehfx.renderers.slabs import Box, blur_in_front, cover, occlusion_groups, slab_regions


def _mask(boxes: list[Box], h: int, w: int) -> torch.Tensor:
    count = torch.zeros(h, w, dtype=torch.int64)
    for b in boxes:
        count[b.y0 : b.y1, b.x0 : b.x1] += 1
    return count


def test_regions_hold_every_pixel_the_slab_reaches_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(slabs, "BOX_OVERHEAD_PX", 0)
    h, w, band, extend, spill, align = 256, 320, 32, 10.0, 12, 4
    bands = h // band
    # A steep diagonal strip: each band's pixels sit 30 columns right of the band above.
    x0 = [20 + 30 * b for b in range(bands)]
    x1 = [x + 24 for x in x0]
    x1[3] = x0[3]  # one band holds no pixel of the slab
    regions = slab_regions(x0, x1, band, extend, spill, align, h, w)
    boxes = [box for box, _ in regions]
    assert len(boxes) > 1
    assert int(_mask(boxes, h, w).max()) == 1  # disjoint: their blurred results simply add up
    covered = _mask(boxes, h, w) > 0
    for b in range(bands):
        for k in (b - 1, b, b + 1):  # the extension reaches rows of the neighbouring bands
            if 0 <= k < bands and x1[k] > x0[k]:
                rows = slice(b * band, (b + 1) * band)
                assert covered[rows, max(0, x0[k] - int(extend)) : x1[k] + int(extend)].all(), (b, k)
    for box, grown in regions:
        assert min(box.y0, box.x0) % align == 0
        assert grown == Box(max(0, box.y0 - spill), min(h, box.y1 + spill), max(0, box.x0 - spill), min(w, box.x1 + spill))


def test_cover_is_disjoint_and_covers_the_union() -> None:
    gen = torch.Generator().manual_seed(0)
    boxes = []
    for _ in range(12):
        y0, x0 = (int(v) for v in torch.randint(0, 90, (2,), generator=gen))
        boxes.append(Box(y0, y0 + int(torch.randint(4, 30, (1,), generator=gen)), x0, x0 + int(torch.randint(4, 30, (1,), generator=gen))))
    parts = cover(boxes)
    assert int(_mask(parts, 130, 130).max()) == 1
    assert bool(((_mask(parts, 130, 130) > 0) >= (_mask(boxes, 130, 130) > 0)).all())


def test_boxes_above_the_area_limit_become_strips_of_the_same_area() -> None:
    h, w, band, extend, spill, align = 256, 320, 32, 10.0, 12, 4
    bands = h // band
    x0, x1 = [8] * bands, [300] * bands  # a slab across the frame: one box when unlimited
    whole = slab_regions(x0, x1, band, extend, spill, align, h, w)
    assert len(whole) == 1
    regions = slab_regions(x0, x1, band, extend, spill, align, h, w, max_area=20_000)
    boxes = [box for box, _ in regions]
    assert len(boxes) >= 4
    assert all(b.height * b.width <= 20_000 and b.x0 % align == 0 for b in boxes)
    assert torch.equal(_mask(boxes, h, w), _mask([whole[0][0]], h, w))  # disjoint, the same pixels
    for box, grown in regions:
        assert grown == Box(max(0, box.y0 - spill), min(h, box.y1 + spill), max(0, box.x0 - spill), min(w, box.x1 + spill))
    # A limit below one aligned column keeps columns of the grid's width.
    narrow = slab_regions(x0, x1, band, extend, spill, align, h, w, max_area=10)
    assert all(box.width == align or box.x1 == whole[0][0].x1 for box, _ in narrow)


def test_a_frame_wide_slab_in_strips_renders_as_in_one_box(monkeypatch: pytest.MonkeyPatch) -> None:
    # A background across the frame behind a nearer square, both sharp enough to stay on full
    # resolution: cut into strips (on a CPU, for its caches), it renders as in one box (overlap-add
    # is exact) except where the background is filled in behind the square: each strip fills from
    # its own pixels.
    gen = torch.Generator().manual_seed(9)
    frames = torch.rand(1, 3, 96, 160, generator=gen)
    disparity = torch.full((1, 1, 96, 160), 0.1)
    disparity[..., 30:70, 50:110] = 0.5
    args = (frames, disparity, torch.tensor([0.3]), torch.tensor([12.0]), Look())
    strips = []
    original = slabs._strips
    monkeypatch.setattr(slabs, "_strips", lambda *a: strips.append(len(original(*a))) or original(*a))
    whole = PhysicalRenderer().render(*args)
    assert max(strips) == 1
    strips.clear()
    monkeypatch.setattr(physical, "MAX_BOX_LEVEL_PIXELS", 8000)
    split = PhysicalRenderer().render(*args)
    assert max(strips) > 1
    difference = (split - whole).abs()
    far = torch.ones(96, 160, dtype=torch.bool)
    far[30 - 16 : 70 + 16, 50 - 16 : 110 + 16] = False  # the square and the blur around it
    assert difference[..., far].max() < 2e-5
    assert difference.max() < 1e-2 and difference.mean() < 1e-4


def _stripe_scene(h: int = 256, w: int = 640) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(2)
    frames = torch.rand(1, 3, h, w, generator=gen)
    y, x = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    stripe = ((x - 2.2 * y - 10).abs() < 6).float().view(1, 1, h, w)
    disparity = 0.3 * stripe
    return frames, disparity, stripe


def test_a_slab_cut_into_many_boxes_renders_as_in_one(monkeypatch: pytest.MonkeyPatch) -> None:
    # A diagonal stripe (the nearest thing, so nothing hides it) over transparent background: the
    # stripe's slab is one box when boxes are expensive and many when they are free; overlap-add
    # makes both the same.
    frames, disparity, alpha = _stripe_scene()
    args = (frames, disparity, torch.tensor([1.0]), torch.tensor([20.0]), Look())
    counts = []
    original = physical.slab_regions

    def counting(*a, **k):
        regions = original(*a, **k)
        counts.append(len(regions))
        return regions

    monkeypatch.setattr(physical, "slab_regions", counting)
    monkeypatch.setattr(slabs, "BOX_OVERHEAD_PX", 10**12)
    whole, whole_cov = PhysicalRenderer().render_rgba(*args, alpha=alpha)
    assert max(counts) == 1
    counts.clear()
    monkeypatch.setattr(slabs, "BOX_OVERHEAD_PX", 0)
    split, split_cov = PhysicalRenderer().render_rgba(*args, alpha=alpha)
    assert max(counts) > 1
    assert torch.allclose(split, whole, atol=2e-5)
    assert torch.allclose(split_cov, whole_cov, atol=2e-5)


def test_work_follows_the_area_slabs_cover_not_their_number(monkeypatch: pytest.MonkeyPatch) -> None:
    # A full-frame disparity ramp occupies every slab; each is a band across the frame, so the
    # boxes worked on add up to a few frames' area, not one frame per slab.
    h, w = 135, 480
    frames = torch.rand(1, 3, h, w, generator=torch.Generator().manual_seed(1))
    disparity = torch.linspace(0.0, 1.0, w).view(1, 1, 1, w).expand(1, 1, h, w).contiguous()
    areas = []
    original = PhysicalRenderer._layer_in

    def measuring(self, frame, group, radii, box, grown, factor, owns):
        areas.append(grown.height * grown.width)
        return original(self, frame, group, radii, box, grown, factor, owns)

    monkeypatch.setattr(PhysicalRenderer, "_layer_in", measuring)
    PhysicalRenderer().render(frames, disparity, torch.tensor([0.45]), torch.tensor([20.0]), Look())
    assert len(areas) >= 12
    assert sum(areas) < 4 * h * w


def test_blur_in_front_is_looked_up_around_the_slab() -> None:
    # Slab 0 (far) on the left, slab 1 next to it, slab 2 (near, 20 px of blur) on the right:
    # slab 2 borders slab 1 but is far from slab 0, which only slab 1 can show.
    h, w = 64, 400
    index = torch.ones(1, 1, h, w, dtype=torch.int64)
    index[..., :60] = 0
    index[..., 330:] = 2
    reach = [1.0, 2.0, 20.0]
    assert blur_in_front(index, reach) == [2.0, 20.0, 0.0]
    index[..., 70:] = 2  # the blurred slab now comes within its blur of slab 0
    assert blur_in_front(index, reach) == [20.0, 20.0, 0.0]


def test_results_do_not_depend_on_the_thread_count() -> None:
    gen = torch.Generator().manual_seed(5)
    frames = torch.rand(1, 3, 72, 128, generator=gen)
    disparity = torch.linspace(0.0, 1.0, 128).view(1, 1, 1, 128).expand(1, 1, 72, 128).contiguous()
    args = (frames, disparity, torch.tensor([0.4]), torch.tensor([24.0]), Look(aperture="polygon", cat_eye=0.3))
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = PhysicalRenderer().render(*args)
        torch.set_num_threads(3)
        three = PhysicalRenderer().render(*args)
        assert torch.get_num_threads() == 3
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(one, three)


def test_a_layer_with_coverage_above_one_hides_what_lies_behind_without_subtracting_it() -> None:
    # Extensions overlapping a slab's own pixels can take its coverage past 1: "over" must then hide
    # the layers behind it, not subtract them.
    back = torch.ones(1, 4, 4, 4)
    front = torch.cat((torch.full((1, 3, 4, 4), 0.5), torch.full((1, 1, 4, 4), 1.2)), dim=1)
    box = Box(0, 4, 0, 4)
    produced = iter([[(box, back)], [(box, front.clone())]])
    acc, covered = PhysicalRenderer()._accumulate(produced, (1, 4, 4, 4), in_front_of=0, order=[0, 1])
    assert torch.allclose(acc, front)
    assert torch.allclose(covered, torch.full((1, 1, 4, 4), 1.2))


def test_an_infinite_fill_reach_extends_every_slab_across_the_frame(monkeypatch: pytest.MonkeyPatch) -> None:
    frames, disparity, _ = _stripe_scene()
    whole = Box(0, frames.shape[-2], 0, frames.shape[-1])
    seen = []
    original = physical.slab_regions

    def recording(*a, **k):
        regions = original(*a, **k)
        seen.append([grown for _, grown in regions])
        return regions

    monkeypatch.setattr(physical, "slab_regions", recording)
    args = (frames, disparity, torch.tensor([1.0]), torch.tensor([20.0]), Look())
    PhysicalRenderer(fill_reach=math.inf).render(*args)
    assert seen and all(regions == [whole] for regions in seen)
    seen.clear()
    PhysicalRenderer().render(*args)
    assert any(regions != [whole] for regions in seen)


def test_slices_merge_outward_from_the_focal_plane_within_the_occlusion_step() -> None:
    radii = [-4.6, -3.0, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0, 4.0, 5.5]
    focus = radii.index(0.0)
    groups = occlusion_groups(radii, focus, 2.0)
    assert groups == [(0, 1), (1, 3), (3, 4), (4, 5), (5, 7), (7, 8), (8, 9)]
    flat = [j for j0, j1 in groups for j in range(j0, j1)]
    assert flat == list(range(len(radii) - 1))  # every slice once, far to near
    assert all(radii[j1] - radii[j0] <= 2.0 for j0, j1 in groups if j1 - j0 > 1)
    assert occlusion_groups(radii, focus, 0.0) == [(j, j + 1) for j in range(len(radii) - 1)]


def test_merged_slices_keep_each_pixels_own_blur() -> None:
    # A constant-depth frame lies in one slice: merging it with its neighbours changes nothing.
    gen = torch.Generator().manual_seed(3)
    frames = torch.rand(1, 3, 48, 64, generator=gen)
    for d in (0.1, 0.3, 0.55):
        disparity = torch.full((1, 1, 48, 64), d)
        args = (frames, disparity, torch.tensor([0.7]), torch.tensor([10.0]), Look())
        alone = PhysicalRenderer(occlusion_step_px=0.0).render(*args)
        merged = PhysicalRenderer(occlusion_step_px=2.0).render(*args)
        assert torch.allclose(alone, merged, atol=1e-5), d


def test_kernels_and_their_spectra_are_kept_from_frame_to_frame(monkeypatch: pytest.MonkeyPatch) -> None:
    import bokehfx.renderers.layers as layers

    gen = torch.Generator().manual_seed(6)
    frames = torch.rand(1, 3, 72, 128, generator=gen)
    disparity = torch.linspace(0.0, 1.0, 128).view(1, 1, 1, 128).expand(1, 1, 72, 128).contiguous()
    args = (frames, disparity, torch.tensor([0.4]), torch.tensor([24.0]))
    renderer = PhysicalRenderer()
    first = renderer.render(*args, Look(aperture="polygon"))
    rasterised, transformed = [], []
    aperture_kernel, rfft2 = layers.aperture_kernel, torch.fft.rfft2
    monkeypatch.setattr(layers, "aperture_kernel", lambda *a, **k: rasterised.append(a[0]) or aperture_kernel(*a, **k))
    monkeypatch.setattr(torch.fft, "rfft2", lambda t, *a, **k: transformed.append(t.dim()) or rfft2(t, *a, **k))
    again = renderer.render(*args, Look(aperture="polygon"))  # an equal look, a new object
    assert torch.equal(first, again)
    assert rasterised == [] and transformed and 2 not in transformed  # no kernel made or transformed again
    # Another aperture gets its own kernels: the result is what a new renderer gives.
    other = renderer.render(*args, Look(aperture="polygon", rotation=30.0))
    assert rasterised
    assert torch.equal(other, PhysicalRenderer().render(*args, Look(aperture="polygon", rotation=30.0)))
    assert not torch.equal(other, first)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("ladder", [(22.0, 1.0, 0.15), (37.3, 1.5, 0.25), (80.0, 1.0, 0.1), (5.0, 0.3, 0.0), (500.0, 0.7, 0.15)])
def test_slab_lookup_grid_agrees_with_a_binary_search(dtype: torch.dtype, ladder: tuple[float, float, float]) -> None:
    centres = physical.layer_centres(*ladder)
    bounds = centres.to(dtype)
    up, down = torch.nextafter(bounds, bounds.new_tensor(math.inf)), torch.nextafter(bounds, bounds.new_tensor(-math.inf))
    random = (torch.rand(20000, generator=torch.Generator().manual_seed(7), dtype=torch.float64) * 2 - 1) * ladder[0]
    # Values on, just above and just below every boundary (as the working type rounds them) and beyond the ends.
    s = torch.cat((random.to(dtype), bounds, up, down, centres.float().to(dtype), bounds.new_tensor([0.0, -0.0, 1e6, -1e6])))
    s = s.view(1, 1, 1, -1)
    index, frac = physical.slab_positions(s, centres)
    expected = (torch.searchsorted(centres, s.double().contiguous(), right=True) - 1).clamp(0, len(centres) - 2)
    assert torch.equal(index, expected)
    lower = bounds[expected]
    assert torch.equal(frac, ((s - lower) / (bounds[expected + 1] - lower)).clamp(0.0, 1.0))


def test_one_renderer_renders_frames_side_by_side_as_it_does_alone() -> None:
    from concurrent.futures import ThreadPoolExecutor

    gen = torch.Generator().manual_seed(8)
    frames = torch.rand(6, 3, 48, 96, generator=gen)
    disparity = torch.linspace(0.0, 1.0, 96).view(1, 1, 1, 96).expand(6, 1, 48, 96).contiguous()
    looks = [Look(aperture="polygon", rotation=10.0 * i) for i in range(6)]  # more apertures than are kept

    def one(renderer: PhysicalRenderer, i: int) -> torch.Tensor:
        return renderer.render(frames[i : i + 1], disparity[i : i + 1], torch.tensor([0.3]), torch.tensor([16.0]), looks[i])

    shared = PhysicalRenderer()
    with ThreadPoolExecutor(2) as pool:
        together = list(pool.map(lambda i: one(shared, i), range(6)))
    for i, got in enumerate(together):
        assert torch.equal(got, one(PhysicalRenderer(), i))


def test_channels_last_pictures_reach_the_slabs_as_planes(monkeypatch: pytest.MonkeyPatch) -> None:
    # Pictures often arrive interleaved ((H, W, 3) stills, image sequences, float sources, hosts);
    # strided reads in every slab cost far more than one copy into planes, and the result must not change.
    gen = torch.Generator().manual_seed(8)
    planar = torch.rand(1, 3, 72, 128, generator=gen)
    interleaved = planar.permute(0, 2, 3, 1).contiguous().permute(0, 3, 1, 2)
    assert not interleaved.is_contiguous()
    disparity = torch.linspace(0.0, 1.0, 128).view(1, 1, 1, 128).expand(1, 1, 72, 128).contiguous()
    args = (disparity, torch.tensor([0.4]), torch.tensor([24.0]), Look())
    seen = []
    cut_pieces = physical.cut_pieces
    monkeypatch.setattr(physical, "cut_pieces",
                        lambda frames, *a, **k: seen.append(frames.is_contiguous()) or cut_pieces(frames, *a, **k))
    got = PhysicalRenderer().render(interleaved, *args)
    assert seen and all(seen)
    assert torch.equal(got, PhysicalRenderer().render(planar, *args))
