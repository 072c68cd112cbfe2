"""A fake of DaVinci Resolve's scripting API, written from Blackmagic's scripting README.

Standard library only (it runs beside the plugins under ``python -I -S``). Built from a scenario
(a JSON-able dict, see ``tests/test_plugins_resolve.py``). Quirks kept on purpose:

- indices are 1-based (``GetTimelineByIndex(0)``, ``GetItemListInTrack("video", 0)`` give None);
- failures return None or False, never raise;
- ``GetMarkers()`` keys are floats; ``GetMediaPoolItem()`` is None for titles/generators;
- ``GetSourceStartFrame()`` is off by one (use ``GetLeftOffset()``);
- ``Timeline.Export`` only works with the live ``EXPORT_OTIO``/``EXPORT_NONE`` objects, a string is
  silently ignored (False, nothing written);
- ``MediaPool.ImportMedia`` imports into the current folder;
- ``fusion.UIManager`` is None on the free edition.

Every call that changes the project is recorded in ``FakeResolve.calls``.
"""

from __future__ import annotations

import json
import os


class _Constant:
    """Resolve's export constants are opaque objects, not strings."""

    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return "<constant %s>" % self.name


class FakeMediaPoolItem:
    def __init__(self, properties, media_id):
        self.properties = dict(properties)
        self.media_id = media_id

    def GetClipProperty(self, name=None):
        if name is None:
            return dict(self.properties)
        return self.properties.get(name, "")

    def GetName(self):
        return self.properties.get("Clip Name", os.path.basename(self.properties.get("File Path", "")))

    def GetMediaId(self):
        return self.media_id


class FakeTimelineItem:
    def __init__(self, data, resolve):
        self.data = data
        self.resolve = resolve
        media = data.get("media")
        self.media = None
        if media:
            props = {"File Path": media["path"], "Frames": str(media.get("frames", "")),
                     "FPS": str(media.get("fps", 24)), "Clip Name": os.path.basename(media["path"])}
            self.media = FakeMediaPoolItem(props, "media-" + data["id"])
        self.takes = []
        self.selected_take = None

    def GetName(self):
        return self.data["name"]

    def GetUniqueId(self):
        return self.data["id"]

    def GetDuration(self):
        return self.data["duration"]

    def GetStart(self):
        return self.data["start"]

    def GetEnd(self):
        return self.data["start"] + self.data["duration"]

    def GetLeftOffset(self):
        return self.data.get("left_offset", 0)

    def GetSourceStartFrame(self):
        return self.data.get("left_offset", 0) + 1  # the documented off-by-one

    def GetMediaPoolItem(self):
        return self.media

    def GetMarkers(self):
        return {float(k): dict(v) for k, v in (self.data.get("markers") or {}).items()}

    def AddTake(self, media_pool_item, start_frame=None, end_frame=None):
        if not isinstance(media_pool_item, FakeMediaPoolItem):
            return False
        if not self.takes:
            self.takes.append({"media": self.media.GetClipProperty("File Path") if self.media else None})
        take = {"media": media_pool_item.GetClipProperty("File Path"), "start": start_frame, "end": end_frame}
        self.takes.append(take)
        self.resolve.calls.append(["AddTake", self.data["id"], take["media"], start_frame, end_frame])
        return True

    def GetTakesCount(self):
        return len(self.takes)

    def SelectTakeByIndex(self, index):
        if not isinstance(index, int) or not 1 <= index <= len(self.takes):
            return False
        self.selected_take = index
        self.resolve.calls.append(["SelectTakeByIndex", self.data["id"], index])
        return True


class FakeTimeline:
    def __init__(self, data, resolve):
        self.data = data
        self.resolve = resolve
        self.tracks = [[FakeTimelineItem(item, resolve) for item in track] for track in data.get("tracks", [])]

    def GetName(self):
        return self.data["name"]

    def GetStartFrame(self):
        return self.data.get("start_frame", 0)

    def GetTrackCount(self, kind):
        return len(self.tracks) if kind == "video" else 0

    def GetItemListInTrack(self, kind, index):
        if kind != "video" or not isinstance(index, int) or not 1 <= index <= len(self.tracks):
            return None
        return list(self.tracks[index - 1])

    def GetCurrentVideoItem(self):
        wanted = self.data.get("current_item")
        for track in self.tracks:
            for item in track:
                if item.GetUniqueId() == wanted:
                    return item
        return None

    def GetSetting(self, name=None):
        return str(self.data.get("fps", 24)) if name == "timelineFrameRate" else ""

    def Export(self, path, export_type, export_subtype=None):
        if export_type is not self.resolve.EXPORT_OTIO or export_subtype is not self.resolve.EXPORT_NONE:
            return False  # a string or a stale value is silently ignored
        with open(path, "w", encoding="utf-8") as handle:
            json.dump(self.otio(), handle, indent=1)
        self.resolve.calls.append(["Export", self.data["name"], path])
        return True

    def otio(self):
        """The timeline as OpenTimelineIO JSON (what Resolve's OTIO export writes, reduced)."""
        rate = self.data.get("fps", 24)

        def rt(value):
            return {"OTIO_SCHEMA": "RationalTime.1", "rate": rate, "value": float(value)}

        tracks = []
        for track in self.tracks:
            children = []
            for item in track:
                media = item.GetMediaPoolItem()
                reference = {"OTIO_SCHEMA": "MissingReference.1", "metadata": {}, "name": "",
                             "available_range": None, "available_image_bounds": None}
                if media:
                    reference = {"OTIO_SCHEMA": "ExternalReference.1", "metadata": {}, "name": "",
                                 "target_url": media.GetClipProperty("File Path"), "available_range": None,
                                 "available_image_bounds": None}
                children.append({
                    "OTIO_SCHEMA": "Clip.2", "name": item.GetName(), "metadata": {}, "effects": [],
                    "markers": [], "enabled": True, "color": None,
                    "source_range": {"OTIO_SCHEMA": "TimeRange.1", "start_time": rt(item.GetLeftOffset()),
                                     "duration": rt(item.GetDuration())},
                    "media_references": {"DEFAULT_MEDIA": reference}, "active_media_reference_key": "DEFAULT_MEDIA"})
            tracks.append({"OTIO_SCHEMA": "Track.1", "name": "", "kind": "Video", "metadata": {}, "effects": [],
                           "markers": [], "enabled": True, "color": None, "source_range": None, "children": children})
        return {"OTIO_SCHEMA": "Timeline.1", "name": self.GetName(), "metadata": {}, "global_start_time": None,
                "tracks": {"OTIO_SCHEMA": "Stack.1", "name": "tracks", "metadata": {}, "effects": [], "markers": [],
                           "enabled": True, "color": None, "source_range": None, "children": tracks}}


class FakeFolder:
    def __init__(self, name):
        self.name = name
        self.subfolders = []
        self.clips = []

    def GetName(self):
        return self.name

    def GetSubFolderList(self):
        return list(self.subfolders)

    def GetClipList(self):
        return list(self.clips)


class FakeMediaPool:
    def __init__(self, resolve):
        self.resolve = resolve
        self.root = FakeFolder("Master")
        self.current = self.root

    def GetRootFolder(self):
        return self.root

    def GetCurrentFolder(self):
        return self.current

    def SetCurrentFolder(self, folder):
        if not isinstance(folder, FakeFolder):
            return False
        self.current = folder
        return True

    def AddSubFolder(self, parent, name):
        if not isinstance(parent, FakeFolder) or not name:
            return None
        folder = FakeFolder(name)
        parent.subfolders.append(folder)
        return folder

    def ImportMedia(self, paths):
        if not isinstance(paths, list):
            return []
        items = []
        for path in paths:
            if not os.path.exists(path):
                continue  # Resolve skips what it cannot read
            item = FakeMediaPoolItem({"File Path": path, "Clip Name": os.path.basename(path)},
                                     "imported-%d" % len(self.resolve.calls))
            self.current.clips.append(item)
            items.append(item)
            self.resolve.calls.append(["ImportMedia", path, self.current.GetName()])
        return items

    def ImportTimelineFromFile(self, path, options=None):
        if not os.path.isfile(path):
            return None
        name = (options or {}).get("timelineName") or os.path.basename(path)
        timeline = FakeTimeline({"name": name, "tracks": []}, self.resolve)
        self.resolve.project.timelines.append(timeline)
        self.resolve.calls.append(["ImportTimelineFromFile", path, name])
        return timeline


class FakeProject:
    def __init__(self, data, resolve):
        self.data = data
        self.timelines = [FakeTimeline(t, resolve) for t in data.get("timelines", [])]
        self.media_pool = FakeMediaPool(resolve)

    def GetName(self):
        return self.data["name"]

    def GetTimelineCount(self):
        return len(self.timelines)

    def GetTimelineByIndex(self, index):
        if not isinstance(index, int) or not 1 <= index <= len(self.timelines):
            return None
        return self.timelines[index - 1]

    def GetCurrentTimeline(self):
        for timeline in self.timelines:
            if timeline.data.get("current"):
                return timeline
        return None

    def GetMediaPool(self):
        return self.media_pool


class FakeProjectManager:
    def __init__(self, project):
        self.project = project

    def GetCurrentProject(self):
        return self.project


class FakeResolve:
    def __init__(self, scenario):
        self.calls = []
        self.EXPORT_OTIO = _Constant("EXPORT_OTIO")
        self.EXPORT_NONE = _Constant("EXPORT_NONE")
        if not scenario.get("export_constants", True):
            del self.EXPORT_OTIO
        self.project = FakeProject(scenario["project"], self) if scenario.get("project") else None

    def GetProjectManager(self):
        return FakeProjectManager(self.project)

    def GetProductName(self):
        return "DaVinci Resolve"


class _Element:
    """A UIManager element: a dict of properties readable as attributes (``items["prompt"].Text``)."""

    def __init__(self, kind, props=None, children=None):
        self.kind = kind
        self.props = dict(props or {})
        self.children = children or []

    def __getattr__(self, name):
        try:
            return self.__dict__["props"][name]
        except KeyError:
            raise AttributeError(name) from None

    def walk(self):
        yield self
        for child in self.children:
            for element in child.walk():
                yield element


class FakeUIManager:
    """``fusion.UIManager`` of the Studio edition: builds elements."""

    def __getattr__(self, kind):
        def make(props_or_children=None, children=None):
            if isinstance(props_or_children, list):
                return _Element(kind, {}, props_or_children)
            return _Element(kind, props_or_children, children)
        return make


class _Handlers:
    def __init__(self):
        self.__dict__["by_id"] = {}

    def __getattr__(self, element_id):
        return self.__dict__["by_id"].setdefault(element_id, _Events())


class _Events:
    def __init__(self):
        self.__dict__["events"] = {}

    def __setattr__(self, name, handler):
        self.__dict__["events"][name] = handler


class FakeWindow:
    def __init__(self, props, root):
        self.props = props
        self.root = root
        self.On = _Handlers()
        self.shown = False

    def Show(self):
        self.shown = True

    def Hide(self):
        self.shown = False

    def GetItems(self):
        return {e.props["ID"]: e for e in self.root.walk() if "ID" in e.props}


class FakeDispatcher:
    """``bmd.UIDispatcher(ui)``: RunLoop plays the scenario's user (types values, clicks a button)."""

    def __init__(self, user):
        self.user = user
        self.windows = []

    def AddWindow(self, props, root):
        window = FakeWindow(props, root)
        self.windows.append(window)
        return window

    def RunLoop(self):
        window = self.windows[-1]
        items = window.GetItems()
        for key, value in (self.user.get("values") or {}).items():
            items[key].props["Text"] = value
        button = self.user.get("click", "cancel")
        window.On.by_id[button].events["Clicked"]({"who": button})

    def ExitLoop(self):
        pass


class FakeFusion:
    def __init__(self, studio):
        self.UIManager = FakeUIManager() if studio else None


class FakeBmd:
    def __init__(self, resolve, user):
        self.resolve = resolve
        self.user = user or {}

    def scriptapp(self, name):
        return self.resolve if name == "Resolve" else None

    def UIDispatcher(self, ui):
        return FakeDispatcher(self.user)


def build(scenario):
    """``(resolve, fusion, bmd)`` for a scenario."""
    resolve = FakeResolve(scenario)
    fusion = FakeFusion(scenario.get("edition") == "studio")
    return resolve, fusion, FakeBmd(resolve, scenario.get("user"))
