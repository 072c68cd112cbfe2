"""The BokehFX node for Nuke: a Group with knobs whose Render button runs the bokehfx command.

Standard library only (Nuke ships its own Python); nothing here imports bokehfx. The Render
button reads the upstream Read (``file`` with ``%04d`` or ``####``, ``first``/``last``, format),
bakes animated knobs per frame into the job's keyframes (``isAnimated()`` is also true for
expressions, so every frame is sampled with ``valueAt(frame)``, which may return a float or a
list), runs ``bokehfx render --job ... --progress-json ...`` (an argument list) on a worker
thread with a cancellable ``nuke.ProgressTask`` (cancel terminates the render, whose output is
atomic, and removes anything left at the output path), and creates or updates a Read for the
result through ``nuke.executeInMainThread``: Nuke's nodes and knobs may be touched only from the
main thread. In command-line renders (``nuke.GUI`` false) the render runs in the calling thread.
"""

from __future__ import annotations

import os
import re
import signal
import threading
import time

import nuke

import bokehfx_host as host

HOST = "nuke"
NODE_CLASS_NAME = "BokehFX"
RENDERERS = ("physical", "diffusion")
QUALITIES = ("default", "draft", "final")
#: Seconds between two looks at the progress file.
POLL_S = 0.25
#: Seconds a cancelled render gets to clean up after SIGTERM before it is killed.
CANCEL_GRACE_S = 10.0
PERCENT = 100
_HASHES = re.compile(r"#+")


def sequence_pattern(path):
    """A Read's file as a ``%0Nd`` pattern (``plate.####.exr`` -> ``plate.%04d.exr``)."""
    return _HASHES.sub(lambda m: "%%0%dd" % len(m.group(0)), path)


def is_sequence(path):
    return re.search(r"%0?\d*d", path) is not None


def add_knobs(node):
    """Put the BokehFX knobs on a Group node."""
    node.addKnob(nuke.Tab_Knob("bokehfx", "BokehFX"))
    node.addKnob(nuke.String_Knob("prompt", "prompt"))
    node.addKnob(nuke.File_Knob("ref", "reference"))
    focus = nuke.Double_Knob("focus", "focus")
    focus.setRange(0, 1)
    focus.setValue(0.5)
    node.addKnob(focus)
    blur = nuke.Double_Knob("blur", "blur")
    blur.setRange(0, 60)
    blur.setValue(20)
    node.addKnob(blur)
    node.addKnob(nuke.Boolean_Knob("use_point", "focus on point"))
    node.addKnob(nuke.XY_Knob("focal_point", "focal point"))
    node.addKnob(nuke.Enumeration_Knob("renderer", "renderer", list(RENDERERS)))
    node.addKnob(nuke.String_Knob("model", "model"))
    node.addKnob(nuke.Enumeration_Knob("quality", "quality", list(QUALITIES)))
    node.addKnob(nuke.File_Knob("output", "output"))
    node.addKnob(nuke.PyScript_Knob("render", "Render", "import bokehfx_nuke\nbokehfx_nuke.render_node(nuke.thisNode())"))
    node.addKnob(nuke.Text_Knob("status", "", ""))
    return node


def create_node():
    """Menu command: a BokehFX Group (Input -> Output) with its knobs, after the selected node."""
    group = nuke.createNode("Group")
    group.setName(NODE_CLASS_NAME)
    group.begin()
    source = nuke.nodes.Input()
    nuke.nodes.Output().setInput(0, source)
    group.end()
    return add_knobs(group)


def upstream_read(node):
    """The first Read above ``node`` (following input 0), or None."""
    current = node.input(0)
    seen = set()
    while current is not None and id(current) not in seen:
        if current.Class() == "Read":
            return current
        seen.add(id(current))
        current = current.input(0)
    return None


def _number(value):
    """``valueAt`` gives a float for one channel and a list for several: take the first channel."""
    if isinstance(value, (list, tuple)):
        return float(value[0])
    return float(value)


def _xy(value):
    return float(value[0]), float(value[1])


def _normalized_point(x, y, width, height):
    """Nuke's pixel XY (origin bottom-left) as bokehfx's normalized point (origin top-left)."""
    return [round(x / float(width), 6), round(1.0 - y / float(height), 6)]


def bake_keyframes(node, first, last, width, height):
    """Keyframes (clip frames from 0) for every frame of animated knobs; static ones become options."""
    options = {}
    per_frame = {}
    focus, blur, point = node["focus"], node["blur"], node["focal_point"]
    use_point = bool(node["use_point"].value())
    if use_point:
        if point.isAnimated():
            for frame in range(first, last + 1):
                x, y = _xy(point.valueAt(frame))
                per_frame.setdefault(frame, {}).update(point=_normalized_point(x, y, width, height), track=False)
        else:
            x, y = _xy(point.value())
            options["focus_point"] = "%s,%s" % tuple(_normalized_point(x, y, width, height))
    elif focus.isAnimated():
        for frame in range(first, last + 1):
            per_frame.setdefault(frame, {})["focus"] = _number(focus.valueAt(frame))
    else:
        options["focus"] = str(_number(focus.value()))
    if blur.isAnimated():
        for frame in range(first, last + 1):
            per_frame.setdefault(frame, {})["blur"] = _number(blur.valueAt(frame))
    else:
        options["blur"] = str(_number(blur.value()))
    keyframes = []
    for frame in sorted(per_frame):
        keyframe = {"frame": frame - first}
        keyframe.update(per_frame[frame])
        keyframes.append(keyframe)
    return options, keyframes


def default_output(source):
    """Beside the source, in a ``bokehfx`` folder: a sequence stays a sequence, a movie a .mov."""
    folder, name = os.path.split(source)
    stem = re.sub(r"[._]?%0?\d*d", "", os.path.splitext(name)[0]) or "render"
    if is_sequence(source):
        return os.path.join(folder, "bokehfx", stem + "_bokehfx.%04d.exr")
    return os.path.join(folder, "bokehfx", stem + "_bokehfx.mov")


def node_job(node):
    """``(job, record)`` from the node's knobs and its upstream Read."""
    read = upstream_read(node)
    if read is None:
        raise ValueError("%s: connect it below a Read node" % node.name())
    source = sequence_pattern(str(read["file"].value()))
    if not source:
        raise ValueError("%s: the Read %s has no file" % (node.name(), read.name()))
    first, last = int(read["first"].value()), int(read["last"].value())
    fmt = read.format()
    options, keyframes = bake_keyframes(node, first, last, fmt.width(), fmt.height())
    output = str(node["output"].value() or "") or default_output(source)
    job = dict(host.user_settings())
    job.update(options)
    job.update({"input": source, "output": output, "frames": "0-%d" % (last - first), "force": True,
                "renderer": node["renderer"].value()})
    for name in ("prompt", "model"):
        text = str(node[name].value() or "").strip()
        if text:
            job[name] = text
    ref = str(node["ref"].value() or "").strip()
    if ref:
        job["ref"] = ref
    if node["quality"].value() != QUALITIES[0]:
        job["quality"] = node["quality"].value()
    if keyframes:
        job["keyframes"] = keyframes
    record = {"host": HOST, "kind": "node", "node": node.name(), "script": nuke.root().name(),
              "first": first, "last": last, "sequence": is_sequence(output)}
    return job, record


def update_read(node_name, record):
    """Main thread only: create or update the Read ``<node>_render`` showing the result."""
    name = node_name + "_render"
    read = nuke.toNode(name)
    if read is None:
        read = nuke.nodes.Read(name=name)
        source = nuke.toNode(node_name)
        if source is not None:
            read.setXYpos(source.xpos() + 120, source.ypos())
    read["file"].setValue(record["output"].replace(os.sep, "/"))
    read["first"].setValue(record["first"] if record["sequence"] else 1)
    read["last"].setValue(record["last"] if record["sequence"] else record["last"] - record["first"] + 1)
    read["reload"].execute()
    return read


def _set_status(node_name, text):
    node = nuke.toNode(node_name)
    if node is not None and "status" in node.knobs():
        node["status"].setValue(text)


def _say(text):
    host.log(text)
    if nuke.GUI:
        nuke.message("bokehfx: " + text)


def _remove_partial(path):
    """Remove what a cancelled render may have left at ``path`` (a movie, or a sequence's frames)."""
    if not is_sequence(path):
        if os.path.isfile(path):
            os.unlink(path)
        return
    folder, name = os.path.split(path)
    pattern = re.compile("^" + re.sub(r"%0?(\d*)d", lambda m: r"\d{%s,}" % (m.group(1) or 1),
                                      re.escape(name).replace(r"\%", "%")) + "$")
    for entry in os.listdir(folder or "."):
        if pattern.match(entry):
            os.unlink(os.path.join(folder, entry))


def _stop(pid):
    """SIGTERM (the CLI removes its temporary output), then SIGKILL after a grace period."""
    try:
        os.kill(pid, signal.SIGTERM)
    except OSError:
        return
    deadline = time.time() + CANCEL_GRACE_S
    while host.process_alive(pid) and time.time() < deadline:
        time.sleep(POLL_S / 5)
    if host.process_alive(pid):
        os.kill(pid, getattr(signal, "SIGKILL", signal.SIGTERM))


def follow(record, node_name, task=None):
    """Follow a started job until it ends; ``task``: a ProgressTask (cancel stops the render).

    Returns ``(status, detail)``: done (the final line), failed (its error line) or cancelled.
    """
    while True:
        status, detail = host.job_state(record)
        if status != host.STATUS_RUNNING:
            if task is not None and status == host.STATUS_DONE:
                task.setProgress(PERCENT)
            return status, detail
        if task is not None:
            if task.isCancelled():
                _stop(record["pid"])
                _remove_partial(record["output"])
                return "cancelled", "cancelled; nothing was written at " + record["output"]
            total = detail.get("frames_total") or 0
            if total:
                task.setProgress(int(PERCENT * detail.get("frames_done", 0) / total))
            task.setMessage(host.describe_progress(detail) if detail else "starting")
        time.sleep(POLL_S)


def _run(node_name, job, record):
    """Worker: start the render, follow it, then hand the result to the main thread."""
    task = nuke.ProgressTask("bokehfx: " + node_name) if nuke.GUI else None
    try:
        stored = host.submit(job, record)
        status, detail = follow(stored, node_name, task)
    except (OSError, RuntimeError) as err:
        status, detail = host.STATUS_FAILED, str(err)
    finally:
        del task
    if status == host.STATUS_DONE:
        message = "%s: rendered %s" % (node_name, stored["output"])
        host.log(message)
        if nuke.GUI:
            nuke.executeInMainThread(update_read, args=(node_name, stored))
            nuke.executeInMainThread(_set_status, args=(node_name, message))
        else:
            update_read(node_name, stored)
        return status, stored
    message = "%s: %s: %s" % (node_name, status, detail)
    if nuke.GUI:
        nuke.executeInMainThread(_say, args=(message,))
        nuke.executeInMainThread(_set_status, args=(node_name, message))
    else:
        host.log(message)
    return status, detail


def render_node(node, wait=None):
    """The Render button: build the job on the main thread, render on a worker thread (GUI).

    Returns the worker thread (GUI) or ``(status, detail)`` (command line, or ``wait``).
    """
    try:
        job, record = node_job(node)
        output_dir = os.path.dirname(job["output"])
        if output_dir:
            os.makedirs(output_dir, exist_ok=True)
    except (ValueError, OSError) as err:
        _say(str(err))
        return None
    name = node.name()
    if not nuke.GUI and not wait:
        return _run(name, job, record)
    worker = threading.Thread(target=_run, args=(name, job, record), name="bokehfx " + name, daemon=True)
    worker.start()
    return worker
