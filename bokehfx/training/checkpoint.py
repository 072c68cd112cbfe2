"""Checkpoints of a training run: safetensors and JSON only, complete enough to resume exactly.

A checkpoint is a folder ``DIR/checkpoints/step-NNNNNNNN/`` holding:

- ``model.safetensors``: the trainable module's weights (UNet, Q-Former, VAE);
- ``ema.safetensors``: the EMA weights (one tensor per trained parameter, in order);
- ``optimizer.safetensors``: AdamW's per-parameter state (the stage's parameters, in order);
- ``rng.safetensors``: torch's CPU and CUDA generator states;
- ``state.json``: the step, the stage, the data position, the learning-rate scheduler, the
  optimizer's parameter groups, EMA counters, Python's and NumPy's RNG states.

It is written into a hidden temporary folder and renamed into place, so a checkpoint either exists
complete or not at all; older ones beyond ``keep`` are deleted.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from bokehfx.errors import CorruptMediaError, InputNotFoundError

CHECKPOINTS = "checkpoints"
PREFIX = "step-"
STATE = "state.json"


def checkpoint_dir(run_dir: Path, step: int) -> Path:
    """Folder of the checkpoint after optimizer step ``step``."""
    return Path(run_dir) / CHECKPOINTS / f"{PREFIX}{step:08d}"


def latest_checkpoint(run_dir: Path) -> Path | None:
    """The complete checkpoint of the latest step in ``run_dir``, or None."""
    root = Path(run_dir) / CHECKPOINTS
    if not root.is_dir():
        return None
    done = sorted(p for p in root.iterdir() if p.name.startswith(PREFIX) and (p / STATE).is_file())
    return done[-1] if done else None


def _rng_state() -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    tensors = {"torch_cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        for i, state in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"torch_cuda_{i}"] = state
    py = random.getstate()
    np_state = np.random.get_state()
    plain = {"python": [py[0], list(py[1]), py[2]],
             "numpy": [np_state[0], np_state[1].tolist(), int(np_state[2]), int(np_state[3]), float(np_state[4])]}
    return tensors, plain


def _set_rng_state(tensors: dict[str, torch.Tensor], plain: dict[str, Any]) -> None:
    torch.set_rng_state(tensors["torch_cpu"])
    cuda = [tensors[k] for k in sorted(tensors) if k.startswith("torch_cuda_")]
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda[: torch.cuda.device_count()])
    version, state, gauss = plain["python"]
    random.setstate((version, tuple(state), gauss))
    name, keys, pos, has_gauss, cached = plain["numpy"]
    np.random.set_state((name, np.array(keys, dtype=np.uint32), pos, has_gauss, cached))


def _optimizer_tensors(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], list[dict]]:
    state = optimizer.state_dict()
    tensors = {}
    for index, per_param in state["state"].items():
        for name, value in per_param.items():
            tensors[f"{index}.{name}"] = value if isinstance(value, torch.Tensor) else torch.tensor(value)
    return tensors, state["param_groups"]


def save_checkpoint(run_dir: Path, step: int, module: torch.nn.Module, optimizer: torch.optim.Optimizer,
                    scheduler: Any, ema: Any | None, state: dict[str, Any], keep: int) -> Path:
    r"""Write the checkpoint of ``step`` (see the module docstring) and prune old ones.

    Args:
        run_dir (`Path`): the run folder.
        step (`int`): optimizer steps done.
        module (`nn.Module`): the trainable module (unwrapped).
        optimizer (`Optimizer`): the stage's optimizer (unwrapped).
        scheduler: its learning-rate scheduler (``state_dict`` / ``load_state_dict``).
        ema (`EMAModel`, *optional*): the EMA weights.
        state (`dict`): JSON-friendly run state (stage, data position, losses, ...).
        keep (`int`): checkpoints kept (the newest).

    Returns:
        `Path`: the checkpoint folder.
    """
    final = checkpoint_dir(run_dir, step)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=final.parent))
    try:
        weights = {k: v.detach().cpu().contiguous().clone() for k, v in module.state_dict().items()}
        save_file(weights, str(tmp / "model.safetensors"))
        opt_tensors, groups = _optimizer_tensors(optimizer)
        save_file({k: v.detach().cpu().contiguous() for k, v in opt_tensors.items()},
                  str(tmp / "optimizer.safetensors"))
        rng_tensors, rng_plain = _rng_state()
        save_file(rng_tensors, str(tmp / "rng.safetensors"))
        ema_meta = None
        if ema is not None:
            ema_state = ema.state_dict()
            shadow = ema_state.pop("shadow_params")
            save_file({f"{i}": p.detach().cpu().contiguous() for i, p in enumerate(shadow)},
                      str(tmp / "ema.safetensors"))
            ema_meta = {k: v for k, v in ema_state.items() if isinstance(v, (int, float, bool, str)) or v is None}
        full = {**state, "step": step, "param_groups": groups, "lr_scheduler": scheduler.state_dict(),
                "ema": ema_meta, "rng": rng_plain}
        (tmp / STATE).write_text(json.dumps(full, indent=1, default=_json_default))
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    done = sorted(p for p in final.parent.iterdir() if p.name.startswith(PREFIX))
    for old in done[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def _json_default(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.tolist()
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON-serializable")


def read_state(folder: Path) -> dict[str, Any]:
    """The ``state.json`` of a checkpoint."""
    try:
        return json.loads((Path(folder) / STATE).read_text())
    except (OSError, ValueError) as err:
        raise CorruptMediaError(f"checkpoint {str(folder)!r} is unreadable: {err}") from None


def load_weights(folder: Path, module: torch.nn.Module) -> None:
    """Copy a checkpoint's weights into ``module`` (in place, into its own memory)."""
    path = Path(folder) / "model.safetensors"
    if not path.is_file():
        raise InputNotFoundError(f"checkpoint {str(folder)!r} has no model.safetensors")
    weights = load_file(str(path))
    own = module.state_dict()
    missing = sorted(set(own) - set(weights))
    if missing:
        raise CorruptMediaError(f"checkpoint {str(folder)!r} does not fit this model (missing {missing[0]})")
    with torch.no_grad():
        for name, value in own.items():
            value.copy_(weights[name])


def load_training_state(folder: Path, optimizer: torch.optim.Optimizer | None, scheduler: Any | None,
                        ema: Any | None) -> dict[str, Any]:
    """Restore the EMA and RNG states of a checkpoint, and its optimizer and scheduler states when
    given (a checkpoint taken at the end of a stage is resumed with the next stage's fresh ones)."""
    folder = Path(folder)
    state = read_state(folder)
    if optimizer is not None:
        tensors = load_file(str(folder / "optimizer.safetensors"))
        per_param: dict[int, dict[str, torch.Tensor]] = {}
        for key, value in tensors.items():
            index, name = key.split(".", 1)
            per_param.setdefault(int(index), {})[name] = value
        optimizer.load_state_dict({"state": per_param, "param_groups": state["param_groups"]})
    if scheduler is not None:
        scheduler.load_state_dict(state["lr_scheduler"])
    if ema is not None and (folder / "ema.safetensors").is_file():
        shadow = load_file(str(folder / "ema.safetensors"))
        ema_state = {**(state.get("ema") or {}), "shadow_params": [shadow[str(i)] for i in range(len(shadow))]}
        device = ema.shadow_params[0].device if ema.shadow_params else torch.device("cpu")
        ema.load_state_dict(ema_state)
        ema.to(device)
    _set_rng_state(load_file(str(folder / "rng.safetensors")), state["rng"])
    return state


__all__ = ["checkpoint_dir", "latest_checkpoint", "load_training_state", "load_weights", "read_state",
           "save_checkpoint"]
