"""Point tracking for focus points (pyramidal Lucas-Kanade on features around the point), and
subject tracking for named subjects (:class:`SubjectTracker`: a detector's box moved by a point
track, re-detected when the track is lost).

A :class:`PointTracker` follows one image point through consecutive frames. On every step it
finds good features (Shi-Tomasi corners) in a square window around the point on the previous
frame, follows them to the new frame with OpenCV's pyramidal Lucas-Kanade optical flow, checks
each by tracking it back (forward-backward error), and moves the point by the median
displacement of the features that survive. The median makes it robust to a few features that
slide off the subject.

The track is **lost** when fewer than ``min_features`` features survive, or the point leaves the
frame. Then :meth:`PointTracker.update` raises :class:`bokehfx.errors.TrackLostError` (naming the
frame and the last position), or, with ``on_lost="hold"``, keeps the last good position for the
rest of the shot and sets :attr:`PointTracker.lost`.

Frames are ``(H, W, 3)`` RGB (uint8, or float in [0, 1] linear light, which is encoded with a
``1/2.2`` power for tracking) or ``(H, W)`` grey; positions are normalized (0, 0 = centre of the
top-left pixel, 1, 1 = centre of the bottom-right pixel). OpenCV is imported on first use.
"""

from __future__ import annotations

from typing import Any, Optional

from bokehfx.errors import TrackLostError, UsageError

#: Gamma used to encode linear-light float frames before tracking.
TRACKING_GAMMA = 2.2
#: Smallest half-size of a subject's box, as a fraction of the frame (a detector may return a sliver).
MIN_BOX_HALF = 0.01


def to_gray_u8(image: Any) -> Any:
    """An ``(H, W)`` uint8 grey image from RGB / grey, uint8 / float, numpy / torch (HWC or CHW)."""
    import numpy as np

    if type(image).__module__.startswith("torch"):
        image = image.detach().to("cpu").float().numpy()
    arr = np.asarray(image)
    if arr.ndim == 3 and arr.shape[0] in (1, 3) and arr.shape[2] not in (1, 3):
        arr = np.moveaxis(arr, 0, -1)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    if arr.ndim == 3 and arr.shape[2] == 3:
        weights = np.array([0.2126, 0.7152, 0.0722], dtype=np.float32)
        if arr.dtype == np.uint8:
            arr = (arr.astype(np.float32) @ weights) / 255.0
        else:
            arr = np.clip(arr.astype(np.float32), 0.0, 1.0) ** (1.0 / TRACKING_GAMMA) @ weights
    elif arr.ndim == 2:
        arr = arr.astype(np.float32) / 255.0 if arr.dtype == np.uint8 else \
            np.clip(arr.astype(np.float32), 0.0, 1.0) ** (1.0 / TRACKING_GAMMA)
    else:
        raise UsageError(f"a frame for tracking must be (H, W, 3) or (H, W), got shape {arr.shape}")
    return np.ascontiguousarray(np.clip(arr * 255.0 + 0.5, 0, 255).astype(np.uint8))


class PointTracker:
    """Follows one point with pyramidal Lucas-Kanade (see the module docstring).

    Args:
        window_fraction (`float`, *optional*, defaults to 0.05): half-size of the square window in
            which features are looked for, as a fraction of the frame's shorter side.
        min_window_px (`int`, *optional*, defaults to 8): smallest half-size of that window.
        max_features (`int`, *optional*, defaults to 40): most features followed per step.
        min_features (`int`, *optional*, defaults to 3): fewer surviving features means lost.
        lk_window_px (`int`, *optional*, defaults to 21): Lucas-Kanade integration window side.
        pyramid_levels (`int`, *optional*, defaults to 3): pyramid levels above full resolution.
        fb_max_error_px (`float`, *optional*, defaults to 1.0): largest forward-backward error
            of a feature that is kept.
        feature_quality (`float`, *optional*, defaults to 0.01): Shi-Tomasi quality level.
    """

    def __init__(self, window_fraction: float = 0.05, min_window_px: int = 8, max_features: int = 40,
                 min_features: int = 3, lk_window_px: int = 21, pyramid_levels: int = 3,
                 fb_max_error_px: float = 1.0, feature_quality: float = 0.01) -> None:
        if not 0 < window_fraction <= 1:
            raise UsageError(f"window_fraction must be in (0, 1], got {window_fraction!r}")
        if min_features < 1 or max_features < min_features:
            raise UsageError(f"need 1 <= min_features <= max_features, got {min_features}, {max_features}")
        self.window_fraction = window_fraction
        self.min_window_px = min_window_px
        self.max_features = max_features
        self.min_features = min_features
        self.lk_window_px = lk_window_px
        self.pyramid_levels = pyramid_levels
        self.fb_max_error_px = fb_max_error_px
        self.feature_quality = feature_quality
        self._prev: Any = None
        self._xy_px: Optional[tuple[float, float]] = None
        self._size: Optional[tuple[int, int]] = None
        self.lost = False
        self.frame: Optional[int] = None

    @property
    def position(self) -> tuple[float, float]:
        """The current normalized position ``(x, y)``."""
        if self._xy_px is None or self._size is None:
            raise UsageError("the tracker has not been started")
        w, h = self._size
        return self._xy_px[0] / max(w - 1, 1), self._xy_px[1] / max(h - 1, 1)

    @property
    def position_px(self) -> tuple[float, float]:
        """The current position in pixels of the tracked frames."""
        if self._xy_px is None:
            raise UsageError("the tracker has not been started")
        return self._xy_px

    def start(self, image: Any, x: float, y: float, frame: int = 0) -> None:
        """Start on ``image`` at normalized ``(x, y)``."""
        gray = to_gray_u8(image)
        h, w = gray.shape
        self._size = (w, h)
        self._xy_px = (float(x) * (w - 1), float(y) * (h - 1))
        self._prev = gray
        self.lost = False
        self.frame = frame

    def update(self, image: Any, frame: Optional[int] = None, on_lost: str = "raise") -> tuple[float, float]:
        """Follow the point onto the next frame; returns the normalized position.

        Raises:
            TrackLostError: when the track is lost and ``on_lost`` is ``"raise"``.
        """
        import cv2
        import numpy as np

        if self._prev is None:
            raise UsageError("the tracker has not been started")
        frame = (self.frame or 0) + 1 if frame is None else frame
        gray = to_gray_u8(image)
        if gray.shape != self._prev.shape:
            raise UsageError(f"frame {frame} is {gray.shape[::-1]}, the tracked frames "
                             f"{self._prev.shape[::-1]}")
        prev, self._prev, self.frame = self._prev, gray, frame
        if self.lost:
            return self.position
        h, w = gray.shape
        cx, cy = self._xy_px  # type: ignore[misc]
        radius = max(self.min_window_px, int(round(self.window_fraction * min(w, h))))
        mask = np.zeros_like(prev)
        x0, x1 = max(int(cx) - radius, 0), min(int(cx) + radius + 1, w)
        y0, y1 = max(int(cy) - radius, 0), min(int(cy) + radius + 1, h)
        mask[y0:y1, x0:x1] = 255
        corners = cv2.goodFeaturesToTrack(prev, maxCorners=self.max_features, qualityLevel=self.feature_quality,
                                          minDistance=2, mask=mask, blockSize=5)
        points = np.array([[cx, cy]], dtype=np.float32)
        if corners is not None:
            points = np.concatenate([points, corners.reshape(-1, 2).astype(np.float32)])
        lk = dict(winSize=(self.lk_window_px, self.lk_window_px), maxLevel=self.pyramid_levels,
                  criteria=(cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 30, 0.01))
        p0 = points.reshape(-1, 1, 2)
        p1, st1, _ = cv2.calcOpticalFlowPyrLK(prev, gray, p0, None, **lk)
        back, st2, _ = cv2.calcOpticalFlowPyrLK(gray, prev, p1, None, **lk)
        fb_error = np.linalg.norm((back - p0).reshape(-1, 2), axis=1)
        good = (st1.reshape(-1) == 1) & (st2.reshape(-1) == 1) & (fb_error < self.fb_max_error_px)
        reason = None
        if int(good.sum()) < self.min_features:
            reason = (f"only {int(good.sum())} of {len(points)} features could be followed "
                      f"(need {self.min_features})")
        else:
            shift = np.median((p1 - p0).reshape(-1, 2)[good], axis=0)
            nx, ny = cx + float(shift[0]), cy + float(shift[1])
            if not (0 <= nx <= w - 1 and 0 <= ny <= h - 1):
                reason = f"the point left the frame at ({nx:.1f}, {ny:.1f}) px"
            else:
                self._xy_px = (nx, ny)
        if reason is not None:
            self.lost = True
            if on_lost == "raise":
                x, y = self.position
                raise TrackLostError(f"focus point lost at frame {frame}: {reason}; last position "
                                     f"({x:.3f}, {y:.3f}) normalized, ({cx:.1f}, {cy:.1f}) px")
        return self.position


class SubjectTracker:
    """Follows a named subject's box: found by a detector, moved by point tracking, re-found when lost.

    The detector (a :class:`bokehfx.focus.subjects.SubjectLocator`) places the box on the first
    frame; a :class:`PointTracker` then follows the box's centre frame to frame and the box keeps
    its size. When the point track is lost the detector looks again on that frame (a
    *re-detection*); when it cannot find the subject either, the box holds its last position
    (``on_lost="hold"``) or :class:`bokehfx.errors.TrackLostError` is raised.

    Args:
        text (`str`): the subject, e.g. ``"dog"``.
        locator (`SubjectLocator`): finds the subject in a frame.
        on_lost (`str`, *optional*, defaults to ``"raise"``): ``"raise"`` or ``"hold"``.
        tracker_options (`dict`, *optional*): passed to :class:`PointTracker`.
    """

    def __init__(self, text: str, locator: Any, on_lost: str = "raise",
                 tracker_options: Optional[dict] = None) -> None:
        self.text = text
        self.locator = locator
        self.on_lost = on_lost
        self.tracker_options = dict(tracker_options or {})
        self._tracker: Optional[PointTracker] = None
        self._half: tuple[float, float] = (0.0, 0.0)
        self.box: Optional[tuple[float, float, float, float]] = None
        self.lost = False
        self.redetections = 0

    @property
    def position(self) -> tuple[float, float]:
        """The box's centre, normalized."""
        if self.box is None:
            raise UsageError("the subject tracker has not been started")
        x0, y0, x1, y1 = self.box
        return (x0 + x1) / 2.0, (y0 + y1) / 2.0

    def _place(self, image: Any, frame: int) -> bool:
        found = self.locator.locate(self.text, image, frame)
        if found is None:
            return False
        x0, y0, x1, y1 = found.box
        self._half = (min(max((x1 - x0) / 2.0, MIN_BOX_HALF), 0.5), min(max((y1 - y0) / 2.0, MIN_BOX_HALF), 0.5))
        cx, cy = found.centre
        self.box = self._moved_box(cx, cy)
        self._tracker = PointTracker(**self.tracker_options)
        self._tracker.start(image, cx, cy, frame=frame)
        self.lost = False
        return True

    def _moved_box(self, cx: float, cy: float) -> tuple[float, float, float, float]:
        hx, hy = self._half
        x0 = min(max(cx - hx, 0.0), 1.0 - 2.0 * hx)
        y0 = min(max(cy - hy, 0.0), 1.0 - 2.0 * hy)
        return (x0, y0, x0 + 2.0 * hx, y0 + 2.0 * hy)

    def start(self, image: Any, frame: int = 0) -> tuple[float, float, float, float]:
        """Find the subject on its first frame; returns the box.

        Raises:
            UsageError: when the detector does not find the subject there.
        """
        if not self._place(image, frame):
            raise UsageError(f"focus subject {self.text!r} was not found in frame {frame}; describe it "
                             "differently, or focus on a point or region instead")
        return self.box  # type: ignore[return-value]

    def update(self, image: Any, frame: int) -> tuple[float, float, float, float]:
        """Follow the subject onto ``image`` (frame ``frame``); returns the box.

        Raises:
            TrackLostError: when the track is lost, the detector cannot find the subject again and
                ``on_lost`` is ``"raise"``.
        """
        if self._tracker is None:
            return self.start(image, frame)
        if self.lost:
            self._tracker.update(image, frame=frame, on_lost="hold")
            return self.box  # type: ignore[return-value]
        cx, cy = self._tracker.update(image, frame=frame, on_lost="hold")
        if not self._tracker.lost:
            self.box = self._moved_box(cx, cy)
            return self.box
        last = self.box
        if self._place(image, frame):
            self.redetections += 1
            return self.box  # type: ignore[return-value]
        self.box, self.lost = last, True
        if self.on_lost == "raise":
            x, y = self.position
            raise TrackLostError(f"focus subject {self.text!r} lost at frame {frame} and not found again; "
                                 f"last position ({x:.3f}, {y:.3f}) normalized (--on-lost hold keeps it there)")
        return self.box  # type: ignore[return-value]
