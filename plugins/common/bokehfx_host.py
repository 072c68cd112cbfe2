"""What every bokehfx host plugin shares: the job queue, the CLI, detached starts, progress.

Standard library only: hosts (DaVinci Resolve, Nuke) run their own Python, and nothing here
imports bokehfx. A plugin writes a ``bokehfx.job/1`` job file, starts ``bokehfx render --job
JOB --progress-json PROGRESS`` detached (an argument list, never a shell string), records the job
in the queue and later follows the progress file.

The queue lives in ``$BOKEHFX_HOME/queue`` (default ``~/.bokehfx/queue``), one folder per job::

    <id>/job.json        the job file given to the CLI
    <id>/progress.jsonl  the CLI's --progress-json lines
    <id>/log.txt         the CLI's stdout and stderr
    <id>/record.json     what the host needs to bring the result back (project, item, range)

``$BOKEHFX_HOME/plugins.json`` holds the CLI recorded by ``bokehfx plugin install``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid

JOB_SCHEMA = "bokehfx.job/1"
FOCUS_SCHEMA = "bokehfx.focus/1"
HOME_ENV = "BOKEHFX_HOME"
CONFIG_NAME = "plugins.json"
SETTINGS_NAME = "settings.json"
QUEUE_DIR = "queue"
LOG_NAME = "bokehfx.log"
STATUS_RUNNING = "running"
STATUS_DONE = "done"
STATUS_FAILED = "failed"
STATUS_INTERRUPTED = "interrupted"
STATUS_IMPORTED = "imported"


def home():
    """``$BOKEHFX_HOME``, else ``~/.bokehfx``."""
    return os.environ.get(HOME_ENV) or os.path.join(os.path.expanduser("~"), ".bokehfx")


def read_json(path, default=None):
    """A JSON file's content, or ``default`` when it is missing or unreadable."""
    try:
        with open(path, "r", encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return default


def write_json(path, data):
    """Write JSON atomically (a temporary file renamed into place)."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".json", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=2, sort_keys=True)
            handle.write("\n")
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def log(message):
    """Say ``message`` on the host's console and append it to ``$BOKEHFX_HOME/bokehfx.log``."""
    line = "bokehfx: " + message
    print(line)
    try:
        os.makedirs(home(), exist_ok=True)
        with open(os.path.join(home(), LOG_NAME), "a", encoding="utf-8") as handle:
            handle.write(time.strftime("%Y-%m-%d %H:%M:%S ") + line + "\n")
    except OSError:
        pass
    return line


def cli_command():
    """The bokehfx command as an argument-list prefix: recorded by ``plugin install``, else PATH."""
    config = read_json(os.path.join(home(), CONFIG_NAME), {}) or {}
    command = config.get("command")
    if command:
        return list(command)
    found = shutil.which("bokehfx")
    if found:
        return [found]
    raise RuntimeError("the bokehfx command was not found: run `bokehfx plugin install resolve|nuke` "
                       "in the environment where bokehfx is installed, or put bokehfx on PATH")


def user_settings():
    """Render options from ``$BOKEHFX_HOME/settings.json`` (job-file keys), or {}."""
    data = read_json(os.path.join(home(), SETTINGS_NAME), {}) or {}
    return {k: v for k, v in data.items() if k not in ("schema", "keyframes")}


def new_job_id():
    """A fresh, sortable job id."""
    return time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:8]


def job_dir(job_id):
    return os.path.join(home(), QUEUE_DIR, job_id)


def render_arguments(job_path, progress_path):
    """The full argument list that renders ``job_path`` with progress lines."""
    return cli_command() + ["render", "--job", job_path, "--progress-json", progress_path]


def start_detached(args, log_path):
    """Start ``args`` (a list, no shell) in its own session, output to ``log_path``; returns the pid."""
    with open(log_path, "ab") as out:
        options = {"stdin": subprocess.DEVNULL, "stdout": out, "stderr": subprocess.STDOUT, "close_fds": True}
        if sys.platform == "win32":
            options["creationflags"] = (getattr(subprocess, "DETACHED_PROCESS", 0x8)
                                        | getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0x200))
        else:
            options["start_new_session"] = True
        process = subprocess.Popen(args, **options)
    return process.pid


def submit(job, record, job_id=None):
    """Write ``job`` (a job-file dict) and ``record`` into the queue and start the render detached.

    Returns the record as stored (with ``id``, ``job``, ``progress``, ``log``, ``pid``, ``args``).
    """
    job_id = job_id or new_job_id()
    folder = job_dir(job_id)
    os.makedirs(folder, exist_ok=True)
    job_path = write_json(os.path.join(folder, "job.json"), dict(job, schema=JOB_SCHEMA))
    progress_path = os.path.join(folder, "progress.jsonl")
    log_path = os.path.join(folder, "log.txt")
    args = render_arguments(job_path, progress_path)
    stored = dict(record, id=job_id, job=job_path, progress=progress_path, log=log_path, args=args,
                  output=job.get("output"), submitted=time.time(), imported=False)
    write_json(os.path.join(folder, "record.json"), stored)
    stored["pid"] = start_detached(args, log_path)
    write_json(os.path.join(folder, "record.json"), stored)
    return stored


def read_progress(path):
    """The complete JSON lines of a progress file (a partial last line is left for later)."""
    try:
        with open(path, "rb") as handle:
            text = handle.read().decode("utf-8", "replace")
    except OSError:
        return []
    complete = text[: text.rfind("\n") + 1]
    lines = []
    for line in complete.splitlines():
        line = line.strip()
        if line:
            try:
                lines.append(json.loads(line))
            except ValueError:
                continue
    return lines


def process_alive(pid):
    """Whether the process ``pid`` still runs (False for None)."""
    if not pid:
        return False
    if sys.platform == "win32":
        import ctypes

        handle = ctypes.windll.kernel32.OpenProcess(0x1000, False, int(pid))  # QUERY_LIMITED_INFORMATION
        if not handle:
            return False
        code = ctypes.c_ulong()
        ctypes.windll.kernel32.GetExitCodeProcess(handle, ctypes.byref(code))
        ctypes.windll.kernel32.CloseHandle(handle)
        return code.value == 259  # STILL_ACTIVE
    try:
        finished, _ = os.waitpid(int(pid), os.WNOHANG)  # reap it if it is our own child
        if finished:
            return False
    except ChildProcessError:
        pass
    except OSError:
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def last_error_line(log_path):
    """The last ``error: ...`` line of a job's log, or its last line, or None."""
    try:
        with open(log_path, "r", encoding="utf-8", errors="replace") as handle:
            lines = [line.strip() for line in handle if line.strip()]
    except OSError:
        return None
    errors = [line for line in lines if line.startswith("error:")]
    return errors[-1] if errors else (lines[-1] if lines else None)


def job_state(record):
    """``(status, detail)`` of a queued job: running (with progress), done, failed (with error line)."""
    lines = read_progress(record.get("progress", ""))
    final = next((line for line in reversed(lines) if "status" in line), None)
    if final is not None:
        if final["status"] == STATUS_DONE:
            return STATUS_DONE, final
        return final["status"], final.get("error") or last_error_line(record.get("log", "")) or final["status"]
    if process_alive(record.get("pid")):
        return STATUS_RUNNING, (lines[-1] if lines else {})
    return STATUS_FAILED, (last_error_line(record.get("log", ""))
                           or "the render stopped without a word; see " + str(record.get("log")))


def describe_progress(line):
    """``12/48 frames, 3.1 fps, 11 s left`` from a progress line."""
    done, total = line.get("frames_done", 0), line.get("frames_total")
    parts = ["%s/%s frames" % (done, total if total is not None else "?")]
    if line.get("fps"):
        parts.append("%.1f fps" % line["fps"])
    if line.get("seconds_left") is not None:
        parts.append("%d s left" % round(line["seconds_left"]))
    if line.get("stage") and line.get("stage") != "render":
        parts.append(str(line["stage"]))
    return ", ".join(parts)


def queued_jobs(**match):
    """Queue records whose fields equal ``match`` (e.g. ``host="resolve", project="Show"``), oldest first."""
    root = os.path.join(home(), QUEUE_DIR)
    try:
        names = sorted(os.listdir(root))
    except OSError:
        return []
    records = []
    for name in names:
        record = read_json(os.path.join(root, name, "record.json"))
        if record and all(record.get(k) == v for k, v in match.items()):
            records.append(record)
    return records


def update_record(record, **changes):
    """Store ``changes`` in a job's record."""
    record.update(changes)
    write_json(os.path.join(job_dir(record["id"]), "record.json"), record)
    return record


def parse_focus_json(text):
    """A ``bokehfx.*`` JSON object found in a marker's text, or None (plain notes are not settings)."""
    if not text or "{" not in str(text):
        return None
    text = str(text)
    try:
        data = json.loads(text[text.index("{"): text.rindex("}") + 1])
    except ValueError:
        return None
    if not isinstance(data, dict) or not str(data.get("schema", FOCUS_SCHEMA)).startswith("bokehfx."):
        return None
    return data


def exact_frame(key):
    """A marker's float key as a whole frame (Resolve keys are floats such as ``24.0``)."""
    value = float(key)
    return int(value) if value.is_integer() else int(round(value))
