"""Named focus subjects in a render: the detector, behind its cache, for one clip."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from bokehfx.errors import UsageError
from bokehfx.focus.plan import FocusPlan
from bokehfx.focus.subjects import Detection
from bokehfx.io.detections import DetectionCache, clip_content_key

#: Folder (beside the output, or under --depth-cache) where detections are cached.
SUBJECT_CACHE_DIRNAME = "subjects"
DEFAULT_CACHE_DIRNAME = ".bokehfx-cache"


class CachedLocator:
    """A :class:`bokehfx.focus.subjects.SubjectLocator` that asks ``locator`` only on a cache miss."""

    def __init__(self, locator: Any, cache: DetectionCache) -> None:
        self.locator = locator
        self.cache = cache
        self.hits = 0

    def locate(self, text: str, image: Any, frame: int) -> Optional[Detection]:
        known, stored = self.cache.get(text, frame)
        if known:
            self.hits += 1
            return None if stored is None else Detection(tuple(stored[:4]), stored[4])  # type: ignore[arg-type]
        found = self.locator.locate(text, image, frame)
        self.cache.put(text, frame, None if found is None else found.to_list())
        return found


def open_subject_locator(plan: FocusPlan, model: str | None, device: str, clip: Path, output: Path,
                         cache_dir: Path | None = None) -> CachedLocator:
    """The locator a render's plan needs: the ``model`` detector, answering from the detection cache.

    Raises:
        UsageError: when the plan names subjects but no model is given.
    """
    from bokehfx.detect.owl import SUGGESTED_SUBJECT_MODEL, OwlDetector

    if model is None:
        raise UsageError(f"the focus plan names a subject ({plan.subjects[0]!r}): give --subject-model "
                         f"(a hub id such as {SUGGESTED_SUBJECT_MODEL}, or a local folder)")
    detector = OwlDetector(model, device=device)
    folder = (cache_dir / SUBJECT_CACHE_DIRNAME) if cache_dir is not None else \
        output.parent / DEFAULT_CACHE_DIRNAME / SUBJECT_CACHE_DIRNAME
    return CachedLocator(detector, DetectionCache(folder, clip_content_key(clip), detector.fingerprint))


__all__ = ["CachedLocator", "open_subject_locator"]
