-- Run a Resolve Lua menu script against the fake: lua run_resolve.lua SCENARIO SCRIPT OUT
-- The shared code (with its JSON reader) comes from $BOKEHFX_HOME/lib, as in Resolve.
local here = arg[0]:match("^(.*)[/\\]") or "."
package.path = here .. "/?.lua;" .. os.getenv("BOKEHFX_HOME") .. "/lib/?.lua;" .. package.path
local core = require("bokehfx_resolve")
local fake = require("fake_resolve")
fake.json = core.json
local scenario = core.json.decode(core.read_file(arg[1]))
local app = fake.build(scenario)
local provided = scenario.globals or "resolve"
fusion = { UIManager = nil }  -- the free edition
local dispatcher_factory = nil
if scenario.edition == "studio" then
  fusion.UIManager, dispatcher_factory = fake.studio(scenario.user or {})
end
if provided == "resolve" then
  resolve = app
end
if provided == "bmd" or dispatcher_factory then
  bmd = { scriptapp = function(name) if name == "Resolve" then return app end return nil end,
          UIDispatcher = dispatcher_factory }
end
dofile(arg[2])
local out = assert(io.open(arg[3], "wb"))
out:write(core.json.encode({ calls = app.calls }))
out:close()
