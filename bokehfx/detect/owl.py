"""Open-vocabulary subject detection with OWL-ViT / OWLv2 through transformers.

:class:`OwlDetector` finds a named subject ("dog", "woman in red") in a frame: the frame and the
text go through the model's own processor (``AutoProcessor``), the model
(``AutoModelForZeroShotObjectDetection``) scores every predicted box against the text, and the
best box above :data:`DEFAULT_SCORE_THRESHOLD` is returned as a
:class:`bokehfx.focus.subjects.Detection`, normalized to the frame. OWLv2 pads frames to a square
before resizing them, OWL-ViT resizes them to its square input; boxes are mapped back to the
frame either way.

:func:`load_subject_model` loads from a hub id or a local folder (``config.json``, weights and
processor files), looks only at local files when ``HF_HUB_OFFLINE`` is set, and raises
:class:`~bokehfx.errors.ModelNotAvailableError` naming the model and how to supply it when the
weights are missing. The model is loaded on the first :meth:`OwlDetector.locate` call, so a
render whose detections are all cached never loads it.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Optional

from bokehfx.errors import ModelNotAvailableError, UsageError
from bokehfx.hub import hub_offline, looks_like_path, quiet_hub
from bokehfx.focus.subjects import Detection

SUGGESTED_SUBJECT_MODEL = "google/owlvit-base-patch32"
"""A detector that works with transformers alone (OWLv2's processor also needs scipy or torchvision)."""

DEFAULT_SCORE_THRESHOLD = 0.1
"""Lowest detector confidence accepted as "the subject is in this frame"."""

#: Model types whose processor pads the frame to a square (boxes are relative to that square).
PADDED_MODEL_TYPES = frozenset({"owlv2"})
UINT8_MAX = 255


def _not_available(model_id: str, detail: str) -> ModelNotAvailableError:
    return ModelNotAvailableError(
        f"subject model {model_id!r} is not available on this machine ({detail}). Download it once on a "
        f"connected machine with `hf download {model_id}` and copy the Hugging Face cache here, or point "
        f"--subject-model at a local folder holding its config.json, weights and processor files "
        f"(e.g. {SUGGESTED_SUBJECT_MODEL})."
    )


def load_subject_model(model_id: str, device: str = "cpu", revision: Optional[str] = None) -> tuple[Any, Any]:
    """Load an open-vocabulary detector and its processor from a local folder or the hub.

    Local files are tried first; the network only when they are missing and ``HF_HUB_OFFLINE`` is
    not set.

    Args:
        model_id (`str`): hub id (e.g. ``google/owlvit-base-patch32``) or local folder.
        device (`str`, *optional*, defaults to ``"cpu"``): where the model runs.
        revision (`str`, *optional*): hub branch, tag or commit.

    Returns:
        `(model, processor)`: the model in eval mode on ``device`` and its processor.

    Raises:
        ModelNotAvailableError: when the weights are not present (and cannot be downloaded).
        UsageError: when the folder or id holds something that is not an open-vocabulary detector.
    """
    from transformers import AutoModelForZeroShotObjectDetection, AutoProcessor
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    folder = Path(model_id).expanduser()
    if folder.is_dir():
        if not (folder / "config.json").is_file():
            raise _not_available(model_id, f"folder {str(folder)!r} has no config.json")
        source = str(folder)
    elif looks_like_path(model_id):
        raise _not_available(model_id, f"no folder {str(folder)!r}")
    else:
        source = model_id

    def load(local_only: bool) -> tuple[Any, Any]:
        with quiet_hub():
            model = AutoModelForZeroShotObjectDetection.from_pretrained(source, revision=revision,
                                                                       local_files_only=local_only)
            processor = AutoProcessor.from_pretrained(source, revision=revision, local_files_only=local_only)
        return model, processor

    try:
        try:
            model, processor = load(True)
        except OSError as err:
            if folder.is_dir() or hub_offline():
                reason = "HF_HUB_OFFLINE is set and it is not in the local cache" if hub_offline() else str(err)
                raise _not_available(model_id, reason) from None
            try:
                model, processor = load(False)
            except OSError as err2:
                reason = "the hub could not be reached" if "connect" in str(err2).lower() else \
                    str(err2).splitlines()[0]
                raise _not_available(model_id, f"not in the local cache, and the download failed: {reason}; "
                                     "set HF_HUB_OFFLINE=1 on machines without network to fail at once") from None
    except (ValueError, KeyError) as err:
        raise UsageError(f"subject model {model_id!r} is not an open-vocabulary detector "
                         f"(OWL-ViT / OWLv2): {str(err).splitlines()[0]}") from None
    except ImportError as err:
        raise UsageError(f"subject model {model_id!r} needs a package that is not installed: "
                         f"{str(err).strip().splitlines()[0]}") from None
    return model.to(device).eval(), processor


def detector_fingerprint(model_id: str, threshold: float, revision: Optional[str] = None) -> str:
    """Identifies a detector without loading it: the id and threshold, and for a local folder the
    names, sizes and modification times of its files (a re-saved model changes it)."""
    digest = hashlib.sha256(f"{model_id}\n{revision or ''}\n{threshold!r}\n".encode())
    folder = Path(model_id).expanduser()
    if folder.is_dir():
        for item in sorted(folder.iterdir()):
            if item.is_file():
                stat = item.stat()
                digest.update(f"{item.name}:{stat.st_size}:{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


def to_display_uint8(image: Any) -> Any:
    """An ``(H, W, 3)`` uint8 sRGB frame from uint8, or float linear light in [0, 1]."""
    import numpy as np

    arr = np.asarray(image)
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise UsageError(f"a frame for subject detection must be (H, W, 3) RGB, got shape {arr.shape}")
    if arr.dtype == np.uint8:
        return arr
    import torch

    from bokehfx.colour import linear_to_srgb

    encoded = linear_to_srgb(torch.from_numpy(np.clip(arr.astype(np.float32), 0.0, 1.0))).numpy()
    return np.clip(encoded * UINT8_MAX + 0.5, 0, UINT8_MAX).astype(np.uint8)


class OwlDetector:
    """A :class:`bokehfx.focus.subjects.SubjectLocator` backed by OWL-ViT / OWLv2 (see the module docstring).

    Args:
        model_id (`str`): hub id or local folder.
        device (`str`, *optional*, defaults to ``"cpu"``): where the model runs.
        threshold (`float`, *optional*): lowest accepted score; :data:`DEFAULT_SCORE_THRESHOLD`.
        revision (`str`, *optional*): hub branch, tag or commit.
    """

    def __init__(self, model_id: str, device: str = "cpu", threshold: float = DEFAULT_SCORE_THRESHOLD,
                 revision: Optional[str] = None) -> None:
        if not 0.0 <= threshold <= 1.0:
            raise UsageError(f"subject score threshold must be in [0, 1], got {threshold!r}")
        self.model_id = model_id
        self.device = device
        self.threshold = threshold
        self.revision = revision
        self.fingerprint = detector_fingerprint(model_id, threshold, revision)
        self._loaded: Optional[tuple[Any, Any]] = None
        #: Frames the model has looked at (for reports and tests).
        self.calls = 0

    def load(self) -> tuple[Any, Any]:
        """The model and processor, loaded on first use."""
        if self._loaded is None:
            self._loaded = load_subject_model(self.model_id, self.device, self.revision)
        return self._loaded

    def locate(self, text: str, image: Any, frame: int) -> Optional[Detection]:
        """The highest-scoring box for ``text`` in ``image``, or None below the threshold."""
        import torch

        model, processor = self.load()
        pixels = to_display_uint8(image)
        h, w = pixels.shape[:2]
        inputs = processor(text=[[text]], images=[pixels], return_tensors="pt").to(self.device)
        with torch.no_grad():
            outputs = model(**inputs)
        padded = getattr(model.config, "model_type", "") in PADDED_MODEL_TYPES
        size = (max(h, w), max(h, w)) if padded else (h, w)
        # transformers >= 4.47 names it post_process_grounded_object_detection; earlier releases
        # have the same call as post_process_object_detection.
        post = getattr(processor, "post_process_grounded_object_detection", None) or \
            processor.post_process_object_detection
        result = post(outputs, threshold=self.threshold, target_sizes=[size])[0]
        self.calls += 1
        best: Optional[Detection] = None
        for box, score in zip(result["boxes"].tolist(), result["scores"].tolist()):
            x0, x1 = (min(max(v, 0.0), w - 1.0) / max(w - 1, 1) for v in (box[0], box[2]))
            y0, y1 = (min(max(v, 0.0), h - 1.0) / max(h - 1, 1) for v in (box[1], box[3]))
            if x1 > x0 and y1 > y0 and (best is None or score > best.score):
                best = Detection((x0, y0, x1, y1), float(score))
        return best


__all__ = ["DEFAULT_SCORE_THRESHOLD", "SUGGESTED_SUBJECT_MODEL", "OwlDetector", "detector_fingerprint",
           "load_subject_model", "to_display_uint8"]
