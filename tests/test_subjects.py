"""Named focus subjects: a tiny random OWL-ViT finds the subject, the box is tracked (and re-found),
the detections are cached, the plan and the timeline schema carry the subject, and a render
through the CLI on a real clip shows the focus following it."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from bokehfx.errors import ModelNotAvailableError, TimelineError, UsageError
from bokehfx.focus.canonical import describe_plan
from bokehfx.focus.plan import Blur, SubjectTarget
from bokehfx.focus.prompt import parse_prompt
from bokehfx.focus.subjects import Detection
from bokehfx.focus.tracking import SubjectTracker
from bokehfx.renderers.diagnostics import IN_FOCUS_COLOUR
from cli.main import app
from tests.media_factory import decode_rgb48, write_sequence
from tests.subject_helpers import save_tiny_owlvit

runner = CliRunner()
CLIP = "skv_carphone_pristine.mp4"
FRAMES = 12
#: Raw disparity of the ramp sidecar at its far edge (0 would mean "unknown").
RAMP_FLOOR = 6553
UINT16_MAX = 65535
BLUR_K = 20


@pytest.fixture(scope="module")
def owl(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_owlvit(tmp_path_factory.mktemp("owl") / "tiny-owlvit")


def real_frames(media: Path, count: int = FRAMES) -> list[np.ndarray]:
    from bokehfx.io.source import read_frames

    frames = []
    for frame in read_frames(media / CLIP):
        frames.append(frame.image)
        if len(frames) == count:
            break
    return frames


def ramp(width: int, height: int) -> np.ndarray:
    """Normalized disparity rising from 0 at the left edge to 1 at the right edge."""
    return np.tile(np.linspace(0.0, 1.0, width, dtype=np.float32), (height, 1))


def test_the_parser_reads_subjects_only_when_a_detector_is_there() -> None:
    plan = parse_prompt("rack from the woman in red to the car at 3s", 24, subjects=True)
    assert [kf.target for kf in plan.keyframes] == [SubjectTarget("woman in red")] * 2 + [SubjectTarget("car")]
    assert plan.subjects == ("woman in red", "car") and plan.needs_images
    assert describe_plan(plan).startswith("focus on the woman in red, then rack focus to the car between 3s")
    with pytest.raises(UsageError, match="give --subject-model"):
        parse_prompt("focus on the dog", 24)
    kf = plan.to_dict(24)["keyframes"][-1]
    assert (kf["target"], kf["value"]) == ("subject", "car")


def test_timeline_markers_name_a_subject() -> None:
    from bokehfx.timeline.schema import spec_target

    assert spec_target({"subject": "the dog"}, "marker") == SubjectTarget("dog")
    with pytest.raises(TimelineError, match="one of"):
        spec_target({"subject": "dog", "focus": "near"}, "marker")
    with pytest.raises(TimelineError, match="subject must be text"):
        spec_target({"subject": 3}, "marker")


def test_tiny_detector_finds_a_box_and_the_cache_answers_the_second_time(owl: Path, media: Path,
                                                                         tmp_path: Path) -> None:
    from bokehfx.detect.owl import OwlDetector
    from bokehfx.io.detections import DetectionCache, clip_content_key
    from bokehfx.pipeline.subjects import CachedLocator

    frame = real_frames(media, 1)[0]
    detector = OwlDetector(str(owl))
    found = detector.locate("dog", frame, 0)
    assert isinstance(found, Detection) and 0 <= found.box[0] < found.box[2] <= 1
    cache = DetectionCache(tmp_path / "cache", clip_content_key(media / CLIP), detector.fingerprint)
    cached = CachedLocator(detector, cache)
    assert cached.locate("dog", frame, 0) == found and detector.calls == 2
    again = CachedLocator(detector, DetectionCache(tmp_path / "cache", clip_content_key(media / CLIP),
                                                   detector.fingerprint))
    assert again.locate("dog", frame, 0) == found and detector.calls == 2 and again.hits == 1
    stored = json.loads(cache.path.read_text())
    assert stored["schema"] == "bokehfx.detections/1" and "0" in stored["detections"]["dog"]
    other = DetectionCache(tmp_path / "cache", clip_content_key(media / CLIP), "another-detector")
    assert other.get("dog", 0) == (False, None)


def test_the_box_is_tracked_and_found_again_when_the_track_is_lost(owl: Path, media: Path) -> None:
    from bokehfx.detect.owl import OwlDetector

    class CentreBox:
        """A locator that finds the subject in the middle of the frame: where the random tiny detector
        puts its box depends on the exact pixels (it may hug a featureless edge), the tracker's job does not."""

        def locate(self, text: str, image: np.ndarray, frame: int) -> Detection:
            return Detection((0.3, 0.3, 0.7, 0.7), 0.9)

    frames = real_frames(media, FRAMES // 2)
    tracked = SubjectTracker("dog", CentreBox(), on_lost="hold")
    boxes = [tracked.start(frames[0], 0)] + [tracked.update(f, i) for i, f in enumerate(frames[1:], 1)]
    assert all(b[2] > b[0] and b[3] > b[1] for b in boxes)
    assert len({tuple(round(v, 6) for v in b) for b in boxes}) > 1  # the box moves with the picture
    assert tracked.redetections == 0  # followed by point tracking, not found again
    # Asking for more surviving features than the window can give loses the point track every frame,
    # so every later frame is a re-detection.
    strict = SubjectTracker("dog", OwlDetector(str(owl)), on_lost="hold",
                            tracker_options={"min_features": 40, "max_features": 40})
    strict.start(frames[0], 0)
    for i, f in enumerate(frames[1:4], 1):
        strict.update(f, i)
    assert strict.redetections == 3


def test_evaluator_reads_the_median_disparity_inside_the_tracked_box(owl: Path, media: Path) -> None:
    from bokehfx.detect.owl import OwlDetector

    frames = real_frames(media)
    h, w = frames[0].shape[:2]
    disparity = [ramp(w, h)] * len(frames)
    plan = parse_prompt("focus on the dog", 30, subjects=True)
    curve = plan.evaluate(disparity, Fraction(30000, 1001), images=frames, subjects=OwlDetector(str(owl)),
                          on_lost="hold")
    for i, frame_boxes in enumerate(curve.boxes):
        x0, _, x1, _ = frame_boxes[0]
        columns = np.arange(w)[(np.arange(w) >= np.floor(x0 * (w - 1))) & (np.arange(w) <= np.ceil(x1 * (w - 1)))]
        assert curve.focus[i] == pytest.approx(float(np.median(columns / (w - 1))), abs=1e-3)
    with pytest.raises(UsageError, match="subject-model"):
        plan.evaluate(disparity, 30, images=frames)


def test_missing_subject_model_is_one_clear_error_offline(media: Path, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from bokehfx.detect.owl import load_subject_model

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelNotAvailableError, match="HF_HUB_OFFLINE"):
        load_subject_model("google/owlvit-base-patch32")
    depth = write_ramp(tmp_path, 176, 144)
    out = tmp_path / "out.mov"
    result = runner.invoke(app, ["render", str(media / CLIP), "-o", str(out), "--depth", str(depth),
                                 "--depth-kind", "disparity", "--prompt", "focus on the dog", "--frames", "0-3",
                                 "--subject-model", "google/owlvit-base-patch32", "-q"])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: subject model 'google/owlvit-base-patch32'")
    assert "--subject-model" in lines[0] and not out.exists()
    unnamed = runner.invoke(app, ["render", str(media / CLIP), "-o", str(out), "--prompt", "focus on the dog"])
    assert unnamed.exit_code == 2 and "give --subject-model" in unnamed.stderr and not out.exists()


def write_ramp(folder: Path, width: int, height: int) -> Path:
    raw = np.round(RAMP_FLOOR + (UINT16_MAX - RAMP_FLOOR) * ramp(width, height)).astype(np.uint16)
    write_sequence(folder / "ramp.%d.png", [np.repeat(raw[..., None], 3, axis=2)], codec="png",
                   pix_fmt="rgb48be", in_fmt="rgb48le", start_number=0)
    return folder / "ramp.0.png"


def in_focus_columns(frame: np.ndarray) -> np.ndarray:
    """Columns of a focus-map frame whose pixels are mostly the in-focus colour."""
    rgb = frame.astype(np.float64)
    hue = rgb / np.maximum(rgb.max(axis=2, keepdims=True), 1.0)
    green = np.abs(hue - np.array(IN_FOCUS_COLOUR) / max(IN_FOCUS_COLOUR)).sum(axis=2) < 0.35
    return green.mean(axis=0) > 0.5


@pytest.mark.slow
def test_named_subject_end_to_end_through_the_cli(owl: Path, media: Path, tmp_path: Path) -> None:
    from bokehfx.detect.owl import OwlDetector

    frames = real_frames(media)
    h, w = frames[0].shape[:2]
    depth = write_ramp(tmp_path, w, h)
    plan_out = runner.invoke(app, ["plan", "--prompt", "focus on the dog", "--subject-model", str(owl), "--json",
                                   "--frames", "2"])
    assert plan_out.exit_code == 0, plan_out.output
    planned = json.loads(plan_out.output)
    assert planned["keyframes"][0]["target"] == "subject" and planned["keyframes"][0]["value"] == "dog"
    assert planned["understood_as"] == "focus on the dog, a medium blur (K=20)"

    out = tmp_path / "focus_map.mov"
    result = runner.invoke(app, ["render", str(media / CLIP), "-o", str(out), "--depth", str(depth),
                                 "--depth-kind", "disparity", "--prompt", "focus on the dog", "--subject-model",
                                 str(owl), "--blur", str(BLUR_K), "--view", "focus_map", "--frames",
                                 f"0-{FRAMES - 1}", "--on-lost", "hold"])
    assert result.exit_code == 0, result.stderr
    assert result.stderr.splitlines()[0] == f"understood as: focus on the dog, a medium blur (K={BLUR_K})"
    assert list((tmp_path / ".bokehfx-cache" / "subjects").glob("*.json"))

    # The same plan evaluated in the library, on the same frames and disparity, with the same detector.
    plan = parse_prompt("focus on the dog", 30, subjects=True).with_blur(Blur(BLUR_K))
    curve = plan.evaluate([ramp(w, h)] * FRAMES, Fraction(30000, 1001), images=frames,
                          subjects=OwlDetector(str(owl)), on_lost="hold")
    assert curve.focus.max() - curve.focus.min() > 0.05  # the subject's depth changes through the shot
    shown = decode_rgb48(out)
    assert len(shown) == FRAMES
    d = np.linspace(0.0, 1.0, w)
    for i, frame in enumerate(shown):
        expected = np.abs(BLUR_K * (d - curve.focus[i])) <= 1.0
        assert (in_focus_columns(frame) == expected).mean() > 0.95, f"frame {i}"
    firsts = [np.flatnonzero(in_focus_columns(f)).mean() for f in shown]
    assert max(firsts) - min(firsts) > 0.05 * w  # the in-focus band moves with the subject
