"""A fake of Nuke's Python API (the parts the BokehFX node uses), written from Foundry's reference.

Standard library only. Kept from the real thing:

- knob types: String/File/Double/Int/Boolean/XY/Enumeration/PyScript/Tab/Text knobs;
  ``Enumeration_Knob.value()`` is the item's text; ``isAnimated()`` is true for animation curves
  *and* expressions; ``valueAt(frame)`` evaluates either, returning a float for one channel and a
  list for several (``XY_Knob``); ``animation(i)`` gives the curve with its keys;
- the main-thread rule: creating nodes, adding knobs, ``setValue`` and ``nuke.message`` raise when
  called from another thread; work is handed over with ``executeInMainThread``, whose queue
  :func:`pump` runs on the main thread (Nuke's event loop);
- ``ProgressTask`` reports ``isCancelled()`` once the scenario's user presses cancel.
"""

from __future__ import annotations

import math
import threading
import time

GUI = True
#: Calls a ProgressTask takes before the (fake) user presses cancel; None never cancels.
cancel_after = None
main_queue = []
messages = []
violations = []
tasks = []
menus = []
plugin_paths = []
_nodes = []
_this = []
_selected = []


def _require_main(what):
    if threading.current_thread() is not threading.main_thread():
        violations.append(what)
        raise RuntimeError("%s from a worker thread: Nuke allows it only on the main thread "
                           "(use nuke.executeInMainThread)" % what)


class AnimationCurve:
    def __init__(self):
        self.keys_ = {}

    def setKey(self, frame, value):
        self.keys_[float(frame)] = float(value)

    def keys(self):
        return sorted(self.keys_.items())

    def evaluate(self, frame):
        points = self.keys()
        if not points:
            return 0.0
        if frame <= points[0][0]:
            return points[0][1]
        for (f0, v0), (f1, v1) in zip(points, points[1:]):
            if f0 <= frame <= f1:
                return v0 + (v1 - v0) * (frame - f0) / (f1 - f0)
        return points[-1][1]


class Knob:
    default = ""
    channels = 1

    def __init__(self, name, label=None, *rest):
        self._name = name
        self.label = label
        self._values = [self.default] * self.channels
        self._curves = [None] * self.channels
        self._expressions = [None] * self.channels

    def name(self):
        return self._name

    def value(self, channel=None):
        frame = frame_now[0]
        values = [self._channel_at(i, frame) for i in range(self.channels)]
        if channel is not None:
            return values[channel]
        return values[0] if self.channels == 1 else values

    getValue = value

    def setValue(self, value, channel=None):
        _require_main("Knob.setValue")
        if self.channels > 1 and isinstance(value, (list, tuple)):
            self._values = list(value)
        else:
            self._values[channel or 0] = value
        return True

    def setRange(self, low, high):
        self.range = (low, high)

    def setAnimated(self, channel=0):
        self._curves[channel] = self._curves[channel] or AnimationCurve()

    def setValueAt(self, value, frame, channel=0):
        self.setAnimated(channel)
        self._curves[channel].setKey(frame, value)

    def setExpression(self, expression, channel=0):
        self._expressions[channel] = expression

    def hasExpression(self, channel=0):
        return self._expressions[channel] is not None

    def isAnimated(self, channel=-1):
        channels = range(self.channels) if channel == -1 else [channel]
        return any(self._curves[i] is not None or self._expressions[i] is not None for i in channels)

    def animation(self, channel=0):
        return self._curves[channel]

    def _channel_at(self, channel, frame):
        if self._expressions[channel] is not None:
            return float(eval(self._expressions[channel], {"math": math, "frame": frame}))
        if self._curves[channel] is not None:
            return self._curves[channel].evaluate(frame)
        return self._values[channel]

    def valueAt(self, frame, channel=None):
        values = [float(self._channel_at(i, frame)) for i in range(self.channels)]
        if channel is not None:
            return values[channel]
        return values[0] if self.channels == 1 else values


class String_Knob(Knob):
    pass


class File_Knob(Knob):
    pass


class Text_Knob(Knob):
    pass


class Tab_Knob(Knob):
    pass


class Double_Knob(Knob):
    default = 0.0


class Int_Knob(Knob):
    default = 0


class Boolean_Knob(Knob):
    default = False


class XY_Knob(Knob):
    default = 0.0
    channels = 2


class Enumeration_Knob(Knob):
    def __init__(self, name, label, values):
        Knob.__init__(self, name, label)
        self.values = list(values)
        self._values = [self.values[0]]


class PyScript_Knob(Knob):
    def __init__(self, name, label=None, command=""):
        Knob.__init__(self, name, label)
        self.command = command
        self.owner = None
        self.executed = 0

    def execute(self):
        self.executed += 1
        if self.command:
            import nuke as module

            _this.append(self.owner)
            try:
                exec(self.command, {"nuke": module})
            finally:
                _this.pop()


frame_now = [1]


class Format:
    def __init__(self, width, height):
        self._w, self._h = width, height

    def width(self):
        return self._w

    def height(self):
        return self._h


class Node:
    def __init__(self, cls, **knob_values):
        _require_main("creating a %s node" % cls)
        self._class = cls
        self._name = knob_values.pop("name", None) or "%s%d" % (cls, 1 + sum(n._class == cls for n in _nodes))
        self._knobs = {}
        self._inputs = {}
        self._format = Format(*knob_values.pop("format", (1920, 1080)))
        self._pos = [0, 0]
        if cls == "Read":
            for knob in (File_Knob("file"), Int_Knob("first"), Int_Knob("last"), PyScript_Knob("reload")):
                self._add(knob)
        for key, value in knob_values.items():
            self._knobs[key].setValue(value)
        _nodes.append(self)

    def _add(self, knob):
        self._knobs[knob.name()] = knob
        if isinstance(knob, PyScript_Knob):
            knob.owner = self

    def addKnob(self, knob):
        _require_main("Node.addKnob")
        self._add(knob)
        return True

    def Class(self):
        return self._class

    def name(self):
        return self._name

    def setName(self, name):
        _require_main("Node.setName")
        self._name = name

    def knobs(self):
        return dict(self._knobs)

    def knob(self, name):
        return self._knobs.get(name)

    def __getitem__(self, name):
        return self._knobs[name]

    def input(self, index):
        return self._inputs.get(index)

    def setInput(self, index, node):
        self._inputs[index] = node
        return True

    def format(self):
        return self._format

    def xpos(self):
        return self._pos[0]

    def ypos(self):
        return self._pos[1]

    def setXYpos(self, x, y):
        self._pos = [x, y]

    def begin(self):
        return self

    def end(self):
        return None


class _Nodes:
    def __getattr__(self, cls):
        return lambda **knobs: Node(cls, **knobs)


nodes = _Nodes()


def createNode(cls, *args, **kwargs):
    node = Node(cls)
    if _selected:
        node.setInput(0, _selected[-1])
    return node


def select(node):
    _selected.append(node)


def toNode(name):
    return next((n for n in _nodes if n.name() == name), None)


def allNodes(cls=None):
    return [n for n in _nodes if cls is None or n.Class() == cls]


def thisNode():
    return _this[-1] if _this else None


class _Root:
    def name(self):
        return "/shows/demo/comp_v001.nk"


def root():
    return _Root()


def message(text):
    _require_main("nuke.message")
    messages.append(text)


def executeInMainThread(function, args=(), kwargs=None):
    main_queue.append((function, tuple(args), dict(kwargs or {})))


def pump(until, timeout):
    """Nuke's event loop: run what was handed to the main thread until ``until()`` (or timeout)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        while main_queue:
            function, args, kwargs = main_queue.pop(0)
            function(*args, **kwargs)
        if until() and not main_queue:
            return True
        time.sleep(0.05)
    return False


class ProgressTask:
    def __init__(self, title):
        self.title = title
        self.progress = []
        self.message_log = []
        self.calls = 0
        tasks.append(self)

    def setProgress(self, percent):
        self.progress.append(percent)
        self.calls += 1

    def setMessage(self, text):
        self.message_log.append(text)
        self.calls += 1

    def isCancelled(self):
        return cancel_after is not None and self.calls >= cancel_after


class _Menu:
    def __init__(self, path):
        self.path = path

    def addMenu(self, name):
        return _Menu(self.path + "/" + name)

    def addCommand(self, name, command, *args, **kwargs):
        menus.append((self.path + "/" + name, command))


def menu(name):
    return _Menu(name)


def pluginAddPath(path):
    plugin_paths.append(path)
