"""The watch folder: settle, safety, the journal, workers, kill -9 and restart, `bokehfx jobs`."""

from __future__ import annotations

import json
import os
import shutil
import signal
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bokehfx.batch.inputs import Settler, is_ignored, refusal
from bokehfx.batch.journal import Journal, Seen
from cli.main import app
from tests.batch_helpers import bokehfx, depth_still, files_under, prores_clip, start, wait_for

SETTLE = "0.5"


def _seen(name: str, content: str = "c1", settings: str = "s1") -> Seen:
    return Seen(name, 10, 1, content, settings, "{}", name)


def _outputs(out: Path) -> list[str]:
    return [p for p in files_under(out) if not p.startswith(".bokehfx")]


# -- the journal and the rules, in process ---------------------------------------------------------------
def test_journal_takes_each_input_once_and_again_only_when_it_changes(tmp_path: Path) -> None:
    with Journal(tmp_path) as journal:
        assert journal.offer(_seen("a.mov")) == "queued"
        assert journal.offer(_seen("a.mov")) == "known"  # found again by a rescan: nothing to do
        job = journal.claim()
        assert job.input == "a.mov" and job.state == "running" and job.attempts == 1
        assert journal.claim() is None
        journal.finish(job.id, state="done", seconds=1.0)
        assert journal.offer(_seen("a.mov")) == "known"
        assert journal.offer(_seen("a.mov", settings="s2")) == "queued"  # new settings: rendered again
        again = journal.claim()
        assert again.id == job.id and again.overwrite == 1  # over its own previous output
        assert journal.offer(_seen("a.mov", content="c2")) == "queued"
    assert (tmp_path / ".bokehfx" / "jobs.sqlite").exists()
    with Journal(tmp_path) as journal:  # WAL mode, and what was committed is still there
        assert journal._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert [r.state for r in journal.rows()] == ["queued"]


def test_a_job_left_running_is_queued_again_or_found_finished(tmp_path: Path) -> None:
    with Journal(tmp_path) as journal:
        for name in ("a.mov", "b.mov"):
            journal.offer(_seen(name))
            journal.claim()
        requeued = journal.recover(lambda job: job.input == "b.mov")
        assert requeued == [1]
        assert {r.input: r.state for r in journal.rows()} == {"a.mov": "queued", "b.mov": "done"}


def test_jobs_lists_the_journal_and_retries_failed_jobs(tmp_path: Path) -> None:
    with Journal(tmp_path) as journal:
        journal.offer(_seen("bad.mov"))
        job = journal.claim()
        journal.finish(job.id, state="failed", error="error: cannot read 'bad.mov': damaged", seconds=0.1)
    runner = CliRunner()
    listed = runner.invoke(app, ["jobs", str(tmp_path)])
    assert listed.exit_code == 0 and "failed" in listed.output and "error: cannot read" in listed.output
    rows = json.loads(runner.invoke(app, ["jobs", str(tmp_path), "--json"]).output)
    assert rows[0]["state"] == "failed" and rows[0]["error"].startswith("error:")
    assert runner.invoke(app, ["jobs", str(tmp_path), "--retry", "all"]).exit_code == 0
    with Journal(tmp_path) as journal:
        assert [(r.state, r.attempts, r.error) for r in journal.rows()] == [("queued", 0, None)]
    missing = runner.invoke(app, ["jobs", str(tmp_path / "nowhere")])
    assert missing.exit_code == 2 and not (tmp_path / "nowhere").exists()


def test_a_file_is_taken_only_after_it_holds_still() -> None:
    now = [0.0]
    settler = Settler(settle=5.0, clock=lambda: now[0])
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        clip = Path(folder) / "clip.mov"
        clip.write_bytes(b"x")
        settler.add(clip)
        now[0] = 4.0
        with open(clip, "ab") as handle:  # still growing
            handle.write(b"y")
        os.utime(clip, ns=(time.time_ns(), time.time_ns() + 1))
        assert settler.settled() == []
        now[0] = 8.9
        assert settler.settled() == []  # 4.9 s since it last changed
        now[0] = 9.1
        assert [p.name for p, _, _ in settler.settled()] == ["clip.mov"]
        assert settler.pending == 0


def test_names_and_links_that_are_never_taken(tmp_path: Path) -> None:
    for name in (".hidden.mov", "clip.mov.part", "clip.tmp", "clip.mov~", "clip.crdownload", "clip.bokehfx.json",
                 "folder.toml"):
        assert is_ignored(name), name
    assert not is_ignored("clip.mov")
    inside = tmp_path / "in"
    inside.mkdir()
    (inside / "real.mov").write_bytes(b"x")
    (inside / "out.mov").symlink_to(tmp_path / "elsewhere.mov")
    (inside / "in.mov").symlink_to(inside / "real.mov")
    assert refusal(inside, inside / "real.mov") is None
    assert "outside the watched folder" in refusal(inside, inside / "out.mov")
    assert "symbolic link" in refusal(inside, inside / "in.mov")


# -- the watcher itself ------------------------------------------------------------------------------------
@pytest.mark.slow
def test_a_watch_session_many_files_growing_corrupt_and_a_link(tmp_path: Path) -> None:
    """Files dropped at once render exactly once each with two workers; a growing file waits; a corrupt
    one fails alone with its error line; a link out of IN is refused; SIGTERM stops cleanly."""
    # 8 keep the suite fast; BOKEHFX_WATCH_FILES=50 runs the full-size drop (see the README's Development).
    count = int(os.environ.get("BOKEHFX_WATCH_FILES", "8"))
    inbox, out, stage = tmp_path / "in", tmp_path / "out", tmp_path / "stage"
    for folder in (inbox, out, stage):
        folder.mkdir()
    (inbox / "sub").mkdir()
    template = prores_clip(stage / "template.mov", frames=4, width=32, height=24, audio=False)
    (tmp_path / "secret.mov").write_bytes(template.read_bytes())
    config = tmp_path / "folder.toml"
    config.write_text("blur = 0\n")
    watcher = start("watch", inbox, out, "--settle", SETTLE, "--workers", "2", "--config", config)
    try:
        time.sleep(1.0)
        for i in range(count):  # copied next to IN, then all moved in at once
            shutil.copy(template, stage / f"clip{i:02d}.mov")
        for i in range(count):
            os.replace(stage / f"clip{i:02d}.mov", inbox / ("sub" if i % 2 else ".") / f"clip{i:02d}.mov")
        (inbox / "broken.mov").write_bytes(b"\x00\x00\x00\x18ftypqt  " + os.urandom(3000))
        (inbox / "escape.mov").symlink_to(tmp_path / "secret.mov")
        growing = inbox / "growing.mov"
        data = template.read_bytes()
        piece = len(data) // 8 + 1
        with open(growing, "wb") as handle:  # written slowly: 8 pieces over ~2.4 s, longer than the settle time
            for k in range(8):
                handle.write(data[k * piece:(k + 1) * piece])
                handle.flush()
                time.sleep(0.3)
        finished_writing = time.time()

        def settled() -> bool:
            if not (out / ".bokehfx" / "jobs.sqlite").exists():
                return False
            with Journal(out) as journal:
                rows = journal.rows()
            return len(rows) == count + 3 and all(r.state in ("done", "failed") for r in rows)

        assert wait_for(settled, timeout=600, step=0.5)
    finally:
        watcher.send_signal(signal.SIGTERM)
        _, err = watcher.communicate(timeout=120)
    assert watcher.returncode == 0, err
    with Journal(out) as journal:
        rows = {r.input: r for r in journal.rows()}
    clips = [f"clip{i:02d}.mov" if i % 2 == 0 else f"sub/clip{i:02d}.mov" for i in range(count)]
    for name in clips + ["growing.mov"]:
        assert rows[name].state == "done" and rows[name].attempts == 1, rows[name]
    assert rows["growing.mov"].queued_at >= finished_writing and rows["growing.mov"].size == len(data)
    assert rows["broken.mov"].state == "failed" and rows["broken.mov"].error.startswith("error:")
    assert rows["escape.mov"].state == "failed" and "outside the watched folder" in rows["escape.mov"].error
    spans = sorted((r.started_at, r.finished_at) for r in rows.values() if r.started_at and r.finished_at)
    assert any(b[0] < a[1] for a, b in zip(spans, spans[1:])), "two renders should have overlapped"
    assert _outputs(out) == sorted(["sub"] + [c for c in clips] + ["growing.mov"])
    listed = bokehfx("jobs", out).stdout
    assert "broken.mov" in listed and "error:" in listed
    assert sorted(p.name for p in inbox.rglob("*")) == sorted(
        [f"clip{i:02d}.mov" for i in range(count)] + ["sub", "broken.mov", "escape.mov", "growing.mov"])


@pytest.mark.slow
def test_watcher_killed_mid_render_and_restarted_renders_each_input_once_and_identically(tmp_path: Path) -> None:
    inbox = tmp_path / "in"
    (inbox / "sub").mkdir(parents=True)
    for name in ("a.mov", "sub/b.mov"):
        prores_clip(inbox / name, frames=24, width=64, height=48)
    depth = depth_still(tmp_path / "depth.png")
    config = tmp_path / "folder.toml"
    config.write_text(f'depth = "{depth}"\nfocus = "0.5"\nblur = "20"\nchunk_frames = 4\n')
    reference = tmp_path / "reference"
    bokehfx("watch", inbox, reference, "--settle", SETTLE, "--config", config, "--once", "-q", timeout=600)

    out = tmp_path / "out"
    watcher = start("watch", inbox, out, "--settle", SETTLE, "--config", config)
    chunks = lambda: list(out.rglob(".*.bokehfx-work/chunk_*.json"))  # noqa: E731
    assert wait_for(lambda: bool(chunks()) or watcher.poll() is not None, timeout=300)
    watcher.send_signal(signal.SIGKILL)
    watcher.communicate(timeout=60)
    assert watcher.returncode == -signal.SIGKILL
    with Journal(out) as journal:
        assert "running" in [r.state for r in journal.rows()]  # died in the middle of a render
    bokehfx("watch", inbox, out, "--settle", SETTLE, "--config", config, "--once", "-q", timeout=600)

    with Journal(out) as journal:
        rows = journal.rows()
    assert sorted(r.input for r in rows) == ["a.mov", "sub/b.mov"] and all(r.state == "done" for r in rows)
    assert sorted(r.attempts for r in rows) in ([1, 2], [2, 2])
    assert _outputs(out) == ["a.mov", "sub", "sub/b.mov"]  # nothing partial or temporary left
    for name in ("a.mov", "sub/b.mov"):
        assert (out / name).read_bytes() == (reference / name).read_bytes()
    assert sorted(p for p in files_under(out / ".bokehfx") if not p.startswith("jobs/")) == \
        ["jobs", "jobs.sqlite", "watch.lock"]


def test_watch_refuses_out_inside_in(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["watch", str(tmp_path), str(tmp_path / "renders"), "--once"])
    assert result.exit_code == 2 and "must not contain" in result.output
    assert not (tmp_path / "renders").exists()


def test_watch_refuses_a_config_with_an_unknown_key(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    config = tmp_path / "c.toml"
    config.write_text("blurr = 3\n")
    result = CliRunner().invoke(app, ["watch", str(tmp_path / "in"), str(tmp_path / "out"), "--config", str(config)])
    assert result.exit_code == 2 and "blurr" in result.output



def test_a_sidecar_wins_over_the_folder_settings_and_may_not_choose_the_output(tmp_path: Path) -> None:
    from bokehfx.batch.inputs import output_for, read_toml, settings_for
    from bokehfx.errors import UsageError
    from cli.watch import check_settings

    config = tmp_path / "folder.toml"
    config.write_text('blur = "0"\ncodec = "prores_hq"\n')
    defaults = check_settings(read_toml(config), "folder.toml")
    clip = tmp_path / "shot.mov"
    clip.write_bytes(b"x")
    assert settings_for(clip, defaults, check_settings) == {"blur": "0", "codec": "prores_hq"}
    (tmp_path / "shot.bokehfx.json").write_text(json.dumps(
        {"schema": "bokehfx.job/1", "blur": "large", "codec": "h264",
         "keyframes": [{"frame": 0, "focus": "near"}]}))
    settings = settings_for(clip, defaults, check_settings)
    assert settings["blur"] == "large" and settings["keyframes"][0]["focus"] == "near"
    assert output_for(Path("a/shot.mov"), settings) == Path("a/shot.mp4")
    (tmp_path / "shot.bokehfx.json").write_text(json.dumps({"schema": "bokehfx.job/1", "output": "/etc/x.mov"}))
    with pytest.raises(UsageError, match="decided by the watch folder"):
        settings_for(clip, defaults, check_settings)


@pytest.mark.slow
def test_poll_mode_once_renders_what_is_there(tmp_path: Path) -> None:
    inbox, out = tmp_path / "in", tmp_path / "out"
    inbox.mkdir()
    prores_clip(inbox / "clip.mov", frames=3, width=32, height=24, audio=False)
    (inbox / "clip.bokehfx.json").write_text('{"schema": "bokehfx.job/1", "blur": "0"}')
    bokehfx("watch", inbox, out, "--poll", "--once", "--settle", SETTLE, "-q", timeout=600)
    with Journal(out) as journal:
        assert [(r.input, r.state) for r in journal.rows()] == [("clip.mov", "done")]
    assert _outputs(out) == ["clip.mov"]


def test_watched_jobs_resume_in_chunks_except_diffusion_jobs_which_render_in_one_pass(tmp_path: Path) -> None:
    from types import SimpleNamespace

    from cli.watch import render_command

    command = render_command(tmp_path, "local", None)
    physical = command(SimpleNamespace(id=1, options={"blur": "0"}, overwrite=False), tmp_path / "a.mov",
                       tmp_path / "o" / "a.mov")
    diffusion = command(SimpleNamespace(id=2, options={"renderer": "diffusion", "model": "m"}, overwrite=False),
                        tmp_path / "b.mov", tmp_path / "o" / "b.mov")
    assert "--resume" in physical and "--resume" not in diffusion
