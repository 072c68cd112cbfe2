"""Scale-out of resumable renders: Ray tasks and Open Job Description templates run by `openjd run`."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from tests.batch_helpers import assert_same_render, cli_env, depth_still, here, one_torch_thread, prores_clip

DOF = ("--depth", "{depth}", "--blur", "12", "--focus", "0.5")


@pytest.fixture(autouse=True)
def _one_thread():
    with one_torch_thread():
        yield


def _clip(tmp_path: Path) -> tuple[Path, Path, list[str]]:
    src = prores_clip(tmp_path / "src.mov", frames=14, width=64, height=48)
    depth = depth_still(tmp_path / "depth.png", 64, 48)
    return src, depth, [a.format(depth=depth) for a in DOF]


def _job(tmp_path: Path, src: Path, out: Path, depth: Path) -> Path:
    job = tmp_path / "job.json"
    job.write_text(json.dumps({"schema": "bokehfx.job/1", "input": str(src), "output": str(out),
                               "depth": str(depth), "blur": "12", "focus": "0.5"}))
    return job


@pytest.mark.slow
def test_ray_local_two_cpus_renders_chunks_identical_to_a_single_process(tmp_path: Path) -> None:
    ray = pytest.importorskip("ray", reason="Ray is the optional extra bokehfx[ray]")
    from bokehfx.batch.ray_backend import RayChunks
    from bokehfx.pipeline.chunks import ResumableRender
    from bokehfx.depth.source import DepthSpec
    from bokehfx.pipeline.job import RenderRequest
    from bokehfx.pipeline.render import DofSettings, FocusRequest

    src, depth, dof = _clip(tmp_path)
    single = tmp_path / "single.mov"
    here("render", src, "-o", single, *dof, "-q")
    settings = DofSettings(focus=FocusRequest(focus="0.5", blur="12"), depth=DepthSpec(path=depth))
    job = ResumableRender(RenderRequest(src, tmp_path / "ray.mov"), settings, chunk_frames=4)
    result = job.run(map_chunks=RayChunks(num_cpus=2))
    assert not ray.is_initialized()  # the Ray started for the render is shut down again
    assert result.frames == 14
    assert_same_render(tmp_path / "ray.mov", single, lambda: here("render", src, "-o", single, *dof, "-q", "-f"))
    assert not job.work.path.exists()


def _openjd() -> str | None:
    beside = Path(sys.executable).parent / "openjd"
    return str(beside) if beside.exists() else shutil.which("openjd")


@pytest.mark.slow
def test_openjd_run_of_the_exported_template_equals_the_single_process_render(tmp_path: Path) -> None:
    openjd = _openjd()
    if openjd is None:
        pytest.skip("openjd-cli is not installed (pip install 'bokehfx[farm]')")
    src, depth, dof = _clip(tmp_path)
    single = tmp_path / "single.mov"
    here("render", src, "-o", single, *dof, "-q")
    farm = tmp_path / "farm.mov"
    job = _job(tmp_path, src, farm, depth)
    template = tmp_path / "template.yaml"
    here("export-job", job, template, "--chunk-frames", "4")
    bokehfx_command = Path(sys.executable).parent / "bokehfx"
    proc = subprocess.run([openjd, "run", str(template), "-p", f"Bokehfx={bokehfx_command}"], capture_output=True,
                          text=True, env=cli_env(), timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "openjd_progress: 100.0" in proc.stdout
    assert_same_render(farm, single, lambda: here("render", src, "-o", single, *dof, "-q", "-f"))
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["src.mov", "depth.png", "single.mov", "farm.mov", "job.json", "template.yaml"])


def test_export_job_writes_a_valid_template_with_or_without_task_chunking(tmp_path: Path) -> None:
    yaml = pytest.importorskip("yaml")
    src, depth, _ = _clip(tmp_path)
    job = _job(tmp_path, src, tmp_path / "o.mov", depth)
    here("export-job", job, tmp_path / "chunked.yaml", "--chunk-frames", "4")
    here("export-job", job, tmp_path / "plain.yaml", "--chunk-frames", "4", "--no-task-chunking")
    chunked = yaml.safe_load((tmp_path / "chunked.yaml").read_text())
    plain = yaml.safe_load((tmp_path / "plain.yaml").read_text())
    assert chunked["specificationVersion"] == "jobtemplate-2023-09" and chunked["extensions"] == ["TASK_CHUNKING"]
    assert [s["name"] for s in chunked["steps"]] == ["Prepass", "RenderChunks", "Join"]
    frame = chunked["steps"][1]["parameterSpace"]["taskParameterDefinitions"][0]
    assert (frame["type"], frame["range"], frame["chunks"]["defaultTaskCount"]) == ("CHUNK[INT]", "0-13", 4)
    plain_frame = plain["steps"][1]["parameterSpace"]["taskParameterDefinitions"][0]
    assert (plain_frame["type"], plain_frame["range"]) == ("INT", "0-13:4") and "extensions" not in plain
    assert chunked["parameterDefinitions"][0]["default"] == "job.json"  # relative to the template's folder
    model = pytest.importorskip("openjd.model")
    for name in ("chunked.yaml", "plain.yaml"):
        model.decode_job_template(template=yaml.safe_load((tmp_path / name).read_text()),
                                  supported_extensions=["TASK_CHUNKING"])


def test_render_steps_run_a_farm_job_by_hand(tmp_path: Path) -> None:
    src, depth, dof = _clip(tmp_path)
    out = tmp_path / "o.mov"
    runner = CliRunner()
    base = ["render", str(src), "-o", str(out), *dof, "--chunk-frames", "4", "-q"]
    early = runner.invoke(app, base + ["--step", "chunks:0-3"])
    assert early.exit_code == 2 and "--step prepass first" in early.output
    for step in ("prepass", "chunks:8-13", "chunks:0-7", "join"):
        result = runner.invoke(app, base + ["--step", step])
        assert result.exit_code == 0, result.output
        assert "openjd_progress: 100.0" in result.stdout
    single = tmp_path / "single.mov"
    here("render", src, "-o", single, *dof, "-q")
    assert out.read_bytes() == single.read_bytes()
    bad = runner.invoke(app, base + ["--step", "chunks:5-2"])
    assert bad.exit_code == 2
