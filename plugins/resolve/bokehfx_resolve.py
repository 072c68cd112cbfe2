"""bokehfx inside DaVinci Resolve (Workspace > Scripts): render the current clip or timeline, import takes.

Standard library only; it runs the ``bokehfx`` command (see ``bokehfx_host``). Written against
Blackmagic's scripting README and its quirks:

- indices are 1-based; failures return None/False rather than raising, so every call is checked;
- ``TimelineItem.GetMarkers()`` keys are floats: frame offsets from the item's first visible
  frame (so the clip's source frame is ``GetLeftOffset() + key``); values hold ``name``, ``note``,
  ``duration`` and ``customData``; focus markers carry ``bokehfx.focus/1`` JSON in ``customData``
  or ``note``, settings markers ``bokehfx.job/1`` JSON;
- the source range comes from ``GetLeftOffset()`` and ``GetDuration()`` (``GetSourceStartFrame()``
  can be off by one);
- ``GetMediaPoolItem()`` is None for titles and generators;
- ``Timeline.Export`` needs the live ``resolve.EXPORT_OTIO`` / ``resolve.EXPORT_NONE`` constants;
- ``MediaPool.ImportMedia`` imports into the current bin;
- ``fusion.UIManager`` is None on the free edition (19.1+): settings then come from markers and
  ``$BOKEHFX_HOME/settings.json``, and messages go to the Console and ``$BOKEHFX_HOME/bokehfx.log``;
- a blocking script freezes Resolve's script engine, so renders run detached.
"""

from __future__ import annotations

import os

import bokehfx_host as host

HOST = "resolve"
#: Frames rendered before and after the item's cut, so the take can be trimmed (settings: plugin.handles).
DEFAULT_HANDLES = 12
RENDERS_BIN = "bokehfx renders"
OUTPUT_EXTENSION = ".mov"
#: Render options asked for in the Studio dialog (job-file keys).
DIALOG_FIELDS = ("prompt", "focus", "blur", "renderer", "model", "quality")


def find_resolve(namespace):
    """The ``resolve`` object: the script's global, else ``bmd.scriptapp``, else DaVinciResolveScript."""
    app = namespace.get("resolve")
    if app is not None:
        return app
    bmd = namespace.get("bmd")
    if bmd is not None:
        app = bmd.scriptapp("Resolve")
        if app is not None:
            return app
    try:
        import DaVinciResolveScript
    except ImportError:
        return None
    return DaVinciResolveScript.scriptapp("Resolve")


def _plugin_settings():
    data = host.read_json(os.path.join(host.home(), host.SETTINGS_NAME), {}) or {}
    plugin = data.get("plugin") or {}
    return plugin if isinstance(plugin, dict) else {}


def base_settings():
    """Render options from the settings file (without the ``plugin`` section)."""
    return {k: v for k, v in host.user_settings().items() if k != "plugin"}


def _project_and_timeline(resolve):
    manager = resolve.GetProjectManager() if resolve is not None else None
    project = manager.GetCurrentProject() if manager else None
    if not project:
        raise ValueError("no project is open")
    timeline = project.GetCurrentTimeline()
    if not timeline:
        raise ValueError("the project has no current timeline")
    return project, timeline


def marker_entries(item):
    """``(source_frame, duration, data)`` of every bokehfx marker of ``item``, in frame order."""
    markers = item.GetMarkers() or {}
    left = int(item.GetLeftOffset() or 0)
    entries = []
    for key in sorted(markers, key=float):
        marker = markers[key] or {}
        data = host.parse_focus_json(marker.get("customData")) or host.parse_focus_json(marker.get("note"))
        if data is not None:
            entries.append((left + host.exact_frame(key), int(float(marker.get("duration") or 1)), data))
    return entries


def focus_keyframes(entries):
    """Job keyframes from marker entries: the marker's frame, a pull when it spans more than a frame."""
    keyframes = []
    for frame, duration, data in entries:
        if str(data.get("schema", host.FOCUS_SCHEMA)).startswith("bokehfx.job/"):
            continue
        keyframe = {k: v for k, v in data.items() if k != "schema"}
        keyframe["frame"] = frame
        if duration > 1:
            keyframe["duration"] = duration
        keyframes.append(keyframe)
    return keyframes


def marker_settings(entries):
    """Render options from ``bokehfx.job/1`` markers (later markers win)."""
    settings = {}
    for _, _, data in entries:
        if str(data.get("schema", "")).startswith("bokehfx.job/"):
            settings.update({k: v for k, v in data.items() if k not in ("schema", "keyframes")})
    return settings


def ask_settings(fusion, bmd, settings):
    """The Studio dialog (UIManager): returns the edited settings, or None when cancelled.

    Without UIManager (the free edition) the settings are returned unchanged.
    """
    ui = getattr(fusion, "UIManager", None) if fusion is not None else None
    if ui is None or bmd is None:
        return settings
    dispatcher = bmd.UIDispatcher(ui)
    rows = []
    for name in DIALOG_FIELDS:
        value = settings.get(name)
        rows.append(ui.HGroup([ui.Label({"Text": name, "MinimumSize": [90, 20]}),
                               ui.LineEdit({"ID": name, "Text": "" if value is None else str(value)})]))
    rows.append(ui.HGroup([ui.Button({"ID": "render", "Text": "Render"}), ui.Button({"ID": "cancel", "Text": "Cancel"})]))
    window = dispatcher.AddWindow({"ID": "bokehfx", "WindowTitle": "bokehfx: render clip"}, ui.VGroup(rows))
    answer = {"ok": False}

    def finish(ok):
        def handler(event):
            answer["ok"] = ok
            dispatcher.ExitLoop()
        return handler

    window.On.render.Clicked = finish(True)
    window.On.cancel.Clicked = finish(False)
    window.On.bokehfx.Close = finish(False)
    window.Show()
    dispatcher.RunLoop()
    window.Hide()
    if not answer["ok"]:
        return None
    items = window.GetItems()
    edited = dict(settings)
    for name in DIALOG_FIELDS:
        text = str(items[name].Text).strip()
        if text:
            edited[name] = text
        else:
            edited.pop(name, None)
    return edited


def clip_job(project, timeline, item, settings_override=None):
    """``(job, record)`` for the timeline item: its media, source range with handles, keyframes, settings."""
    media = item.GetMediaPoolItem()
    if not media:
        raise ValueError("the current item %r is a title, generator or compound clip: it has no media to render"
                         % item.GetName())
    path = media.GetClipProperty("File Path")
    if not path:
        raise ValueError("the media of %r has no file path" % item.GetName())
    left = int(item.GetLeftOffset() or 0)
    duration = int(item.GetDuration() or 0)
    if duration < 1:
        raise ValueError("the item %r has no duration" % item.GetName())
    plugin = _plugin_settings()
    handles = int(plugin.get("handles", DEFAULT_HANDLES))
    frames_text = media.GetClipProperty("Frames")
    media_frames = int(frames_text) if str(frames_text or "").isdigit() else None
    first = max(0, left - handles)
    last = left + duration - 1 + handles
    if media_frames:
        last = min(last, media_frames - 1)
    entries = marker_entries(item)
    settings = dict(base_settings())
    settings.update(marker_settings(entries))
    settings.update(settings_override or {})
    folder = plugin.get("output_folder") or os.path.join(os.path.dirname(path), "bokehfx")
    job_id = host.new_job_id()
    stem = os.path.splitext(os.path.basename(path))[0]
    output = os.path.join(folder, "%s.bokehfx.%s%s" % (stem, job_id, OUTPUT_EXTENSION))
    job = dict(settings)
    job.update({"input": path, "output": output, "frames": "%d-%d" % (first, last)})
    keyframes = focus_keyframes(entries)
    if keyframes:
        job["keyframes"] = keyframes
    record = {"host": HOST, "kind": "clip", "project": project.GetName(), "timeline": timeline.GetName(),
              "item": item.GetUniqueId(), "item_name": item.GetName(), "source": path,
              "first_frame": first, "take_start": left - first, "take_end": left - first + duration - 1}
    return job, record, job_id, folder


def render_clip(resolve, fusion=None, bmd=None):
    """Workspace > Scripts > bokehfx_render_clip: start a render of the current video item."""
    try:
        project, timeline = _project_and_timeline(resolve)
        item = timeline.GetCurrentVideoItem()
        if not item:
            raise ValueError("no video item under the playhead of %r" % timeline.GetName())
        job, record, job_id, folder = clip_job(project, timeline, item)
        asked = ask_settings(fusion, bmd, {k: v for k, v in job.items() if k in DIALOG_FIELDS})
        if asked is None:
            host.log("cancelled")
            return None
        for name in DIALOG_FIELDS:
            job.pop(name, None)
        job.update(asked)
        os.makedirs(folder, exist_ok=True)
        stored = host.submit(job, record, job_id)
    except (ValueError, RuntimeError, OSError) as err:
        host.log("render clip: %s" % err)
        return None
    host.log("rendering %r frames %s to %s (job %s); run bokehfx_import_renders when it is done"
             % (record["item_name"], job["frames"], job["output"], stored["id"]))
    return stored


def media_folder(timeline):
    """The folder of the first clip with media on the timeline's video tracks, or None."""
    for index in range(1, int(timeline.GetTrackCount("video") or 0) + 1):
        for item in timeline.GetItemListInTrack("video", index) or []:
            media = item.GetMediaPoolItem()
            path = media.GetClipProperty("File Path") if media else None
            if path:
                return os.path.dirname(path)
    return None


def render_timeline(resolve, fusion=None, bmd=None):
    """Workspace > Scripts > bokehfx_render_timeline: export OTIO, render every clip detached."""
    try:
        project, timeline = _project_and_timeline(resolve)
        otio_type = getattr(resolve, "EXPORT_OTIO", None)
        no_subtype = getattr(resolve, "EXPORT_NONE", None)
        if otio_type is None or no_subtype is None:
            raise ValueError("this Resolve has no EXPORT_OTIO constant (OpenTimelineIO export needs 18.5 or later)")
        media_dir = media_folder(timeline)
        if media_dir is None:
            raise ValueError("the timeline %r has no clip with media" % timeline.GetName())
        job_id = host.new_job_id()
        folder = host.job_dir(job_id)
        os.makedirs(folder, exist_ok=True)
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in timeline.GetName()) or "timeline"
        otio_path = os.path.join(folder, safe + ".otio")
        if not timeline.Export(otio_path, otio_type, no_subtype) or not os.path.isfile(otio_path):
            raise ValueError("Resolve could not export %r as OTIO to %s" % (timeline.GetName(), otio_path))
        out_dir = os.path.join(media_dir, "bokehfx_%s_%s" % (safe, job_id))
        job = dict(base_settings())
        job.update({"timeline": otio_path, "output": out_dir})
        record = {"host": HOST, "kind": "timeline", "project": project.GetName(), "timeline": timeline.GetName(),
                  "relinked": os.path.join(out_dir, safe + ".bokehfx.otio")}
        stored = host.submit(job, record, job_id)
    except (ValueError, RuntimeError, OSError) as err:
        host.log("render timeline: %s" % err)
        return None
    host.log("rendering timeline %r into %s (job %s)" % (timeline.GetName(), out_dir, stored["id"]))
    return stored


def find_item(project, record):
    """The timeline item a clip job was made from (by unique id), or None."""
    for index in range(1, int(project.GetTimelineCount() or 0) + 1):
        timeline = project.GetTimelineByIndex(index)
        if not timeline or timeline.GetName() != record.get("timeline"):
            continue
        for track in range(1, int(timeline.GetTrackCount("video") or 0) + 1):
            for item in timeline.GetItemListInTrack("video", track) or []:
                if item.GetUniqueId() == record.get("item"):
                    return item
    return None


def renders_bin(media_pool):
    """The ``bokehfx renders`` bin under the root (made when missing), or None."""
    root = media_pool.GetRootFolder()
    if not root:
        return None
    for folder in root.GetSubFolderList() or []:
        if folder.GetName() == RENDERS_BIN:
            return folder
    return media_pool.AddSubFolder(root, RENDERS_BIN) or None


def import_media(media_pool, path):
    """Import ``path`` into the renders bin (ImportMedia imports into the current bin); the item or None."""
    previous = media_pool.GetCurrentFolder()
    target = renders_bin(media_pool)
    if target:
        media_pool.SetCurrentFolder(target)
    try:
        items = media_pool.ImportMedia([path]) or []
    finally:
        if previous:
            media_pool.SetCurrentFolder(previous)
    return items[0] if items else None


def bring_back(project, record):
    """Import a finished job: a take on its item, or the relinked timeline. Returns a message."""
    media_pool = project.GetMediaPool()
    if record.get("kind") == "timeline":
        relinked = record.get("relinked")
        if not relinked or not os.path.isfile(relinked):
            raise ValueError("the relinked timeline %s is missing" % relinked)
        timeline = media_pool.ImportTimelineFromFile(relinked, {"timelineName": record["timeline"] + " bokehfx"})
        if not timeline:
            raise ValueError("Resolve could not import %s" % relinked)
        return "imported timeline %r from %s" % (timeline.GetName(), relinked)
    item = find_item(project, record)
    if item is None:
        raise ValueError("its item %r is no longer on timeline %r" % (record.get("item_name"), record.get("timeline")))
    media = import_media(media_pool, record["output"])
    if media is None:
        raise ValueError("Resolve could not import %s" % record["output"])
    if not item.AddTake(media, record["take_start"], record["take_end"]):
        raise ValueError("Resolve refused the take for %r" % record.get("item_name"))
    count = int(item.GetTakesCount() or 0)
    if count:
        item.SelectTakeByIndex(count)
    return "take %d of %r is %s" % (count, record.get("item_name"), record["output"])


def import_renders(resolve, fusion=None, bmd=None):
    """Workspace > Scripts > bokehfx_import_renders: bring finished jobs back, report the others.

    Returns ``{"imported": [...], "failed": [...], "running": [...]}`` (messages).
    """
    report = {"imported": [], "failed": [], "running": []}
    try:
        project, _ = _project_and_timeline(resolve)
    except ValueError as err:
        host.log("import renders: %s" % err)
        return report
    for record in host.queued_jobs(host=HOST, project=project.GetName()):
        if record.get("imported"):
            continue
        name = record.get("item_name") or record.get("timeline")
        status, detail = host.job_state(record)
        if status == host.STATUS_RUNNING:
            report["running"].append(host.log("%s: running, %s" % (name, host.describe_progress(detail))))
        elif status != host.STATUS_DONE:
            report["failed"].append(host.log("%s: %s: %s" % (name, status, detail)))
        else:
            try:
                message = bring_back(project, record)
            except ValueError as err:
                report["failed"].append(host.log("%s: rendered, but %s" % (name, err)))
                continue
            host.update_record(record, imported=True)
            report["imported"].append(host.log("%s: %s" % (name, message)))
    if not any(report.values()):
        host.log("no bokehfx jobs for project %r" % project.GetName())
    return report
