"""Files of training: windows of clips with depth, ready-made pair folders, the pair cache.

- :func:`read_clip_window`: ``T`` consecutive frames of a clip (linear light); their depth comes
  through :mod:`bokehfx.training.depth_windows`.
- :func:`find_cached_depth`: the depth cache entry of a clip (matched by the clip's content
  fingerprint, whichever estimator made it).
- :class:`PairFolder`: a ready-made pair: ``aif.*`` (all-in-focus), ``bokeh.*`` (target),
  optional ``depth.*``, ``instruction.txt``, ``focus.json`` and ``reference.*``.
- :func:`save_pair` / :func:`load_pair`: one synthesised sample as a safetensors file (tensors
  plus string metadata), for the optional on-disk cache of the synthesiser.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import torch

from bokehfx.errors import CorruptMediaError, InputNotFoundError, UsageError
from bokehfx.io.depthcache import DepthCacheEntry, clip_fingerprint, open_cached_depth
from bokehfx.io.paths import IMAGE_EXTENSIONS, is_sequence_pattern
from bokehfx.io.source import VideoSource

#: Names of the files of a ready-made pair folder (any extension a clip or image may have).
PAIR_ROLES = ("aif", "bokeh", "depth", "reference")
PAIR_INSTRUCTION = "instruction.txt"
PAIR_FOCUS = "focus.json"


def read_clip_window(path: str | Path, start: int, frames: int, fps: Fraction | None = None) -> torch.Tensor:
    """Frames ``start .. start + frames - 1`` of a clip as ``(T, 3, H, W)`` float32 linear light.

    A still image gives its one picture ``frames`` times.
    """
    with VideoSource(path, fps=fps, frame_range=(start, start + frames), prefetch=0) as src:
        images = [torch.from_numpy(f.image).permute(2, 0, 1) for f in src]
    if len(images) == 1 and frames > 1 and src.info.video.is_image and not is_sequence_pattern(path):
        images = images * frames
    if len(images) != frames:
        raise CorruptMediaError(f"{str(path)!r} gave {len(images)} frames from frame {start}, {frames} were needed")
    return torch.stack(images).contiguous()


def find_cached_depth(root: str | Path, clip: str | Path, key: str | None = None) -> DepthCacheEntry:
    """The complete depth-cache entry of ``clip`` under ``root`` (``key`` picks one when several match).

    Raises:
        InputNotFoundError: when no entry of this clip's content is there.
        UsageError: when several are there (different estimators) and no ``key`` picks one.
    """
    root = Path(root)
    if key is not None:
        entry = open_cached_depth(root, key)
        if entry is None:
            raise InputNotFoundError(f"depth cache {str(root)!r} holds no complete entry {key!r}")
        return entry
    fingerprint = clip_fingerprint(clip)
    found = []
    for meta_path in sorted(root.glob("*/meta.json")):
        try:
            meta = json.loads(meta_path.read_text())
        except (OSError, ValueError):
            continue
        if meta.get("clip") == fingerprint:
            entry = open_cached_depth(root, meta_path.parent.name)
            if entry is not None:
                found.append(entry)
    if not found:
        raise InputNotFoundError(f"depth cache {str(root)!r} has no estimated depth of {str(clip)!r}; render it "
                                 "once with `bokehfx render` (which caches its depth) or give a depth sidecar")
    if len(found) > 1:
        raise UsageError(f"depth cache {str(root)!r} has {len(found)} entries for {str(clip)!r} (different "
                         f"estimators): pick one with its key ({', '.join(e.folder.name for e in found)})")
    return found[0]


def _role_file(folder: Path, role: str) -> Path | None:
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.stem == role)
    if files:
        return files[0]
    numbered = sorted(p for p in folder.iterdir() if p.is_file() and p.name.startswith(f"{role}.")
                      and p.suffix.lower() in IMAGE_EXTENSIONS and p.name.split(".")[1].isdigit())
    if numbered:
        digits = len(numbered[0].name.split(".")[1])
        return folder / f"{role}.%0{digits}d{numbered[0].suffix}"
    return None


@dataclass(frozen=True)
class PairFolder:
    r"""One ready-made pair (see the module docstring for the file names).

    Args:
        folder (`Path`): the pair's folder.
        aif (`Path`): all-in-focus clip, still or ``%0Nd`` sequence.
        bokeh (`Path`): the target, same frames and size.
        depth (`Path`, *optional*): disparity sidecar (``focus.json`` may say ``"depth_kind": "depth"``).
        reference (`Path`, *optional*): reference bokeh image.
        instruction (`str`, *optional*): the instruction text.
        focus (`dict`, *optional*): ``{"focus": F or [F per frame], "blur": K or [K per frame]}``.
    """

    folder: Path
    aif: Path
    bokeh: Path
    depth: Path | None
    reference: Path | None
    instruction: str | None
    focus: dict | None

    @classmethod
    def open(cls, folder: str | Path) -> "PairFolder":
        """Read a pair folder's listing, instruction and focus file (frames are read on demand)."""
        folder = Path(folder)
        if not folder.is_dir():
            raise InputNotFoundError(f"pair folder {str(folder)!r} does not exist")
        roles = {role: _role_file(folder, role) for role in PAIR_ROLES}
        for role in ("aif", "bokeh"):
            if roles[role] is None:
                raise InputNotFoundError(f"pair folder {str(folder)!r} has no {role}.* file")
        text_path, focus_path = folder / PAIR_INSTRUCTION, folder / PAIR_FOCUS
        text = text_path.read_text().strip() if text_path.is_file() else None
        focus = None
        if focus_path.is_file():
            try:
                focus = json.loads(focus_path.read_text())
            except ValueError as err:
                raise UsageError(f"{str(focus_path)!r} is not JSON: {err}") from None
            if not isinstance(focus, dict) or not {"focus", "blur"} <= set(focus):
                raise UsageError(f"{str(focus_path)!r} must hold an object with 'focus' and 'blur'")
        return cls(folder, roles["aif"], roles["bokeh"], roles["depth"], roles["reference"], text, focus)  # type: ignore[arg-type]


def list_pair_folders(root: str | Path) -> list[PairFolder]:
    """Every pair folder directly under ``root``, sorted by name."""
    root = Path(root)
    if not root.is_dir():
        raise InputNotFoundError(f"pairs folder {str(root)!r} does not exist")
    pairs = [PairFolder.open(p) for p in sorted(root.iterdir()) if p.is_dir() and not p.name.startswith(".")]
    if not pairs:
        raise InputNotFoundError(f"pairs folder {str(root)!r} holds no pair folder")
    return pairs


def save_pair(path: str | Path, tensors: dict[str, torch.Tensor], meta: dict[str, str]) -> None:
    """Write one sample atomically (a temporary file renamed into place)."""
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        save_file({k: v.detach().clone().contiguous() for k, v in tensors.items()}, tmp, metadata=meta)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def load_pair(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, str]] | None:
    """A sample written by :func:`save_pair`, or None when absent or unreadable."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        return None
    try:
        with safe_open(str(path), framework="pt") as fh:
            return {k: fh.get_tensor(k) for k in fh.keys()}, dict(fh.metadata() or {})
    except (OSError, ValueError, RuntimeError):
        return None


__all__ = ["PairFolder", "find_cached_depth", "list_pair_folders", "load_pair", "read_clip_window", "save_pair"]
