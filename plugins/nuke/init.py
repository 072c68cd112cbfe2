"""bokehfx for Nuke, loaded at every start (GUI and command-line renders): no UI here.

Makes ``bokehfx_nuke`` importable, so scripts holding a BokehFX node load and render with
``nuke -t`` / ``nuke -x`` as well. The menu lives in menu.py (GUI only).
"""

import bokehfx_nuke  # noqa: F401  (the Render button's command imports it too)
