"""Monocular depth estimators: batched frames in, relative disparity at the source size out.

Every estimator takes frames ``(T, 3, H, W)`` (a float numpy array or a torch tensor, linear light
by default) and returns relative disparity ``(T, 1, H, W)`` (near is large; affine-invariant:
only known up to a scale and a shift) of the same kind. Frames are resized for the model keeping
their aspect ratio, with both sides a multiple of the ViT patch, and the prediction is resized
back to exactly ``(H, W)``: nothing is ever stretched.

:class:`DepthAnythingEstimator` runs Depth Anything (V1 or V2) through transformers'
``AutoModelForDepthEstimation``, from a Hugging Face hub id or a local folder. The loading code
(:func:`load_depth_model`) looks only at local files when ``HF_HUB_OFFLINE`` is set, and raises
:class:`~bokehfx.errors.ModelNotAvailableError` (writing nothing) when the weights are missing.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol, runtime_checkable

import numpy as np
import torch

from bokehfx.colour import linear_to_srgb
from bokehfx.depth.resize import VIT_PATCH, model_input_size, resize_maps
from bokehfx.errors import ModelNotAvailableError, UsageError
from bokehfx.hub import hub_offline, looks_like_path, quiet_hub

if TYPE_CHECKING:
    from transformers import PreTrainedModel

DEFAULT_DEPTH_MODEL = "depth-anything/Depth-Anything-V2-Small-hf"
"""The default estimator: Depth Anything V2 Small (Apache-2.0), about 25 M parameters."""

DEFAULT_INPUT_SIZE = 518
"""Short side of the model input in pixels: the resolution Depth Anything was trained at."""

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
"""Input normalization of the DINOv2 backbone (applied to display-encoded RGB in [0, 1])."""

METRIC_DEPTH_FLOOR = 1e-3
"""Smallest depth (model units) inverted when a metric-depth model's output is turned into disparity."""

Transfer = Literal["linear", "srgb"]
TRANSFERS: tuple[str, ...] = ("linear", "srgb")


@runtime_checkable
class DepthEstimator(Protocol):
    """What every estimator offers.

    Attributes:
        model_id (`str`): Hub id or folder the weights came from.
        fingerprint (`str`): Identifies the weights *and* every setting that changes the output
            (input size, dtype...); depth caches are keyed by it.
    """

    model_id: str
    fingerprint: str

    def estimate(self, frames: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
        """Relative disparity ``(T, 1, H, W)`` for frames ``(T, 3, H, W)``."""
        ...


def resolve_dtype(dtype: str | torch.dtype | None, device: torch.device) -> torch.dtype:
    """The compute dtype: as given, else float16 on CUDA and float32 elsewhere.

    Args:
        dtype (`str` or `torch.dtype`, *optional*): ``"float32"``/``"fp32"``, ``"float16"``/``"fp16"``,
            ``"bfloat16"``/``"bf16"`` or a torch dtype.
        device (`torch.device`): Where the model runs.
    """
    names = {
        "float32": torch.float32,
        "fp32": torch.float32,
        "float16": torch.float16,
        "fp16": torch.float16,
        "half": torch.float16,
        "bfloat16": torch.bfloat16,
        "bf16": torch.bfloat16,
    }
    if dtype is None:
        return torch.float16 if device.type == "cuda" else torch.float32
    if isinstance(dtype, torch.dtype):
        if dtype not in names.values():
            raise UsageError(f"dtype must be float32, float16 or bfloat16, got {dtype}")
        return dtype
    key = str(dtype).lower()
    if key not in names:
        raise UsageError(f"dtype must be one of float32, float16, bfloat16 (fp32, fp16, bf16), got {dtype!r}")
    return names[key]


def _not_available(model_id: str, detail: str) -> ModelNotAvailableError:
    return ModelNotAvailableError(
        f"depth model {model_id!r} is not available on this machine ({detail}). Download it once on a "
        f"connected machine with `huggingface-cli download {model_id}` (or `hf download {model_id}`) and "
        "copy the Hugging Face cache here, or point --depth-model at a local folder holding its "
        "config.json and weights."
    )


def load_depth_model(
    model_id: str = DEFAULT_DEPTH_MODEL,
    revision: str | None = None,
    device: str | torch.device = "cpu",
    dtype: str | torch.dtype | None = None,
) -> PreTrainedModel:
    """Load a depth-estimation model from a local folder or the Hugging Face hub.

    Local files are always tried first. The network is used only when they are missing and
    ``HF_HUB_OFFLINE`` is not set; nothing is written when the weights cannot be found.

    Args:
        model_id (`str`, defaults to ``DEFAULT_DEPTH_MODEL``): Hub id or local folder.
        revision (`str`, *optional*): Hub branch, tag or commit.
        device (`str` or `torch.device`, defaults to ``"cpu"``): Where to put the model.
        dtype (`str` or `torch.dtype`, *optional*): See :func:`resolve_dtype`.

    Returns:
        `PreTrainedModel`: In eval mode on ``device`` in ``dtype``.

    Raises:
        ModelNotAvailableError: When the weights are not present (and cannot be downloaded).
        UsageError: When the folder or hub id holds something that is not a depth model.
    """
    from transformers import AutoModelForDepthEstimation
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # the library prints nothing; the CLI shows its own progress
    device = torch.device(device)
    torch_dtype = resolve_dtype(dtype, device)
    folder = Path(model_id).expanduser()
    if folder.is_dir():
        if not (folder / "config.json").is_file():
            raise _not_available(model_id, f"folder {str(folder)!r} has no config.json")
        source = str(folder)
    elif looks_like_path(model_id):
        raise _not_available(model_id, f"no folder {str(folder)!r}")
    else:
        source = model_id
    kwargs = {"revision": revision, "dtype": torch_dtype}
    try:
        model = AutoModelForDepthEstimation.from_pretrained(source, local_files_only=True, **kwargs)
    except OSError as err:
        if folder.is_dir() or hub_offline():
            reason = "HF_HUB_OFFLINE is set and it is not in the local cache" if hub_offline() else str(err)
            raise _not_available(model_id, reason) from None
        try:
            with quiet_hub():
                model = AutoModelForDepthEstimation.from_pretrained(source, **kwargs)
        except OSError as err2:
            reason = "the hub could not be reached" if "connect" in str(err2).lower() else str(err2).splitlines()[0]
            raise _not_available(model_id, f"not in the local cache, and the download failed: {reason}; "
                                 "set HF_HUB_OFFLINE=1 on machines without network to fail at once") from None
    except ValueError as err:
        raise UsageError(f"depth model {model_id!r} is not a depth-estimation model: {err}") from None
    return model.to(device).eval()


def model_fingerprint(model: PreTrainedModel, model_id: str, revision: str | None = None) -> str:
    """A short identifier of a model's weights: commit hash when known, else its config's content.

    For a local folder the weights files' names, sizes and modification times are included, so
    re-saving a fine-tune in place changes the fingerprint.
    """
    config = model.config
    commit = getattr(config, "_commit_hash", None) or revision or ""
    digest = hashlib.sha256()
    digest.update(model_id.encode())
    digest.update(commit.encode())
    digest.update(json.dumps(config.to_dict(), sort_keys=True, default=str).encode())
    folder = Path(model_id).expanduser()
    if folder.is_dir():
        for f in sorted(folder.iterdir()):
            if f.suffix in {".safetensors", ".bin", ".json"}:
                st = f.stat()
                digest.update(f"{f.name}:{st.st_size}:{st.st_mtime_ns}".encode())
    return digest.hexdigest()[:16]


class DepthAnythingEstimator:
    """Depth Anything (V1/V2, any size) behind the :class:`DepthEstimator` interface.

    Args:
        model (`str`, defaults to ``DEFAULT_DEPTH_MODEL``): Hub id or local folder.
        device (`str` or `torch.device`, defaults to ``"cpu"``): ``"cpu"``, ``"cuda"``, ``"cuda:1"``...
        dtype (`str` or `torch.dtype`, *optional*): Compute dtype; float16 on CUDA, float32 on CPU
            by default. bfloat16 is also accepted.
        revision (`str`, *optional*): Hub revision.
        input_size (`int`, defaults to 518): Short side of the model input (rounded to a multiple
            of 14). Smaller is faster and coarser.
        batch_size (`int`, defaults to 4): Frames per forward pass.
        transfer (`str`, defaults to ``"linear"``): How input values are encoded: ``"linear"``
            (bokehfx's linear-light frames; sRGB-encoded for the model, which was trained on
            display images) or ``"srgb"`` (already display-encoded in ``[0, 1]``).

    Example:
        >>> est = DepthAnythingEstimator("path/to/Depth-Anything-V2-Small-hf")  # doctest: +SKIP
        >>> disp = est.estimate(frames)  # (T, 3, H, W) -> (T, 1, H, W)  # doctest: +SKIP
    """

    def __init__(
        self,
        model: str = DEFAULT_DEPTH_MODEL,
        device: str | torch.device = "cpu",
        dtype: str | torch.dtype | None = None,
        revision: str | None = None,
        input_size: int = DEFAULT_INPUT_SIZE,
        batch_size: int = 4,
        transfer: Transfer = "linear",
    ) -> None:
        loaded = load_depth_model(model, revision=revision, device=device, dtype=dtype)
        self._setup(loaded, model, revision, input_size, batch_size, transfer)

    @classmethod
    def from_model(
        cls,
        model: PreTrainedModel,
        model_id: str = "in-memory",
        input_size: int = DEFAULT_INPUT_SIZE,
        batch_size: int = 4,
        transfer: Transfer = "linear",
    ) -> DepthAnythingEstimator:
        """Wrap an already built model (benchmarks with random weights). Device and dtype are the model's."""
        self = cls.__new__(cls)
        self._setup(model.eval(), model_id, None, input_size, batch_size, transfer)
        return self

    def _setup(
        self,
        model: PreTrainedModel,
        model_id: str,
        revision: str | None,
        input_size: int,
        batch_size: int,
        transfer: str,
    ) -> None:
        if input_size < VIT_PATCH:
            raise UsageError(f"input_size must be at least {VIT_PATCH} pixels, got {input_size}")
        if batch_size < 1:
            raise UsageError(f"batch_size must be a positive number of frames, got {batch_size}")
        if transfer not in TRANSFERS:
            raise UsageError(f"transfer must be one of {', '.join(TRANSFERS)}, got {transfer!r}")
        self.model = model
        self.model_id = model_id
        self.input_size = int(input_size)
        self.batch_size = int(batch_size)
        self.transfer = transfer
        param = next(model.parameters())
        self.device = param.device
        self.dtype = param.dtype
        self.patch = int(getattr(model.config, "patch_size", VIT_PATCH))
        self.metric = getattr(model.config, "depth_estimation_type", "relative") == "metric"
        weights = model_fingerprint(model, model_id, revision)
        self.fingerprint = f"{weights}-s{self.input_size}-{str(self.dtype).removeprefix('torch.')}-{transfer}"
        self._mean = torch.tensor(IMAGENET_MEAN, device=self.device).view(1, 3, 1, 1)
        self._std = torch.tensor(IMAGENET_STD, device=self.device).view(1, 3, 1, 1)

    def model_size(self, height: int, width: int, pixel_aspect: float = 1.0) -> tuple[int, int]:
        """Model input size for a source of ``height`` x ``width`` (display aspect kept, patch multiples).

        Args:
            height (`int`): Stored height.
            width (`int`): Stored width.
            pixel_aspect (`float`, defaults to 1.0): Sample aspect ratio (2.0 for 2:1 anamorphic):
                the model sees the picture as displayed, unsqueezed.
        """
        if not pixel_aspect > 0:
            raise UsageError(f"pixel_aspect must be positive, got {pixel_aspect!r}")
        return model_input_size(height, max(1, round(width * pixel_aspect)), self.input_size, self.patch)

    @torch.inference_mode()
    def _forward(self, batch: torch.Tensor, pixel_aspect: float) -> torch.Tensor:
        h, w = batch.shape[-2:]
        x = batch.to(self.device, torch.float32, non_blocking=True)
        if self.transfer == "linear":
            x = linear_to_srgb(x)
        x = resize_maps(x, self.model_size(h, w, pixel_aspect))
        x = x.clamp(0.0, 1.0)  # antialiased resampling may overshoot
        x = ((x - self._mean) / self._std).to(self.dtype)
        pred = self.model(pixel_values=x).predicted_depth.float()
        if pred.ndim == 3:
            pred = pred[:, None]
        if self.metric:
            pred = 1.0 / pred.clamp_min(METRIC_DEPTH_FLOOR)
        return resize_maps(pred, (h, w))

    def estimate(self, frames: np.ndarray | torch.Tensor, pixel_aspect: float = 1.0) -> np.ndarray | torch.Tensor:
        """Relative disparity for a batch of frames.

        Args:
            frames (`np.ndarray` or `torch.Tensor`): Float ``(T, 3, H, W)`` RGB, linear light (or
                sRGB-encoded with ``transfer="srgb"``), nominally in ``[0, 1]``.
            pixel_aspect (`float`, defaults to 1.0): The source's sample aspect ratio (see
                :meth:`model_size`); the result is still at the stored ``(H, W)``.

        Returns:
            `np.ndarray` or `torch.Tensor`: float32 ``(T, 1, H, W)``, numpy for numpy input, else a
            tensor on the input's device.
        """
        is_numpy = isinstance(frames, np.ndarray)
        if is_numpy:
            if not np.issubdtype(frames.dtype, np.floating):
                raise UsageError(f"frames must be floating point, got dtype {frames.dtype}")
            tensor = torch.from_numpy(np.ascontiguousarray(frames))
        elif isinstance(frames, torch.Tensor):
            if not frames.is_floating_point():
                raise UsageError(f"frames must be floating point, got dtype {frames.dtype}")
            tensor = frames
        else:
            raise UsageError(f"frames must be a numpy array or a torch tensor, got {type(frames).__name__}")
        if tensor.ndim != 4 or tensor.shape[1] != 3:
            raise UsageError(f"frames must have shape (T, 3, H, W), got {tuple(tensor.shape)}")
        step = self.batch_size
        outputs = [self._forward(tensor[i : i + step], pixel_aspect) for i in range(0, tensor.shape[0], step)]
        if outputs:
            result = torch.cat(outputs)
        else:
            result = torch.zeros((0, 1, *tensor.shape[-2:]), dtype=torch.float32)
        if is_numpy:
            return result.cpu().numpy()
        return result.to(frames.device)


__all__ = [
    "DEFAULT_DEPTH_MODEL",
    "DEFAULT_INPUT_SIZE",
    "DepthAnythingEstimator",
    "DepthEstimator",
    "load_depth_model",
    "model_fingerprint",
    "resolve_dtype",
]
