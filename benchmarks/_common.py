"""Shared helpers for the benchmark scripts: machine description, synthetic clips, statistics.

Nothing here is part of the package; the scripts import it as a sibling module
(``python benchmarks/bench_x.py`` puts ``benchmarks/`` on ``sys.path``).
"""

from __future__ import annotations

import os
import platform
import statistics
import sys
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

#: Audio sample rate of the synthetic clips (Hz).
AUDIO_RATE = 48_000
#: Samples per AAC frame (fixed by the codec).
AAC_FRAME_SAMPLES = 1024
#: Pitch of the synthetic audio tone (Hz).
AUDIO_TONE_HZ = 440.0
#: Peak amplitude of the synthetic audio tone (full scale = 1).
AUDIO_AMPLITUDE = 0.2
#: x264 quality of the synthetic sources: visually clean so that the decoder does real work.
SOURCE_CRF = 18
#: x264 speed of the synthetic sources (generation time is not what is measured).
SOURCE_PRESET = "veryfast"
#: Real RGB-D frames (colour JPEGs, 16-bit depth PNGs in mm) beside the repository.
REDWOOD = Path(__file__).resolve().parents[2] / "shared" / "rgbd" / "redwood_seq"
#: Seed of the fixed texture pattern, so every run encodes the same pictures.
TEXTURE_SEED = 1234
#: Peak-to-peak amplitude of the texture, in 8-bit code values.
TEXTURE_AMPLITUDE = 20.0
#: Size of one square of the scrolling checker patch (hard edges and fine detail), in pixels at 1080p.
CHECKER_SQUARE_1080P = 24


def machine_banner() -> str:
    """One line naming the machine, its load and the library versions the figures depend on."""
    load = "n/a"
    if hasattr(os, "getloadavg"):
        load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return (f"machine: {platform.machine()} {platform.system()}, {os.cpu_count()} CPU(s), load average {load}; "
            f"python {platform.python_version()}, PyAV {av.__version__}, numpy {np.__version__}, "
            f"FFmpeg libavcodec {_libavcodec_version()}")


def _libavcodec_version() -> str:
    versions = getattr(av, "library_versions", {})
    v = versions.get("libavcodec")
    return ".".join(str(x) for x in v) if v else "unknown"


def median(values: list[float]) -> float:
    """Median of a non-empty list."""
    return statistics.median(values)


class SyntheticScene:
    """Natural-looking moving content: smooth gradients, drifting soft shapes and a mild texture.

    Not random noise: codecs see the kind of smooth regions, edges and fine detail footage has,
    so encode/decode costs are representative. Frame ``i`` is a pure function of ``i``.

    Args:
        width: picture width in pixels.
        height: picture height in pixels.
    """

    def __init__(self, width: int, height: int) -> None:
        self.width = width
        self.height = height
        y, x = np.mgrid[0:height, 0:width].astype(np.float32)
        self._x = x / max(width - 1, 1)
        self._y = y / max(height - 1, 1)
        rng = np.random.default_rng(TEXTURE_SEED)
        # Mild texture: noise smoothed by a small box filter, tiled twice as wide so it can drift.
        raw = rng.standard_normal((height, 2 * width)).astype(np.float32)
        for axis in (0, 1):
            raw = (raw + np.roll(raw, 1, axis) + np.roll(raw, -1, axis)) / 3.0
        self._texture = raw / (np.abs(raw).max() + 1e-6) * (TEXTURE_AMPLITUDE / 2.0)

    def frame(self, i: int) -> np.ndarray:
        """RGB ``uint8`` picture ``(height, width, 3)`` of frame ``i``."""
        t = i / 24.0
        x, y = self._x, self._y
        img = np.empty((self.height, self.width, 3), np.float32)
        # Sky-to-ground gradient with a slow colour drift.
        img[..., 0] = 60 + 120 * y + 20 * np.sin(t * 0.7)
        img[..., 1] = 90 + 80 * (1 - y) + 40 * x
        img[..., 2] = 170 - 90 * y + 20 * np.cos(t * 0.5)
        aspect = self.width / self.height
        shapes = (
            (0.3 + 0.2 * np.sin(t), 0.5 + 0.2 * np.cos(0.8 * t), 0.12, (230.0, 200.0, 60.0)),
            (0.7 + 0.15 * np.cos(1.3 * t), 0.4 + 0.25 * np.sin(0.6 * t), 0.08, (40.0, 60.0, 200.0)),
            ((0.1 * t) % 1.2 - 0.1, 0.75, 0.1, (200.0, 70.0, 70.0)),
        )
        for cx, cy, r, colour in shapes:
            d = np.sqrt(((x - cx) * aspect) ** 2 + (y - cy) ** 2)
            cover = np.clip((r - d) / (0.01 * r + 1e-3) * 0.5 + 0.5, 0.0, 1.0)[..., None]
            img = img * (1 - cover) + np.asarray(colour, np.float32) * cover
        # A scrolling checker patch in the lower right: hard edges like architecture or text.
        square = max(2, CHECKER_SQUARE_1080P * self.height // 1080)
        y0, y1 = int(0.55 * self.height), int(0.9 * self.height)
        x0, x1 = int(0.6 * self.width), int(0.95 * self.width)
        yy, xx = np.mgrid[y0:y1, x0:x1]
        checker = (((xx + 2 * i) // square + yy // square) % 2).astype(np.float32)
        img[y0:y1, x0:x1] = img[y0:y1, x0:x1] * 0.6 + (checker * 80.0 + 20.0)[..., None]
        shift = (i * 3) % self.width
        img += self._texture[:, shift:shift + self.width, None]
        return np.clip(img + 0.5, 0, 255).astype(np.uint8)


def add_h264_video(out: av.container.OutputContainer, width: int, height: int, fps: int) -> av.VideoStream:
    """The benchmarks' source video stream in ``out``: H.264 yuv420p, video range, BT.709 tags."""
    video = out.add_stream("libx264", rate=fps, options={"crf": str(SOURCE_CRF), "preset": SOURCE_PRESET})
    video.width, video.height, video.pix_fmt = width, height, "yuv420p"
    cc = video.codec_context
    cc.color_primaries, cc.color_trc, cc.colorspace, cc.color_range = 1, 1, 1, 1
    return video


def write_synthetic_clip(path: Path, width: int, height: int, frames: int, *, fps: int = 24,
                         audio: bool = True) -> Path:
    """Encode ``frames`` pictures of :class:`SyntheticScene` as H.264 (yuv420p, BT.709 tags).

    Args:
        path: output file (``.mp4`` or ``.mov``).
        width: picture width (even).
        height: picture height (even).
        frames: number of frames.
        fps: frame rate.
        audio: also write a stereo AAC tone of the same duration.

    Returns:
        ``path``.
    """
    scene = SyntheticScene(width, height)
    with av.open(str(path), mode="w") as out:
        video = add_h264_video(out, width, height, fps)
        sound = None
        if audio:
            sound = out.add_stream("aac", rate=AUDIO_RATE, layout="stereo")
        samples_done = 0
        for i in range(frames):
            rgb = av.VideoFrame.from_ndarray(scene.frame(i), format="rgb24")
            yuv = rgb.reformat(format="yuv420p", dst_colorspace="ITU709", dst_color_range="MPEG")
            yuv.pts = i
            yuv.time_base = Fraction(1, fps)
            for packet in video.encode(yuv):
                out.mux(packet)
            if sound is not None:
                until = (i + 1) * AUDIO_RATE // fps
                while samples_done < until:
                    out.mux(sound.encode(_tone(samples_done)))
                    samples_done += AAC_FRAME_SAMPLES
        for packet in video.encode(None):
            out.mux(packet)
        if sound is not None:
            out.mux(sound.encode(None))
    return path


def _tone(start: int) -> av.AudioFrame:
    n = np.arange(start, start + AAC_FRAME_SAMPLES, dtype=np.float64)
    wave = (AUDIO_AMPLITUDE * np.sin(2 * np.pi * AUDIO_TONE_HZ * n / AUDIO_RATE)).astype(np.float32)
    frame = av.AudioFrame.from_ndarray(np.stack([wave, wave]), format="fltp", layout="stereo")
    frame.sample_rate = AUDIO_RATE
    frame.pts = start
    frame.time_base = Fraction(1, AUDIO_RATE)
    return frame


def repo_root() -> Path:
    """The repository root (parent of ``benchmarks/``), put on ``sys.path`` so bokehfx imports."""
    root = Path(__file__).resolve().parents[1]
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    return root
