"""Run the Nuke plugin against the fake, as Nuke would: ``python -I -S run_nuke.py PLUGIN_DIR SCENARIO OUT``.

Loads init.py (and menu.py when the scenario is a GUI session) from PLUGIN_DIR, makes a Read of
the scenario's clip, creates the BokehFX node from the menu, sets its knobs (values, animation
keys, expressions), presses Render, runs Nuke's main-thread queue until the worker is done and
writes what happened to OUT.
"""

import json
import os
import runpy
import sys
import threading

HERE = os.path.dirname(os.path.abspath(__file__))


def main(plugin_dir, scenario_path, out_path):
    sys.path[:0] = [HERE, plugin_dir]
    import nuke

    with open(scenario_path, encoding="utf-8") as handle:
        scenario = json.load(handle)
    nuke.GUI = scenario.get("gui", True)
    nuke.cancel_after = scenario.get("cancel_after")
    runpy.run_path(os.path.join(plugin_dir, "init.py"))
    if nuke.GUI:
        runpy.run_path(os.path.join(plugin_dir, "menu.py"))
    read = nuke.nodes.Read(file=scenario["file"], first=scenario["first"], last=scenario["last"],
                           format=scenario.get("format", (1920, 1080)))
    nuke.select(read)
    if nuke.GUI:
        command = dict(nuke.menus)["Nodes/Filter/BokehFX"]
        exec(command, {"nuke": nuke, "bokehfx_nuke": sys.modules["bokehfx_nuke"]})
    else:
        sys.modules["bokehfx_nuke"].create_node()
    node = nuke.toNode("BokehFX")
    for name, setting in scenario.get("knobs", {}).items():
        knob = node[name]
        if "expression" in setting:
            knob.setExpression(setting["expression"])
        for frame, value in setting.get("keys", []):
            if isinstance(value, list):
                for channel, v in enumerate(value):
                    knob.setValueAt(v, frame, channel)
            else:
                knob.setValueAt(value, frame)
        if "value" in setting:
            knob.setValue(setting["value"])
    node["render"].execute()
    workers = [t for t in threading.enumerate() if t.name.startswith("bokehfx ")]
    finished = nuke.pump(lambda: not any(t.is_alive() for t in workers), scenario.get("timeout", 150))
    render = nuke.toNode("BokehFX_render")
    result = {
        "finished": finished,
        "messages": nuke.messages,
        "violations": nuke.violations,
        "menus": [path for path, _ in nuke.menus],
        "progress": [t.progress for t in nuke.tasks],
        "read": None if render is None else {k: render[k].value() for k in ("file", "first", "last")},
        "reloaded": 0 if render is None else render["reload"].executed,
        "imported_bokehfx": "bokehfx" in sys.modules,
    }
    with open(out_path, "w", encoding="utf-8") as handle:
        json.dump(result, handle)


if __name__ == "__main__":
    main(*sys.argv[1:4])
