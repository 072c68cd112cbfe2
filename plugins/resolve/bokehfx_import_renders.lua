-- DaVinci Resolve, Workspace > Scripts > bokehfx_import_renders: the Lua twin of bokehfx_import_renders.py
-- (the free edition lists only Lua scripts since 21.1). Installed by `bokehfx plugin install resolve`,
-- which puts the shared code in $BOKEHFX_HOME/lib. Plain Lua, no libraries.
local home = os.getenv("BOKEHFX_HOME")
if not home or home == "" then
  home = (os.getenv("HOME") or os.getenv("USERPROFILE") or ".") .. "/.bokehfx"
end
package.path = home .. "/lib/?.lua;" .. package.path
local found, core = pcall(require, "bokehfx_resolve")
if found then
  core.import_renders(core.find_resolve())
else
  print("bokehfx: the plugin's library is missing from " .. home .. "/lib: run `bokehfx plugin install resolve`")
end
