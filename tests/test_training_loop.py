"""The training loop of `bokehfx train` with the tiny model on CPU: stages, losses, exact resume, export."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from bokehfx.training.config import parse_config
from bokehfx.training.loop import run_training
from bokehfx.training.model import TEMPORAL_NAME_PARTS
from bokehfx.training.sources import ProceduralSource
from tests.training_helpers import one_thread  # noqa: F401  (autouse fixture)

#: A tiny, fast configuration: 16x24 frames, small blur, no validation unless asked.
TINY = """
[model]
init = "tiny"
[data]
size = [16, 24]
reference_size = [16, 24]
samples_per_epoch = 32
[data.focus]
k_range = [1.0, 6.0]
[[data.sources]]
kind = "procedural"
lights = [2, 4]
[training]
batch_size = 1
learning_rate = 2e-3
checkpoint_every = 2
keep_checkpoints = 10
log_every = 1
tensorboard = false
[validation]
every = {validate}
samples = 1
{stages}
"""
THREE_STAGES = """
[[stages]]
train = "unet"
steps = 2
frames = 2
[[stages]]
train = "temporal"
steps = 2
frames = 3
depth_augmentation = true
[[stages]]
train = "decoder"
steps = 2
frames = 2
"""


def _config(stages: str = THREE_STAGES, validate: int = 0, extra: str = ""):
    return parse_config(TINY.format(stages=stages, validate=validate) + extra)


def _losses(run: Path) -> list[float]:
    lines = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    return [r["loss"] for r in lines if r["event"] == "train"]


def _changed(a: dict, b: dict) -> set[str]:
    return {k for k in a if not torch.equal(a[k], b[k])}


def test_each_stage_trains_its_own_parameters_and_writes_a_checkpoint(tmp_path: Path) -> None:
    run = tmp_path / "run"
    result = run_training(_config(validate=4), run, device="cpu")
    assert result.steps == 6 and len(result.losses) == 6
    assert all(torch.isfinite(torch.tensor(result.losses)))
    ckpts = sorted((run / "checkpoints").iterdir())
    assert [c.name for c in ckpts] == ["step-00000002", "step-00000004", "step-00000006"]
    stages = [json.loads((c / "state.json").read_text())["stage"] for c in ckpts]
    assert stages == [0, 1, 2]
    w = [load_file(str(c / "model.safetensors")) for c in ckpts]
    temporal = _changed(w[0], w[1])
    assert temporal and all(k.startswith("unet.") and any(p in k for p in TEMPORAL_NAME_PARTS) for k in temporal)
    decoder = _changed(w[1], w[2])
    assert decoder and all(k.startswith("vae.decoder.") for k in decoder)
    records = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    validation = [r for r in records if r["event"] == "validation"]
    assert len(validation) == 1 and validation[0]["step"] == 4
    assert {"psnr", "ssim", "tc_mae", "tc_rmse", "edge_psnr"} <= set(validation[0])
    from bokehfx.diffusion.loading import load_pipeline

    pipe = load_pipeline(str(result.model_dir))
    ema = load_file(str(ckpts[-1] / "ema.safetensors"))
    first_unet = next(iter(pipe.unet.state_dict().values()))
    assert torch.equal(first_unet, ema["0"])  # the export holds the EMA weights


def test_stopping_at_3_and_resuming_to_6_repeats_the_uninterrupted_losses(tmp_path: Path) -> None:
    stages = """
[[stages]]
train = "unet"
steps = 4
frames = 2
[[stages]]
train = "temporal"
steps = 2
frames = 2
"""
    config = _config(stages)
    whole = run_training(config, tmp_path / "whole", device="cpu")
    part = run_training(config, tmp_path / "part", max_steps=3, device="cpu")
    assert part.steps == 3 and (tmp_path / "part" / "model").is_dir()  # a run that stops exports
    rest = run_training(config, tmp_path / "part", resume=True, device="cpu")
    assert rest.steps == 6 and len(rest.losses) == 3
    assert part.losses + rest.losses == whole.losses
    assert _losses(tmp_path / "part") == _losses(tmp_path / "whole")
    a = load_file(str(tmp_path / "whole" / "checkpoints" / "step-00000006" / "ema.safetensors"))
    b = load_file(str(tmp_path / "part" / "checkpoints" / "step-00000006" / "ema.safetensors"))
    assert not _changed(a, b)


def test_one_fixed_batch_loss_halves_within_ten_steps() -> None:
    from bokehfx.training.datasets import PairSynthesizer, SynthesisSpec, collate
    from bokehfx.training.loop import build_pipeline
    from bokehfx.training.model import BokehTrainModule, encode_batch
    from bokehfx.training.sampling import FocusRanges

    pipe = build_pipeline("tiny", 0)
    data = PairSynthesizer([ProceduralSource(lights=(2, 4))], [1.0],
                           SynthesisSpec(frames=2, size=(16, 24), reference_size=(16, 24),
                                         focus=FocusRanges(k_range=(2.0, 6.0))), seed=0)
    batch = collate([data[0]])
    keep = torch.ones(1, dtype=torch.bool)
    cond = encode_batch(pipe, batch, keep, keep, torch.device("cpu"), torch.float32)
    module = BokehTrainModule(pipe.unet, pipe.vae, pipe.qformer, pipe.vae.config.scaling_factor,
                              pipe.config.added_time_ids, pipe.config.one_step_timestep)
    optimizer = torch.optim.AdamW(module.select("unet"), lr=2e-3)
    gen = torch.Generator().manual_seed(0)
    losses = []
    for _ in range(10):
        loss = module(cond, "unet", "one_step", gen)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
        if losses[-1] <= losses[0] / 2:
            break
    assert losses[-1] <= losses[0] / 2, losses


def test_denoise_objective_and_decoder_loss_are_finite_and_differentiable() -> None:
    from bokehfx.training.datasets import PairSynthesizer, SynthesisSpec, collate
    from bokehfx.training.loop import build_pipeline
    from bokehfx.training.model import BokehTrainModule, encode_batch

    pipe = build_pipeline("tiny", 0)
    data = PairSynthesizer([ProceduralSource(lights=(2, 4))], [1.0],
                           SynthesisSpec(frames=2, size=(16, 24), reference_size=(16, 24)), seed=1)
    keep = torch.ones(1, dtype=torch.bool)
    cond = encode_batch(pipe, collate([data[0]]), keep, keep, torch.device("cpu"), torch.float32)
    module = BokehTrainModule(pipe.unet, pipe.vae, pipe.qformer, pipe.vae.config.scaling_factor,
                              pipe.config.added_time_ids, pipe.config.one_step_timestep)
    params = module.select("unet")
    loss = module(cond, "unet", "denoise", torch.Generator().manual_seed(0))
    loss.backward()
    assert torch.isfinite(loss) and any(p.grad is not None and p.grad.abs().sum() > 0 for p in params)
    module.zero_grad(set_to_none=True)
    params = module.select("decoder")
    loss = module(cond, "decoder", "one_step", torch.Generator(), texture_weight=1.0)
    loss.backward()
    assert torch.isfinite(loss) and any(p.grad is not None and p.grad.abs().sum() > 0 for p in params)
    assert all(p.grad is None for name, p in module.named_parameters() if not name.startswith("vae.decoder."))


def test_condition_dropout_rates() -> None:
    from bokehfx.training.model import dropout_masks

    keep_ref, keep_text = dropout_masks(200_000, torch.Generator().manual_seed(0), 0.05, 0.05, 0.05)
    drop_ref_only = (~keep_ref & keep_text).float().mean()
    drop_text_only = (keep_ref & ~keep_text).float().mean()
    drop_both = (~keep_ref & ~keep_text).float().mean()
    for rate in (drop_ref_only, drop_text_only, drop_both):
        assert abs(float(rate) - 0.05) < 0.003


def test_interrupt_saves_a_checkpoint_that_resumes(tmp_path: Path) -> None:
    config = _config("[[stages]]\ntrain = \"unet\"\nsteps = 3\nframes = 2\n")
    run = tmp_path / "run"

    def stop(step: int, total: int, loss: float, rate: float, stage: str) -> None:
        if step == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_training(config, run, device="cpu", progress=stop)
    assert (run / "checkpoints" / "step-00000001" / "state.json").is_file()
    assert not (run / "model").exists()
    rest = run_training(config, run, resume=True, device="cpu")
    assert rest.steps == 3 and len(rest.losses) == 2 and (run / "model" / "model_index.json").is_file()


def test_run_folder_rules(tmp_path: Path) -> None:
    from bokehfx.errors import OutputExistsError, UsageError

    config = _config("[[stages]]\ntrain = \"unet\"\nsteps = 1\nframes = 2\n")
    with pytest.raises(UsageError, match="no checkpoint"):
        run_training(config, tmp_path / "fresh", resume=True, device="cpu")
    run_training(config, tmp_path / "run", device="cpu")
    with pytest.raises(OutputExistsError, match="--resume"):
        run_training(config, tmp_path / "run", device="cpu")


def test_cli_trains_and_the_exported_model_renders_a_real_clip(media: Path, tmp_path: Path) -> None:
    import av
    from typer.testing import CliRunner

    from cli.main import app
    from tests.test_cli_diffusion import ramp_depth

    config = tmp_path / "tiny.toml"
    config.write_text(TINY.format(stages="[[stages]]\ntrain = \"unet\"\nsteps = 5\nframes = 2\n", validate=0))
    runner = CliRunner()
    run = tmp_path / "run"
    result = runner.invoke(app, ["train", str(config), "--output", str(run), "--max-steps", "2", "--quiet"])
    assert result.exit_code == 0, result.stderr
    assert len(_losses(run)) == 2 and (run / "model" / "model_index.json").is_file()
    depth = ramp_depth(tmp_path, 640, 360)
    out = tmp_path / "out.mov"
    result = runner.invoke(app, ["render", str(media / "mp_chaplin.mp4"), "-o", str(out), "--renderer", "diffusion",
                                 "--model", str(run / "model"), "--depth", str(depth), "--depth-kind", "disparity",
                                 "--frames", "0-3", "--prompt", "focus on the background, a small blur",
                                 "--window", "2", "--overlap", "1", "--diffusion-size", "48x32", "--quiet"])
    assert result.exit_code == 0, result.stderr
    with av.open(str(out)) as container:
        video = container.streams.video[0]
        assert (video.codec_context.width, video.codec_context.height) == (640, 360)
        assert sum(1 for _ in container.decode(video=0)) == 4


def test_ctrl_c_saves_a_checkpoint_and_exits_130(tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    repo = Path(__file__).resolve().parents[1]
    config = tmp_path / "c.toml"
    config.write_text(TINY.format(stages="[[stages]]\ntrain = \"unet\"\nsteps = 500\nframes = 2\n", validate=0)
                      .replace("checkpoint_every = 2", "checkpoint_every = 1000"))
    run = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(repo), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "cli.main", "train", str(config), "-o", str(run), "--quiet"],
                            stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
    deadline = time.monotonic() + 120
    while not ((run / "log.jsonl").is_file() and (run / "log.jsonl").read_text().strip()):
        assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read() if proc.poll() else "timeout"
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: interrupted") and "--resume" in lines[0], err
    saved = sorted((run / "checkpoints").iterdir())
    assert len(saved) == 1 and int(saved[0].name.split("-")[1]) >= 1
    assert not (run / "model").exists()


def test_gradient_checkpointing_and_accumulation_train(tmp_path: Path) -> None:
    config = _config("[[stages]]\ntrain = \"unet\"\nsteps = 1\nframes = 2\n[[stages]]\ntrain = \"decoder\"\n"
                     "steps = 1\nframes = 2\n")
    import dataclasses

    config = dataclasses.replace(config, training=dataclasses.replace(
        config.training, gradient_checkpointing=True, gradient_accumulation_steps=2, objective="denoise"))
    result = run_training(config, tmp_path / "run", device="cpu")
    assert result.steps == 2 and all(torch.isfinite(torch.tensor(result.losses)))


def test_a_model_folder_of_another_variant_trains(tmp_path: Path) -> None:
    """Start from a saved model folder of the per-frame-context, CoC-image variant (no text encoder,
    no reference branch): the loop follows the model's configuration."""
    from tests.test_diffusion_models import frame_context_variant

    folder = tmp_path / "variant"
    frame_context_variant().save_pretrained(folder)
    config = _config("[[stages]]\ntrain = \"unet\"\nsteps = 2\nframes = 2\n")
    import dataclasses

    config = dataclasses.replace(config, model=dataclasses.replace(config.model, init=str(folder)))
    result = run_training(config, tmp_path / "run", device="cpu")
    assert result.steps == 2 and all(torch.isfinite(torch.tensor(result.losses)))
    from bokehfx.diffusion.loading import load_pipeline

    assert list(load_pipeline(str(result.model_dir)).unet.config.latent_inputs) == ["sample", "coc_image"]
