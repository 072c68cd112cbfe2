"""OpenTimelineIO ingestion (one render job per clip, each with its focus plan) and relinking.

See :mod:`bokehfx.timeline.ingest` (reading), :mod:`bokehfx.timeline.schema` (the
``bokehfx.focus/1`` metadata schema) and :mod:`bokehfx.timeline.relink` (writing the timeline that
points at the rendered media). OpenTimelineIO is imported only when a function needs it.
"""

from bokehfx.timeline.ingest import ClipJob, ImageSequence, TimelineJobs, clip_jobs, load_timeline, read_timeline
from bokehfx.timeline.relink import relinked_name, write_relinked

__all__ = ["ClipJob", "ImageSequence", "TimelineJobs", "clip_jobs", "load_timeline", "read_timeline",
           "relinked_name", "write_relinked"]
