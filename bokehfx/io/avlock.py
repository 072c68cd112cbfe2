"""One lock between FFmpeg logging into Python and FFmpeg clean-ups that wait for codec threads.

FFmpeg logs into Python only inside :func:`bokehfx.io.streams._trial` (a muxer's refusal is read
from its log). Meanwhile a codec thread that logs needs the GIL. Closing a decoder waits for its
codec threads while holding the GIL (PyAV frees codec contexts in a deallocator). On two Python
threads at once (a render's decode thread finishing a short clip while the main thread opens the
output), that deadlocks: the closing thread holds the GIL and waits for a codec thread that waits
for the GIL. Both take :data:`FFMPEG_LOGGING`, so they never overlap.
"""

from __future__ import annotations

import threading

#: Held while FFmpeg logs into Python, and while a decoder is closed. Re-entrant: the trial collects
#: garbage under it (before logging starts), which may close an abandoned decoder on the same thread.
FFMPEG_LOGGING = threading.RLock()
