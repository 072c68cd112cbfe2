"""Scale-out on render farms that run Open Job Description (AWS Deadline Cloud and others).

:func:`job_template` describes one resumable render as a ``jobtemplate-2023-09`` template with three
steps, each a ``bokehfx render --job JOB.json --step ...`` command:

1. ``Prepass``: the clip-wide pre-pass (frame range, focus and blur of every frame).
2. ``RenderChunks``: one task per chunk over a ``Frame`` parameter. With the ``TASK_CHUNKING``
   extension the parameter is ``CHUNK[INT]`` over the frame range, in contiguous chunks of
   ``chunk_frames`` frames (the scheduler may hand a task several; it renders every chunk starting
   in its range); without it, ``INT`` over the first frame of every chunk.
3. ``Join``: remuxes the chunks into the output.

Tasks report progress with ``openjd_progress:`` lines. The work folder beside the output must be
on storage every worker sees, as the input and the job file must.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

#: The Open Job Description template schema written.
SPECIFICATION = "jobtemplate-2023-09"
TASK_CHUNKING = "TASK_CHUNKING"


def job_template(job_file: Path, first: int, stop: int, chunk_frames: int, *, name: str,
                 task_chunking: bool = True) -> dict[str, Any]:
    """The template (a plain dict, ready for YAML or JSON) of one resumable render.

    Args:
        job_file: the ``bokehfx.job/1`` file, relative to the template's folder (Open Job Description
            joins a default path to the template's directory).
        first, stop: frames ``[first, stop)`` of the render (see ``bokehfx.pipeline.chunks.frame_span``).
        chunk_frames: frames per chunk.
        name: the job's name on the farm.
        task_chunking: use the ``TASK_CHUNKING`` extension (``CHUNK[INT]`` frame ranges).
    """
    def render(*step: str) -> dict[str, Any]:
        return {"actions": {"onRun": {
            "command": "{{Param.Bokehfx}}",
            "args": ["render", "--job", "{{Param.JobFile}}", "--chunk-frames", str(chunk_frames), "--quiet",
                     "--step", *step]}}}

    last = stop - 1
    if task_chunking:
        frame = {"name": "Frame", "type": "CHUNK[INT]", "range": f"{first}-{last}",
                 "chunks": {"defaultTaskCount": chunk_frames, "rangeConstraint": "CONTIGUOUS"}}
    else:
        frame = {"name": "Frame", "type": "INT", "range": f"{first}-{last}:{chunk_frames}"}
    chunk_step = "chunks:{{Task.Param.Frame}}" if task_chunking else "chunks:{{Task.Param.Frame}}-{{Task.Param.Frame}}"
    template: dict[str, Any] = {
        "specificationVersion": SPECIFICATION,
        "name": name,
        "parameterDefinitions": [
            {"name": "JobFile", "type": "PATH", "objectType": "FILE", "dataFlow": "IN", "default": str(job_file),
             "description": "The bokehfx.job/1 file of the render."},
            {"name": "Bokehfx", "type": "STRING", "default": "bokehfx",
             "description": "The bokehfx command on the workers."},
        ],
        "steps": [
            {"name": "Prepass", "script": render("prepass")},
            {"name": "RenderChunks", "dependencies": [{"dependsOn": "Prepass"}],
             "parameterSpace": {"taskParameterDefinitions": [frame]}, "script": render(chunk_step)},
            {"name": "Join", "dependencies": [{"dependsOn": "RenderChunks"}], "script": render("join")},
        ],
    }
    if task_chunking:
        template["extensions"] = [TASK_CHUNKING]
    return template


def write_template(path: Path, template: dict[str, Any]) -> Path:
    """Write ``template`` as YAML (``.yaml``/``.yml``) or JSON, atomically."""
    import json

    from bokehfx.io.workdir import write_atomic

    if path.suffix.lower() in (".yaml", ".yml"):
        import yaml

        text = yaml.safe_dump(template, sort_keys=False, width=120)
    else:
        text = json.dumps(template, indent=2) + "\n"
    write_atomic(path, text.encode())
    return path


__all__ = ["SPECIFICATION", "job_template", "write_template"]
