"""The detection cache: where named subjects were found in a clip, kept beside the depth cache.

A detection costs a model run, so each one is stored in a small JSON file keyed by the clip's
content and the detector's fingerprint (``<cache>/<clip>-<detector>.json``)::

    {"schema": "bokehfx.detections/1", "clip": "<sha256>", "detector": "<fingerprint>",
     "detections": {"dog": {"0": [x0, y0, x1, y1, score], "57": null}}}

``null`` records that the subject was looked for and not found. The cache stores plain lists;
:class:`bokehfx.pipeline.subjects.CachedLocator` puts it in front of a detector, which is asked
only on a miss (the detector loads its model lazily, so a fully cached render never loads it).
Files are replaced atomically.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Optional

from bokehfx.errors import InputNotFoundError, OutputError

DETECTIONS_SCHEMA = "bokehfx.detections/1"
#: Bytes read at a time when a clip is hashed.
CLIP_HASH_CHUNK = 1 << 20
#: Characters of each key kept in the cache file's name.
KEY_CHARS = 16


def clip_content_key(path: str | Path) -> str:
    """SHA-256 of a clip file's size and bytes (names and times do not matter); an image-sequence
    pattern is keyed by its resolved path."""
    p = Path(path)
    if not p.is_file():
        if "%" in p.name or "#" in p.name:
            return hashlib.sha256(f"sequence\n{p.resolve()}".encode()).hexdigest()
        raise InputNotFoundError(f"clip {str(path)!r} does not exist")
    digest = hashlib.sha256(f"{p.stat().st_size}\n".encode())
    with open(p, "rb") as fh:
        while chunk := fh.read(CLIP_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


class DetectionCache:
    """Detections of one clip by one detector, in one JSON file under ``folder``."""

    def __init__(self, folder: Path, clip_key: str, detector_key: str) -> None:
        self.path = Path(folder) / f"{clip_key[:KEY_CHARS]}-{detector_key[:KEY_CHARS]}.json"
        self.clip_key = clip_key
        self.detector_key = detector_key
        self._data: dict[str, dict[str, Optional[list[float]]]] = {}
        if self.path.is_file():
            try:
                stored = json.loads(self.path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                stored = {}
            if stored.get("schema") == DETECTIONS_SCHEMA and stored.get("clip") == clip_key \
                    and stored.get("detector") == detector_key:
                self._data = stored.get("detections", {})

    def get(self, text: str, frame: int) -> tuple[bool, Optional[list[float]]]:
        """``(known, found)``: whether the frame was looked at for ``text``, and what was found
        (``[x0, y0, x1, y1, score]``, or None when the subject was not in the frame)."""
        entry = self._data.get(text, {})
        if str(frame) not in entry:
            return False, None
        value = entry[str(frame)]
        return True, None if value is None else [float(v) for v in value]

    def put(self, text: str, frame: int, found: Optional[list[float]]) -> None:
        """Record a lookup (``[x0, y0, x1, y1, score]`` or None) and write the file (atomically)."""
        self._data.setdefault(text, {})[str(frame)] = None if found is None else [float(v) for v in found]
        payload = {"schema": DETECTIONS_SCHEMA, "clip": self.clip_key, "detector": self.detector_key,
                   "detections": self._data}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".detections-", suffix=".json", dir=self.path.parent)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(payload, fh)
            os.replace(tmp, self.path)
        except OSError as err:
            raise OutputError(f"cannot write the detection cache {str(self.path)!r}: {err}") from None


__all__ = ["DETECTIONS_SCHEMA", "DetectionCache", "clip_content_key"]
