"""OTIO ingestion: every shared timeline, exact keyframe frames at 24000/1001, media, relinking."""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import numpy as np
import opentimelineio as otio
import pytest

from bokehfx.errors import InputNotFoundError, TimelineError
from bokehfx.focus import DisparityTarget, FocusPlan, PointTarget, SymbolicTarget
from bokehfx.focus.plan import Interp
from bokehfx.timeline import read_timeline, relinked_name, write_relinked

BROKEN = {"edl/timecode_mismatch.edl", "fcp7/premiere_example_filter.xml"}
NTSC = Fraction(24000, 1001)
RT = otio.opentime.RationalTime
TR = otio.opentime.TimeRange


def _timelines(shared: Path) -> list[Path]:
    return sorted(p for p in (shared / "timelines").rglob("*") if p.is_file())


def test_every_shared_timeline_gives_a_plan_per_clip_or_a_clear_error(shared: Path) -> None:
    files = _timelines(shared)
    assert len(files) == 28
    read = 0
    for path in files:
        rel = path.relative_to(shared / "timelines").as_posix()
        rate = 25 if rel == "edl/25fps.edl" else None
        if rel in BROKEN:
            with pytest.raises(TimelineError, match=path.name):
                read_timeline(path, rate=rate)
            continue
        jobs = read_timeline(path, rate=rate).jobs
        read += 1
        for job in jobs:
            assert job.plan.keyframes, rel
            assert job.frame_count >= 0 and job.rate > 0
            assert job.missing is not None  # none of the shared timelines' media exist here
    assert read == 26


def test_25fps_edl_needs_rate_25(shared: Path) -> None:
    path = shared / "timelines/edl/25fps.edl"
    with pytest.raises(TimelineError, match="--fps"):
        read_timeline(path)
    jobs = read_timeline(path, rate=25).jobs
    assert [j.rate for j in jobs] == [25] * 4
    assert [(j.start_frame, j.frame_count) for j in jobs] == [(90000, 161), (90000, 200), (90000, 86), (90000, 49)]
    assert jobs[0].source_range == (Fraction(3600), Fraction(161, 25))


def test_ntsc_rates_are_exact(shared: Path) -> None:
    jobs = read_timeline(shared / "timelines/fcp7/premiere_generators.xml").jobs
    assert {j.rate for j in jobs} == {NTSC}
    assert "generated clip" in jobs[0].missing


def test_transition_handles_widen_the_render_range(shared: Path) -> None:
    jobs = read_timeline(shared / "timelines/core/transition.otio").jobs
    third = jobs[2]
    assert (third.start_frame, third.frame_count) == (3, 4)
    assert (third.render_start_frame, third.render_frame_count, third.handle_before) == (1, 6, 2)


def test_newer_marker_schema_is_read(shared: Path) -> None:
    tl = read_timeline(shared / "timelines/core/premiere_example.Marker3_HEAD.otio")
    markers = [m for c in tl.otio.find_clips() for m in c.markers]
    assert len(markers) >= 1 and all(isinstance(m.color, str) for m in markers)


def test_unknown_file_and_format(tmp_path: Path) -> None:
    with pytest.raises(InputNotFoundError):
        read_timeline(tmp_path / "none.otio")
    bad = tmp_path / "cut.mov"
    bad.write_bytes(b"x")
    with pytest.raises(TimelineError, match="unknown format"):
        read_timeline(bad)


def _marker(frame: int, entry: dict, duration: int = 0, name: str = "m") -> otio.schema.Marker:
    rate = float(NTSC)
    return otio.schema.Marker(name=name, marked_range=TR(RT(frame, rate), RT(duration, rate)),
                              metadata={"bokehfx": {"schema": "bokehfx.focus/1", **entry}})


def _build(tmp_path: Path, media: Path) -> Path:
    """A 24000/1001 timeline on real clips: markers, an effect, a sequence, a missing clip."""
    rate = float(NTSC)
    track = otio.schema.Track(name="V1", kind=otio.schema.TrackKind.Video)
    bikes = otio.schema.Clip(
        name="bikes",
        media_reference=otio.schema.ExternalReference(
            target_url=os.path.relpath(media / "skv_bikes.mp4", tmp_path),
            available_range=TR(RT(86400, rate), RT(250, rate))),
        source_range=TR(RT(86410, rate), RT(200, rate)))
    bikes.markers.extend([
        _marker(86410 + 5, {"focus": 0.3, "blur": 12}),
        _marker(86410 + 48, {"focus": "far", "interp": "linear"}),
        _marker(86410 + 100, {"point": [0.5, 0.4], "blur": "f/2.8"}, duration=24),
        otio.schema.Marker(name="plain", marked_range=TR(RT(86420, rate), RT(0, rate))),
    ])
    chaplin = otio.schema.Clip(
        name="chaplin",
        media_reference=otio.schema.ExternalReference(target_url=(media / "mp_chaplin.mp4").as_uri()),
        source_range=TR(RT(1000, rate), RT(120, rate)))
    chaplin.effects.append(otio.schema.Effect(
        name="dof", effect_name="bokehfx.DepthOfField",
        metadata={"bokehfx": {"schema": "bokehfx.focus/1", "blur": "large",
                              "keyframes": [{"frame": 0, "focus": "near"},
                                            {"time": "00:00:02:12", "focus": "far", "interp": "ease-in-out"}]}}))
    chaplin.markers.append(_marker(1000 + 90, {"prompt": "rack focus to the foreground over 12 frames"}))
    frames = tmp_path / "frames"
    frames.mkdir()
    for n in range(1001, 1011):
        (frames / f"shot.{n:04d}.png").write_bytes(b"png")
    seq = otio.schema.Clip(
        name="sequence",
        media_reference=otio.schema.ImageSequenceReference(
            target_url_base="frames/", name_prefix="shot.", name_suffix=".png", start_frame=1001,
            rate=rate, frame_zero_padding=4, available_range=TR(RT(0, rate), RT(10, rate))),
        source_range=TR(RT(2, rate), RT(6, rate)))
    gone = otio.schema.Clip(
        name="gone", media_reference=otio.schema.ExternalReference(target_url="nowhere/missing.mov"),
        source_range=TR(RT(0, rate), RT(24, rate)))
    track.extend([bikes, chaplin, seq, gone])
    audio = otio.schema.Track(name="A1", kind=otio.schema.TrackKind.Audio)
    audio.append(otio.schema.Clip(name="music", source_range=TR(RT(0, rate), RT(48, rate))))
    timeline = otio.schema.Timeline(name="edit", tracks=[track, audio])
    path = tmp_path / "edit.otio"
    otio.adapters.write_to_file(timeline, str(path))
    return path


def test_markers_on_real_clips_land_on_exact_frames_at_24000_1001(tmp_path: Path, media: Path) -> None:
    tl = read_timeline(_build(tmp_path, media))
    bikes, chaplin, seq, gone = tl.jobs
    assert [j.name for j in tl.jobs] == ["bikes", "chaplin", "sequence", "gone"]
    assert bikes.rate == NTSC and bikes.missing is None
    assert bikes.media_path.resolve() == (media / "skv_bikes.mp4").resolve()
    assert (bikes.start_frame, bikes.frame_count, bikes.file_start_frame) == (86410, 200, 10)
    assert bikes.plan_source == "timeline"
    keys = bikes.plan.resolve(bikes.rate, bikes.render_frame_count)
    assert [r.frame for r in keys] == [5, 48, 100, 124]
    assert keys[0].keyframe.target == DisparityTarget(0.3) and keys[0].keyframe.blur.k == 12
    assert keys[1].keyframe.target == SymbolicTarget("far") and keys[1].keyframe.interp is Interp.LINEAR
    assert keys[2].keyframe.target == SymbolicTarget("far")  # a pull holds until the marker starts
    assert keys[3].keyframe.target == PointTarget(0.5, 0.4) and keys[3].keyframe.interp is Interp.EASE
    assert keys[3].keyframe.blur.k == pytest.approx(20)
    # exact frame at the rate, evaluated: the cut lands on frame 5, the linear pull ends on 48.
    curve = bikes.plan.evaluate([np.full((4, 4), 0.5, np.float32)] * 60, bikes.rate)
    assert curve.focus[5] == pytest.approx(0.3) and curve.k[5] == pytest.approx(12)
    assert 0.3 < curve.focus[6] < curve.focus[47] < 0.5 and curve.focus[48] == pytest.approx(0.5)

    streamed = bikes.evaluator()
    assert [streamed.push(np.full((4, 4), 0.5, np.float32)).focus for _ in range(49)] == list(curve.focus[:49])

    chap = chaplin.plan.resolve(chaplin.rate, chaplin.render_frame_count)
    # static blur from frame 0, keyframe frame 0, 00:00:02:12 = 60 frames, prompt at marker 90 over 12 frames
    assert [r.frame for r in chap] == [0, 0, 60, 90, 102]
    assert [r.keyframe.target for r in chap[2:]] == [SymbolicTarget("far"), SymbolicTarget("far"),
                                                     SymbolicTarget("near")]
    assert {kf.blur.k for kf in chaplin.plan.keyframes} == {40.0}

    assert seq.sequence is not None and seq.missing is None
    assert seq.sequence.pattern.endswith("frames/shot.%04d.png") and seq.sequence.start_frame == 1001
    assert Path(seq.sequence.path_for(1003)).is_file()
    assert gone.missing is not None and "not found" in gone.missing and gone.plan_source == "default"


def test_default_plan_for_clips_without_focus(tmp_path: Path, media: Path) -> None:
    tl = read_timeline(_build(tmp_path, media), default_plan=FocusPlan.static("near", 30))
    assert tl.jobs[3].plan == FocusPlan.static("near", 30)
    assert tl.jobs[0].plan.keyframes[0].blur.k == 12


@pytest.mark.parametrize("entry,match", [
    ({"focus": 0.3, "colour": 2}, "unknown key"),
    ({"schema": "bokehfx.focus/2", "focus": 0.3}, "not supported"),
    ({"focus": 3}, "disparity"),
    ({"focus": 0.3, "point": [0.1, 0.1]}, "one of"),
    ({"prompt": "focus on the cat"}, "cat"),
    ({"blur": "enormous"}, "blur"),
])
def test_bad_metadata_names_clip_and_marker(tmp_path: Path, entry, match) -> None:
    rate = float(NTSC)
    clip = otio.schema.Clip(name="shot", source_range=TR(RT(0, rate), RT(24, rate)))
    clip.markers.append(otio.schema.Marker(name="m1", marked_range=TR(RT(3, rate), RT(0, rate)),
                                           metadata={"bokehfx": entry}))
    path = tmp_path / "bad.otio"
    otio.adapters.write_to_file(otio.schema.Timeline(tracks=[otio.schema.Track(children=[clip])]), str(path))
    with pytest.raises(TimelineError, match=match) as err:
        read_timeline(path)
    assert "'shot'" in str(err.value) and "'m1'" in str(err.value)


def test_write_relinked_points_at_renders_and_keeps_the_plan(tmp_path: Path, media: Path) -> None:
    tl = read_timeline(_build(tmp_path, media))
    out_dir = tmp_path / "out"
    rendered = {j.index: out_dir / f"{j.name}.mov" for j in tl.jobs if j.available}
    out = write_relinked(tl, rendered, relinked_name(tl.path, out_dir))
    assert out == out_dir / "edit.bokehfx.otio" and out.is_file()
    back = otio.adapters.read_from_file(str(out))
    clips = list(back.find_clips())
    assert clips[0].media_reference.target_url == (out_dir / "bikes.mov").resolve().as_uri()
    assert clips[0].source_range.start_time.value == 0 and clips[0].source_range.duration.value == 200
    assert clips[0].metadata["bokehfx"]["rendered_from_frame"] == 86410
    assert clips[3].media_reference.target_url == "nowhere/missing.mov"  # not rendered: untouched
    # the relinked clips carry the same plan, on the same frames of the rendered media.
    for name in rendered.values():
        name.parent.mkdir(exist_ok=True)
        name.write_bytes(b"")
    again = read_timeline(out)
    for before, after in zip(tl.jobs[:3], again.jobs[:3]):
        assert after.missing is None
        assert [r.frame for r in after.plan.resolve(after.rate, after.render_frame_count)] == \
            [r.frame for r in before.plan.resolve(before.rate, before.render_frame_count)]
        assert after.file_start_frame == 0 and after.frame_count == before.frame_count
    relative = write_relinked(tl.otio, [rendered.get(i) for i in range(4)], tmp_path / "rel.otio", relative=True)
    assert list(otio.adapters.read_from_file(str(relative)).find_clips())[0].media_reference.target_url == \
        "out/bikes.mov"


def test_relink_rebases_transition_handles(shared: Path, tmp_path: Path) -> None:
    tl = read_timeline(shared / "timelines/core/transition.otio")
    out = write_relinked(tl, {2: tmp_path / "c3.mov"}, tmp_path / "t.otio")
    clip = list(otio.adapters.read_from_file(str(out)).find_clips())[2]
    assert clip.source_range.start_time.value == 2 and clip.media_reference.available_range.duration.value == 6


def test_track_and_timeline_markers_apply_to_the_clip_under_them(tmp_path: Path) -> None:
    rate = float(NTSC)
    a = otio.schema.Clip(name="a", source_range=TR(RT(100, rate), RT(48, rate)))
    b = otio.schema.Clip(name="b", source_range=TR(RT(1000, rate), RT(48, rate)))
    track = otio.schema.Track(name="V1", children=[a, b])
    track.markers.append(_marker(60, {"focus": "far"}, name="on track"))  # 12 frames into b
    timeline = otio.schema.Timeline(tracks=[track])
    timeline.tracks.markers.append(_marker(7, {"blur": 33}, name="on timeline"))  # 7 frames into a
    path = tmp_path / "track_markers.otio"
    otio.adapters.write_to_file(timeline, str(path))
    ja, jb = read_timeline(path).jobs
    assert [(r.frame, r.keyframe.blur.k) for r in ja.plan.resolve(ja.rate)] == [(7, 33.0)]
    assert [(r.frame, r.keyframe.target) for r in jb.plan.resolve(jb.rate)] == [(12, SymbolicTarget("far"))]
