"""The training loop of ``bokehfx train``: progressive stages with accelerate, exact resume, export.

One run folder ``DIR`` holds ``config.toml`` (the configuration as given), ``log.jsonl`` (one JSON
object per logged step and per validation), ``checkpoints/step-NNNNNNNN/`` (see
:mod:`bokehfx.training.checkpoint`), TensorBoard events under ``tensorboard/`` when TensorBoard is
installed, and, when the run ends, ``model/``: the pipeline folder (EMA weights when EMA is on)
that ``bokehfx render --renderer diffusion --model DIR/model`` loads.

Exactness: sample ``i`` of a stage depends only on the data seed and ``i``, every random draw of
a micro-batch (condition dropout, noise levels) comes from a generator seeded by its position
(step, micro-batch, process), and a checkpoint restores weights, EMA, optimizer, learning-rate
scheduler and RNG states; a run stopped after step 3 and resumed therefore repeats the losses of
an uninterrupted run bit for bit (on the same machine and software).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import torch

from bokehfx.errors import OutputExistsError, UsageError
from bokehfx.training.checkpoint import (CHECKPOINTS, latest_checkpoint, load_training_state, load_weights,
                                         read_state, save_checkpoint)
from bokehfx.training.config import TrainConfig

#: Progress callback: ``(step, total_steps, loss, steps_per_second, stage_name)``.
TrainProgress = Callable[[int, int, float, float, str], None]
MODEL_DIRNAME = "model"
#: What the endless index sampler reports as its length (the loop runs by steps, not epochs).
ENDLESS = 2**62
LOG_NAME = "log.jsonl"


@dataclass
class TrainResult:
    """What a run did: optimizer steps done, their losses (this session's), the exported model."""

    steps: int
    losses: list[float] = field(default_factory=list)
    model_dir: Path | None = None
    interrupted: bool = False

    @property
    def last_loss(self) -> float:
        """The loss of the last step of this session (NaN when none ran)."""
        return self.losses[-1] if self.losses else float("nan")


class RunLog:
    """JSON lines in ``DIR/log.jsonl``, mirrored to TensorBoard when it is installed."""

    def __init__(self, run_dir: Path, tensorboard: bool, enabled: bool) -> None:
        self.enabled = enabled
        self.path = run_dir / LOG_NAME
        self.writer = None
        if enabled and tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                SummaryWriter = None  # noqa: N806  (TensorBoard is optional)
            if SummaryWriter is not None:
                self.writer = SummaryWriter(str(run_dir / "tensorboard"))

    def write(self, record: dict[str, Any]) -> None:
        if not self.enabled:
            return
        with open(self.path, "a") as fh:
            fh.write(json.dumps(record) + "\n")
        if self.writer is not None:
            for key, value in record.items():
                if isinstance(value, (int, float)) and key != "step":
                    self.writer.add_scalar(f"{record.get('event', 'train')}/{key}", value, record["step"])

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def build_pipeline(init: str, seed: int):
    """The pipeline a run starts from: ``tiny`` (a random tiny model), or a model folder or hub id."""
    from transformers.utils import logging as hf_logging

    from bokehfx.diffusion.loading import build_tiny_pipeline, load_pipeline

    hf_logging.set_verbosity_error()  # library notes (e.g. a slower image processor) are not the user's business
    if init == "tiny":
        return build_tiny_pipeline(seed)
    return load_pipeline(init)


class _Indices(torch.utils.data.Sampler):
    """Sample indices of one process from a stage step on: micro-batch ``m`` of step ``s`` takes
    ``((s * accum + m) * world + rank) * batch + j``."""

    def __init__(self, first_step: int, batch: int, accum: int, rank: int, world: int) -> None:
        self.first_step, self.batch, self.accum, self.rank, self.world = first_step, batch, accum, rank, world

    def __iter__(self) -> Iterator[int]:
        step = self.first_step
        while True:
            for micro in range(self.accum):
                base = ((step * self.accum + micro) * self.world + self.rank) * self.batch
                yield from range(base, base + self.batch)
            step += 1

    def __len__(self) -> int:
        return ENDLESS


def _ema_parameters(module) -> list[torch.nn.Parameter]:
    params = list(module.unet.parameters()) + list(module.vae.decoder.parameters())
    if module.qformer is not None:
        params += list(module.qformer.parameters())
    return params


def _check_run_dir(run_dir: Path, resume: bool) -> Path | None:
    latest = latest_checkpoint(run_dir)
    if resume and latest is None:
        raise UsageError(f"--resume: {str(run_dir)!r} holds no checkpoint to resume from")
    if not resume and (run_dir / CHECKPOINTS).exists():
        raise OutputExistsError(f"{str(run_dir)!r} already holds a training run; pass --resume to continue it "
                                "or choose another --output")
    return latest


def _export(pipe, module, ema, run_dir: Path) -> Path:
    from diffusers.utils import logging as diffusers_logging
    from huggingface_hub.utils import disable_progress_bars
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    diffusers_logging.disable_progress_bar()
    disable_progress_bars()
    final = run_dir / MODEL_DIRNAME
    tmp = Path(tempfile.mkdtemp(prefix=".model.", dir=run_dir))
    params = _ema_parameters(module) if ema is not None else []
    try:
        if ema is not None:
            ema.store(params)
            ema.copy_to(params)
        pipe.save_pretrained(str(tmp))
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    finally:
        if ema is not None:
            ema.restore(params)
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return final


def run_training(config: TrainConfig, run_dir: Path, *, max_steps: int | None = None, resume: bool = False,
                 device: str | None = None, progress: TrainProgress | None = None) -> TrainResult:
    r"""Train (or resume) a run in ``run_dir``; export ``run_dir/model`` when the run ends.

    Args:
        config (`TrainConfig`): the validated configuration.
        run_dir (`Path`): the run folder.
        max_steps (`int`, *optional*): stop after this many optimizer steps in total.
        resume (`bool`): continue from the latest checkpoint in ``run_dir``.
        device (`str`, *optional*): ``"cpu"`` forces the CPU; otherwise accelerate decides.
        progress (`TrainProgress`, *optional*): called after every step.

    Returns:
        `TrainResult`

    Raises:
        KeyboardInterrupt (or any other ``BaseException``): after saving a checkpoint of the
            steps done, so that ``--resume`` continues from there.
    """
    from accelerate import Accelerator
    from diffusers.optimization import get_scheduler
    from diffusers.training_utils import EMAModel

    from bokehfx.training.build import stage_dataset
    from bokehfx.training.datasets import collate
    from bokehfx.training.model import BokehTrainModule, check_size, dropout_masks, encode_batch, step_generator

    if device not in (None, "cpu", "cuda", "auto"):
        raise UsageError(f"--device must be cpu, cuda or auto for training (choose GPUs with CUDA_VISIBLE_DEVICES "
                         f"or accelerate launch), got {device!r}")
    run_dir = Path(run_dir)
    latest = _check_run_dir(run_dir, resume)
    t = config.training
    if t.mixed_precision == "fp16" and (device == "cpu" or not torch.cuda.is_available()):
        raise UsageError("config: training.mixed_precision: fp16 needs a CUDA GPU; use bf16 or no on a CPU")
    accelerator = Accelerator(mixed_precision=t.mixed_precision, cpu=device == "cpu")
    torch.manual_seed(t.seed)
    pipe = build_pipeline(config.model.init, t.seed)
    check_size(pipe, config.data.size)
    pipe.to(accelerator.device)
    module = BokehTrainModule(pipe.unet, pipe.vae, pipe.qformer, pipe.vae.config.scaling_factor,
                              pipe.config.added_time_ids, pipe.config.one_step_timestep)
    if t.gradient_checkpointing:
        for part in (pipe.unet, pipe.vae):
            if getattr(part, "_supports_gradient_checkpointing", False):
                part.enable_gradient_checkpointing()
    step, state = 0, None
    if latest is not None:
        load_weights(latest, module)
        state = read_state(latest)
        step = int(state["step"])
    ema = EMAModel(_ema_parameters(module), decay=t.ema_decay) if t.ema else None
    end = min(config.total_steps, max_steps) if max_steps else config.total_steps
    main = accelerator.is_main_process
    if main:
        run_dir.mkdir(parents=True, exist_ok=True)
        if config.source_text:
            (run_dir / "config.toml").write_text(config.source_text)
    log = RunLog(run_dir, t.tensorboard, main)
    result = TrainResult(steps=step)
    rank, world = accelerator.process_index, accelerator.num_processes
    optimizer = scheduler = None
    opt_stage = opt_first = 0
    saved_at = step if latest is not None else -1
    started = time.perf_counter()
    done_here = 0
    try:
        while step < end:
            stage_index, stage, first = config.stage_at(step)
            stage_end = min(first + stage.steps, end)
            params = module.select(stage.train)
            optimizer = torch.optim.AdamW(params, lr=stage.learning_rate or t.learning_rate,
                                          betas=(t.adam_beta1, t.adam_beta2), weight_decay=t.adam_weight_decay,
                                          eps=t.adam_epsilon)
            scheduler = get_scheduler(t.lr_scheduler, optimizer, num_warmup_steps=t.lr_warmup_steps,
                                      num_training_steps=stage.steps)
            opt_stage, opt_first = stage_index, first
            if state is not None:
                same_stage = state.get("stage") == stage_index
                load_training_state(latest, optimizer if same_stage else None, scheduler if same_stage else None, ema)
                state = None
            wrapped, opt = accelerator.prepare(module, optimizer)
            dataset = stage_dataset(config.data, stage, seed_offset=stage_index)
            sampler = _Indices(step - first, t.batch_size, t.gradient_accumulation_steps, rank, world)
            loader = torch.utils.data.DataLoader(dataset, batch_size=t.batch_size, sampler=sampler, collate_fn=collate,
                                                 num_workers=config.data.num_workers)
            batches = iter(loader)
            while step < stage_end:
                total = torch.zeros((), device=accelerator.device)
                for micro in range(t.gradient_accumulation_steps):
                    batch = next(batches)
                    gen = step_generator(t.seed, step, micro, rank)
                    keep_ref, keep_text = dropout_masks(t.batch_size, gen, t.dropout_reference, t.dropout_text,
                                                        t.dropout_both)
                    cond = encode_batch(pipe, batch, keep_ref, keep_text, accelerator.device, torch.float32)
                    last = micro == t.gradient_accumulation_steps - 1
                    with (nullcontext() if last else accelerator.no_sync(wrapped)):
                        with accelerator.autocast():
                            loss = wrapped(cond, stage.train, t.objective, gen, stage.texture_weight)
                        accelerator.backward(loss / t.gradient_accumulation_steps)
                    total += loss.detach().float() / t.gradient_accumulation_steps
                if t.max_grad_norm > 0:
                    accelerator.clip_grad_norm_(params, t.max_grad_norm)
                opt.step()
                scheduler.step()
                opt.zero_grad(set_to_none=True)
                if ema is not None:
                    ema.step(_ema_parameters(module))
                step += 1
                done_here += 1
                value = float(accelerator.reduce(total, "mean"))
                result.losses.append(value)
                result.steps = step
                rate = done_here / max(time.perf_counter() - started, 1e-9)
                name = stage.name or stage.train
                if step % t.log_every == 0 or step == end:
                    log.write({"event": "train", "step": step, "stage": name, "loss": value,
                               "lr": scheduler.get_last_lr()[0], "steps_per_s": rate})
                if progress is not None:
                    progress(step, end, value, rate, name)
                if step % t.checkpoint_every == 0 or step == end:
                    _checkpoint(accelerator, run_dir, step, module, optimizer, scheduler, ema, stage_index, first,
                                t.keep_checkpoints)
                    saved_at = step
                if config.validation.every and step % config.validation.every == 0 and main:
                    from bokehfx.training.validation import validate

                    log.write({"event": "validation", "step": step, **validate(pipe, config, stage)})
        if main:
            result.model_dir = _export(pipe, module, ema, run_dir)
        accelerator.wait_for_everyone()
    except BaseException:
        if optimizer is not None and saved_at != step:
            _checkpoint(accelerator, run_dir, step, module, optimizer, scheduler, ema, opt_stage, opt_first,
                        t.keep_checkpoints)
        raise
    finally:
        log.close()
    return result


def _checkpoint(accelerator, run_dir: Path, step: int, module, optimizer, scheduler, ema, stage_index: int,
                stage_first: int, keep: int) -> None:
    t = accelerator.num_processes
    if accelerator.is_main_process:
        save_checkpoint(run_dir, step, module, optimizer, scheduler, ema,
                        {"stage": stage_index, "stage_first_step": stage_first,
                         "data_position": step - stage_first, "processes": t}, keep)
    accelerator.wait_for_everyone()


__all__ = ["RunLog", "TrainResult", "build_pipeline", "run_training"]
