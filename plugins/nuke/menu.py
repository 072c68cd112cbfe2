"""bokehfx for Nuke, GUI only: Nodes > Filter > BokehFX creates the BokehFX node."""

import nuke

import bokehfx_nuke

nuke.menu("Nodes").addMenu("Filter").addCommand("BokehFX", "bokehfx_nuke.create_node()")
nuke.menu("Nuke").addMenu("bokehfx").addCommand("BokehFX node", bokehfx_nuke.create_node)
