"""Run a Resolve menu script against the fake, as Resolve would: ``python -I -S run_resolve.py SCENARIO SCRIPT OUT``.

SCENARIO is a JSON file (see ``fake_resolve``); the script's globals are what Resolve provides
(``resolve``, ``fusion``, ``bmd``), or only ``bmd``, or none (then DaVinciResolveScript), as the
scenario's ``globals`` says. OUT receives the calls the script made on the fake.
"""

import json
import os
import runpy
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import DaVinciResolveScript  # noqa: E402
import fake_resolve  # noqa: E402


def main(scenario_path, script, out_path):
    with open(scenario_path, encoding="utf-8") as handle:
        scenario = json.load(handle)
    resolve, fusion, bmd = fake_resolve.build(scenario)
    provided = scenario.get("globals", "resolve")
    scope = {"fusion": fusion, "bmd": bmd}
    if provided == "resolve":
        scope["resolve"] = resolve
    elif provided == "module":
        scope = {}
        DaVinciResolveScript.APP = resolve
    runpy.run_path(script, init_globals=scope, run_name="__main__")
    with open(out_path, "w", encoding="utf-8") as handle:
        json.dump({"calls": resolve.calls, "imported_bokehfx": "bokehfx" in sys.modules},
                  handle, default=repr)


if __name__ == "__main__":
    main(*sys.argv[1:4])
