"""DaVinci Resolve, Workspace > Scripts > bokehfx_render_timeline: export the current timeline as OTIO and render every clip with bokehfx (detached).

Installed by `bokehfx plugin install resolve`, which puts the shared code in $BOKEHFX_HOME/lib.
Standard library only; Resolve provides the `resolve` (and `fusion`, `bmd`) globals.
"""

import os
import sys


def _core():
    home = os.environ.get("BOKEHFX_HOME") or os.path.join(os.path.expanduser("~"), ".bokehfx")
    lib = os.path.join(home, "lib")
    if lib not in sys.path:
        sys.path.insert(0, lib)
    try:
        import bokehfx_resolve
    except ImportError:
        print("bokehfx: the plugin's library is missing from %s: run `bokehfx plugin install resolve`" % lib)
        return None
    return bokehfx_resolve


_CORE = _core()
if _CORE is not None:
    _SCOPE = globals()
    _CORE.render_timeline(_CORE.find_resolve(_SCOPE), _SCOPE.get("fusion"), _SCOPE.get("bmd"))
