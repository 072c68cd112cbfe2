"""Scale-out on Ray: the chunks of a resumable render run as Ray tasks; the caller joins them.

``bokehfx render ... --backend ray [--address ADDR]`` runs the pre-pass where it is started, sends
every pending chunk to the cluster as one task (``num_gpus=1`` per task when the render runs on
CUDA, so Ray places chunks on GPU workers), waits, and joins by remuxing. The work folder beside the
output must be on storage every worker sees (a shared file system), as with any render farm.

The physical engine renders each frame on its own, so chunks need no overlap; the stored pre-pass
(:mod:`bokehfx.pipeline.chunks`) keeps focus, blur and depth normalization the same across them.
Ray is an optional extra: ``pip install bokehfx[ray]``.
"""

from __future__ import annotations

import os
from typing import Any, Sequence

from bokehfx.errors import BokehfxError, UsageError

#: Environment variables handed to Ray workers so they import the same bokehfx with the same threads.
PASSED_ENV = ("PYTHONPATH", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "HF_HUB_OFFLINE", "HF_HOME")
#: CPUs one chunk task asks of Ray.
CPUS_PER_TASK = 1


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise UsageError("--backend ray needs Ray: pip install 'bokehfx[ray]'") from None
    return ray


def _render_chunk(job: Any, prep: Any, index: int) -> int:
    """One Ray task: render chunk ``index`` of ``job`` (a :class:`ResumableRender`) into its work folder."""
    return job.render_chunk(prep, index)


class RayChunks:
    """A chunk mapper for :meth:`bokehfx.pipeline.chunks.ResumableRender.run` that uses Ray.

    Args:
        address: a running cluster (``host:port`` or ``auto``); ``None`` starts Ray on this machine.
        device: the render's device; ``cuda...`` asks one GPU per task.
        num_cpus: CPUs of a Ray started here (``None``: all of them).
    """

    def __init__(self, address: str | None = None, device: str = "cpu", num_cpus: int | None = None) -> None:
        self.address = address
        self.device = device
        self.num_cpus = num_cpus

    def __call__(self, job: Any, pending: Sequence[int]) -> None:
        if not pending:
            return
        ray = _ray()
        started_here = not ray.is_initialized()
        if started_here:
            env = {k: os.environ[k] for k in PASSED_ENV if k in os.environ}
            kwargs: dict[str, Any] = {"address": self.address, "runtime_env": {"env_vars": env},
                                      "log_to_driver": False, "logging_level": "ERROR"}
            if self.address is None:
                kwargs.update(num_cpus=self.num_cpus, include_dashboard=False)
            ray.init(**kwargs)
        try:
            gpus = 1 if self.device.startswith("cuda") else 0
            task = ray.remote(num_cpus=CPUS_PER_TASK, num_gpus=gpus, max_retries=2)(_render_chunk)
            prep = job.stored()
            refs = [task.remote(job, prep, index) for index in pending]
            try:
                ray.get(refs)
            except ray.exceptions.RayTaskError as err:
                cause = getattr(err, "cause", None)
                if isinstance(cause, BokehfxError):
                    raise cause from None
                raise
        finally:
            if started_here:
                ray.shutdown()


__all__ = ["RayChunks"]
