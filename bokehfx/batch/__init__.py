"""The batch layer: watch folders, their journal, and scale-out of resumable renders on Ray and OpenJD.

It schedules jobs and never renders by itself: jobs run as ``bokehfx render`` processes, farm tasks
or Ray tasks that call the resumable renderer (:mod:`bokehfx.pipeline.chunks`).
"""
