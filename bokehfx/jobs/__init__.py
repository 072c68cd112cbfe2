"""Jobs as files: the ``bokehfx.job/1`` job file and ``--progress-json`` progress lines."""

from bokehfx.jobs.jobfile import JOB_SCHEMA, JobFile, JobFileError, keyframe_plan, parse_job, read_job, write_job
from bokehfx.jobs.progress import PROGRESS_SCHEMA, ProgressLog, read_progress

__all__ = ["JOB_SCHEMA", "PROGRESS_SCHEMA", "JobFile", "JobFileError", "ProgressLog", "keyframe_plan", "parse_job",
           "read_job", "read_progress", "write_job"]
