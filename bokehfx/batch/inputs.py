"""What a watch folder takes: which names count as inputs, when a file has settled, safety, settings.

- **Ignored names**: hidden names (``.x``), names of files still being written by other tools
  (``.part``, ``.tmp``, ``~``, ``.crdownload``), and sidecars (``clip.bokehfx.json``, ``.toml``).
- **Settled**: a file is taken only when its size and modification time have held still for the
  settle time and it opens for reading (a copy in progress does not).
- **Safety**: symbolic links and paths that resolve outside the watched folder are refused; the
  watched folder is only ever read.
- **Settings**: the folder's defaults (``--config``, a TOML file) with the clip's sidecar
  (``clip.bokehfx.json``, a job file) over them; the keys are the ``render`` options.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from bokehfx.errors import UsageError

#: Suffixes of files that other tools are still writing.
TEMPORARY_SUFFIXES = (".part", ".tmp", "~", ".crdownload", ".partial", ".download")
#: Suffix of a clip's settings sidecar: ``clip.bokehfx.json`` beside ``clip.mov``.
SIDECAR_SUFFIX = ".bokehfx.json"
#: Other files that are settings, not clips.
SETTINGS_SUFFIXES = (SIDECAR_SUFFIX, ".toml")
#: Default settle time in seconds (the convention of HandBrake's and Episode's watch folders).
DEFAULT_SETTLE_S = 5.0
#: Bytes read at a time when hashing an input.
HASH_BLOCK = 4 * 1024 * 1024
#: Extension of every output unless the settings choose H.264 or an output name.
DEFAULT_EXTENSION = ".mov"


def is_ignored(name: str) -> bool:
    """True for hidden names, files being written by other tools, and settings files."""
    lower = name.lower()
    return name.startswith(".") or lower.endswith(TEMPORARY_SUFFIXES) or lower.endswith(SETTINGS_SUFFIXES)


def content_hash(path: Path) -> str:
    """SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(HASH_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def refusal(root: Path, path: Path) -> str | None:
    """Why ``path`` (under the watched folder ``root``) must not be taken, or ``None``."""
    if path.is_symlink():
        target = os.readlink(path)
        where = "outside" if not _inside(root, path.resolve()) else "inside"
        return (f"{str(path)!r} is a symbolic link (to {target!r}, {where} the watched folder): refused; "
                "a watch folder takes real files only")
    if not _inside(root, path.resolve()):
        return f"{str(path)!r} resolves outside the watched folder {str(root)!r}: refused"
    return None


def _inside(root: Path, resolved: Path) -> bool:
    try:
        resolved.relative_to(root.resolve())
        return True
    except ValueError:
        return False


def walk(root: Path) -> tuple[list[Path], list[Path]]:
    """Every candidate file under ``root`` and every symbolic link met (links are never followed)."""
    files, links = [], []
    for folder, dirs, names in os.walk(root, followlinks=False):
        here = Path(folder)
        for d in list(dirs):
            if d.startswith("."):
                dirs.remove(d)
            elif (here / d).is_symlink():
                links.append(here / d)
                dirs.remove(d)
        for name in names:
            if is_ignored(name):
                continue
            p = here / name
            (links if p.is_symlink() else files).append(p)
    return files, links


@dataclass
class Settler:
    """Tracks candidate files until their size and mtime have held still for ``settle`` seconds."""

    settle: float = DEFAULT_SETTLE_S
    clock: Callable[[], float] = time.monotonic
    _seen: dict[Path, tuple[int, int, float]] = field(default_factory=dict)

    def add(self, path: Path) -> None:
        """Watch ``path`` (again) from now on."""
        self._seen.pop(path, None)
        self._observe(path)

    def _observe(self, path: Path) -> tuple[int, int, float] | None:
        try:
            st = path.lstat()
        except FileNotFoundError:
            self._seen.pop(path, None)
            return None
        previous = self._seen.get(path)
        key = (st.st_size, st.st_mtime_ns)
        if previous is None or previous[:2] != key:
            previous = (*key, self.clock())
            self._seen[path] = previous
        return previous

    @property
    def pending(self) -> int:
        """Files still settling."""
        return len(self._seen)

    def settled(self) -> list[tuple[Path, int, int]]:
        """Files that held still for the settle time and open for reading: ``(path, size, mtime_ns)``.

        They are handed over once and forgotten (an event adds them again when they change).
        """
        ready = []
        now = self.clock()
        for path in list(self._seen):
            state = self._observe(path)
            if state is None or now - state[2] < self.settle:
                continue
            try:
                with open(path, "rb"):
                    pass
            except OSError:
                continue  # locked or unreadable for now: keep waiting
            del self._seen[path]
            ready.append((path, state[0], state[1]))
        return ready


def read_toml(path: Path) -> dict[str, Any]:
    """A folder's default settings (``--config``)."""
    import tomllib

    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError) as err:
        raise UsageError(f"--config {str(path)!r} cannot be read: {err}") from None


def read_sidecar(path: Path) -> dict[str, Any]:
    """A clip's settings sidecar (a job file's render options)."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise UsageError(f"sidecar {str(path)!r} cannot be read: {err}") from None
    if not isinstance(data, dict):
        raise UsageError(f"sidecar {str(path)!r} must hold a JSON object of render options")
    return data


#: Checks settings read from ``origin`` and returns them as render options (supplied by the CLI).
Validator = Callable[[dict[str, Any], str], dict[str, Any]]


def settings_for(clip: Path, defaults: dict[str, Any], validate: Validator) -> dict[str, Any]:
    """The clip's settings: the folder's defaults with its sidecar (checked by ``validate``) over them."""
    sidecar = clip.with_name(clip.stem + SIDECAR_SUFFIX)
    merged = dict(defaults)
    if sidecar.exists():
        merged.update(validate(read_sidecar(sidecar), f"sidecar {str(sidecar)!r}"))
    return merged


def settings_hash(settings: dict[str, Any]) -> str:
    """Hash of settings in canonical JSON."""
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()


def output_for(rel: Path, settings: dict[str, Any]) -> Path:
    """``a/name.ext`` renders to ``a/name.mov`` (``.mp4`` with ``codec = "h264"``) relative to OUT."""
    extension = ".mp4" if settings.get("codec") == "h264" else DEFAULT_EXTENSION
    return rel.with_name(rel.stem + extension)


__all__ = ["DEFAULT_SETTLE_S", "SIDECAR_SUFFIX", "Settler", "Validator", "content_hash", "is_ignored", "output_for",
           "read_sidecar", "read_toml", "refusal", "settings_for", "settings_hash", "walk"]
