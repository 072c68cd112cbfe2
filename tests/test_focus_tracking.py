"""Point tracking: a synthetic moving object within 2 px, focus that follows it, loss, a real clip."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from bokehfx.errors import TrackLostError
from bokehfx.focus import Blur, FocusPlan, Keyframe, PointTarget, stack_focus
from bokehfx.focus.tracking import PointTracker, to_gray_u8

W, H, SIZE, N = 200, 150, 36, 50
OBJECT_DISPARITY, BACKGROUND_DISPARITY = 0.8, 0.2


def _path(t: int) -> tuple[float, float]:
    """Top-left corner of the object at frame t (sub-pixel, curved)."""
    return 30.0 + 1.7 * t, 40.0 + 0.9 * t + 8.0 * np.sin(t / 8.0)


def synthetic_clip() -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray]:
    """RGB frames, disparity maps and true object centres of a textured square moving over a
    static textured background."""
    rng = np.random.default_rng(7)
    background = cv2.GaussianBlur(rng.random((H, W)).astype(np.float32), (0, 0), 6)
    background = (background - background.min()) / np.ptp(background) * 0.5 + 0.25
    texture = cv2.GaussianBlur(rng.random((SIZE, SIZE)).astype(np.float32), (0, 0), 1.0)
    texture = (texture - texture.min()) / np.ptp(texture)
    frames, disparities, centres = [], [], []
    for t in range(N):
        x, y = _path(t)
        m = np.float32([[1, 0, x], [0, 1, y]])
        layer = cv2.warpAffine(texture, m, (W, H), flags=cv2.INTER_LINEAR)
        alpha = cv2.warpAffine(np.ones((SIZE, SIZE), np.float32), m, (W, H), flags=cv2.INTER_LINEAR)
        grey = background * (1 - alpha) + layer * alpha
        frames.append(np.repeat((grey * 255).astype(np.uint8)[..., None], 3, axis=2))
        disparities.append(BACKGROUND_DISPARITY + (OBJECT_DISPARITY - BACKGROUND_DISPARITY) * alpha)
        centres.append((x + (SIZE - 1) / 2, y + (SIZE - 1) / 2))
    return frames, disparities, np.array(centres)


def test_synthetic_object_is_tracked_within_two_pixels_over_50_frames() -> None:
    frames, _, centres = synthetic_clip()
    tracker = PointTracker()
    tracker.start(frames[0], centres[0, 0] / (W - 1), centres[0, 1] / (H - 1))
    positions = [tracker.position_px]
    for frame in frames[1:]:
        tracker.update(frame)
        positions.append(tracker.position_px)
    error = np.hypot(*(np.array(positions) - centres).T)
    assert not tracker.lost
    assert error.max() < 2.0, error.max()
    assert np.hypot(*(centres[-1] - centres[0])) > 80  # it really moved


def test_focus_follows_the_tracked_point_and_a_locked_point_does_not() -> None:
    frames, disparities, centres = synthetic_clip()
    x, y = centres[0, 0] / (W - 1), centres[0, 1] / (H - 1)
    tracked = FocusPlan((Keyframe(0, PointTarget(x, y), Blur(20)),))
    curve = tracked.evaluate(disparities, 24, images=frames)
    assert np.allclose(curve.focus, OBJECT_DISPARITY, atol=0.01)
    last_x, last_y, lost = curve.points[-1][0]
    assert not lost and abs(last_x * (W - 1) - centres[-1, 0]) < 2 and abs(last_y * (H - 1) - centres[-1, 1]) < 2
    locked = FocusPlan((Keyframe(0, PointTarget(x, y, track=False), Blur(20)),)).evaluate(disparities, 24)
    assert locked.focus[0] == pytest.approx(OBJECT_DISPARITY, abs=0.01)
    assert locked.focus[-1] == pytest.approx(BACKGROUND_DISPARITY, abs=0.01)


def test_streamed_windows_carry_the_track() -> None:
    frames, disparities, centres = synthetic_clip()
    plan = FocusPlan((Keyframe(0, PointTarget(centres[0, 0] / (W - 1), centres[0, 1] / (H - 1)), Blur(20)),))
    ev = plan.evaluator(24)
    focus = []
    for start in range(0, N, 16):  # windows of 20 frames overlapping by 4
        got = ev.feed(disparities[start:start + 20], frames[start:start + 20], start=start)
        focus = focus[:start] + [r.focus for r in got]
    assert len(focus) == N and np.allclose(focus, OBJECT_DISPARITY, atol=0.01)


def test_renderer_window_layout_tensors() -> None:
    """Windows as the renderer takes them: (T, 1, H, W) disparity, (T, 3, H, W) linear float frames."""
    import torch

    frames, disparities, centres = synthetic_clip()
    linear = torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2).float().div(255).pow(2.2)
    disp = torch.from_numpy(np.stack(disparities))[:, None]
    plan = FocusPlan((Keyframe(0, PointTarget(centres[0, 0] / (W - 1), centres[0, 1] / (H - 1)), Blur(20)),))
    ev = plan.evaluator(24)
    focus, blur = stack_focus(ev.feed(disp[:25], linear[:25]) + ev.feed(disp[25:], linear[25:]))
    assert focus.shape == blur.shape == (N,) and focus.dtype == np.float32
    assert np.allclose(focus, OBJECT_DISPARITY, atol=0.01) and np.all(blur == 20)


def test_lost_track_raises_or_holds() -> None:
    frames, disparities, centres = synthetic_clip()
    flat = np.full_like(frames[0], 128)
    broken = frames[:20] + [flat] * 5
    start = (centres[0, 0] / (W - 1), centres[0, 1] / (H - 1))
    plan = FocusPlan((Keyframe(0, PointTarget(*start), Blur(20)),))
    with pytest.raises(TrackLostError, match="frame 20"):
        plan.evaluate(disparities[:25], 24, images=broken)
    held = plan.evaluate(disparities[:25], 24, images=broken, on_lost="hold")
    x19, y19, lost19 = held.points[19][0]
    x24, y24, lost24 = held.points[24][0]
    assert not lost19 and lost24 and (x24, y24) == (x19, y19)


def test_to_gray_accepts_common_layouts() -> None:
    import torch

    rgb = np.zeros((4, 5, 3), np.uint8)
    rgb[..., 1] = 255
    assert to_gray_u8(rgb).shape == (4, 5) and int(to_gray_u8(rgb)[0, 0]) == round(0.7152 * 255)
    linear = np.full((4, 5, 3), 0.5, np.float32)
    assert int(to_gray_u8(linear)[0, 0]) == round(0.5 ** (1 / 2.2) * 255)
    chw = torch.from_numpy(np.moveaxis(linear, -1, 0).copy())
    assert np.array_equal(to_gray_u8(chw), to_gray_u8(linear))


def _decode(path: Path, count: int, width: int) -> list[np.ndarray]:
    import av

    frames = []
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            rgb = frame.to_ndarray(format="rgb24")
            height = round(width * rgb.shape[0] / rgb.shape[1])
            frames.append(cv2.resize(rgb, (width, height), interpolation=cv2.INTER_AREA))
            if len(frames) == count:
                break
    return frames


def test_real_clip_track_follows_the_subject(media: Path, tmp_path: Path) -> None:
    """Big Buck Bunny climbs out of his burrow: a point on his chest must ride along with him."""
    frames = _decode(media / "skv_bigbuckbunny.mp4", 40, 320)
    h, w = frames[0].shape[:2]
    tracker = PointTracker()
    tracker.start(frames[0], 0.27, 0.62)
    positions = [tracker.position_px]
    for frame in frames[1:]:
        tracker.update(frame)
        positions.append(tracker.position_px)
    positions = np.array(positions)
    back = PointTracker()
    back.start(frames[-1], positions[-1, 0] / (w - 1), positions[-1, 1] / (h - 1))
    for frame in frames[-2::-1]:
        back.update(frame)
    closure = float(np.hypot(*(np.array(back.position_px) - positions[0])))
    steps = np.hypot(*np.diff(positions, axis=0).T)
    # On the bunny (grey fur), never on the saturated green grass around him.
    saturation = [np.ptp(f[int(y) - 2:int(y) + 3, int(x) - 2:int(x) + 3].reshape(-1, 3).mean(0))
                  for f, (x, y) in zip(frames, positions)]
    sheet = []
    for i in range(0, len(frames), 8):
        tile = frames[i].copy()
        cv2.circle(tile, (int(round(positions[i, 0])), int(round(positions[i, 1]))), 6, (255, 0, 0), 2)
        sheet.append(tile)
    sheet_path = tmp_path / "bunny_track_contact_sheet.png"
    assert cv2.imwrite(str(sheet_path), cv2.cvtColor(np.concatenate(sheet, axis=1), cv2.COLOR_RGB2BGR))
    assert sheet_path.stat().st_size > 10_000
    assert not tracker.lost and not back.lost
    assert closure < 2.0, closure
    assert positions[-1, 0] - positions[0, 0] > 25  # he moves right out of the burrow
    assert steps.max() < 12
    assert max(saturation) < 60, saturation
