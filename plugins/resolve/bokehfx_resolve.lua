--[[
bokehfx inside DaVinci Resolve: the Lua twin of bokehfx_resolve.py.

Since Resolve 21.1 the free edition lists only Lua scripts in Workspace > Scripts, so every
Python menu script has a Lua twin doing the same work with this module: the same job file, the
same queue under $BOKEHFX_HOME (default ~/.bokehfx), the same progress file. Plain Lua 5.1 (what
Fusion's LuaJIT speaks), no libraries. Resolve's quirks as in the Python module: 1-based indices,
nil/false on failure, float marker keys (frame offsets from the item's first visible frame), the
source range from GetLeftOffset() and GetDuration(), no media pool item for titles/generators, the
live resolve.EXPORT_OTIO / EXPORT_NONE constants, ImportMedia into the current bin.

Lua has no way to start a program from an argument list, so each argument is quoted for the
shell on its own (POSIX single quotes; Windows' CommandLineToArgvW rules) and the render runs in
the background with its output in the job's log. The free edition has no UIManager, so settings
come from bokehfx.job/1 markers and $BOKEHFX_HOME/settings.json; messages go to the Console and
$BOKEHFX_HOME/bokehfx.log. With UIManager (Studio) the same dialog as the Python script's is shown.
]]

local host = require("bokehfx_host")
-- Everything shared (JSON, files, the queue) is reached through this module as well.
local M = setmetatable({}, { __index = host })

M.HOST = "resolve"
M.DEFAULT_HANDLES = 12
M.RENDERS_BIN = "bokehfx renders"
M.OUTPUT_EXTENSION = ".mov"
-- Render options asked for in the Studio dialog (job-file keys), as in the Python script.
M.DIALOG_FIELDS = { "prompt", "focus", "blur", "renderer", "model", "quality" }

-- -------------------------------------------------------------------------------------- Resolve

function M.find_resolve()
  if resolve then return resolve end
  if bmd and bmd.scriptapp then return bmd.scriptapp("Resolve") end
  if Resolve then return Resolve() end
  return nil
end

local function project_and_timeline(app)
  local manager = app and app:GetProjectManager()
  local project = manager and manager:GetCurrentProject()
  if not project then error("no project is open", 0) end
  local timeline = project:GetCurrentTimeline()
  if not timeline then error("the project has no current timeline", 0) end
  return project, timeline
end

local function is_job_schema(data)
  return type(data.schema) == "string" and data.schema:sub(1, 12) == "bokehfx.job/"
end

function M.marker_entries(item)
  local markers = item:GetMarkers() or {}
  local left = tonumber(item:GetLeftOffset()) or 0
  local keys = {}
  for key in pairs(markers) do keys[#keys + 1] = key end
  table.sort(keys, function(a, b) return tonumber(a) < tonumber(b) end)
  local entries = {}
  for _, key in ipairs(keys) do
    local marker = markers[key] or {}
    local data = M.parse_focus_json(marker.customData) or M.parse_focus_json(marker.note)
    if data then
      entries[#entries + 1] = { frame = left + M.exact_frame(key), duration = tonumber(marker.duration) or 1, data = data }
    end
  end
  return entries
end

function M.focus_keyframes(entries)
  local keyframes = {}
  for _, entry in ipairs(entries) do
    if not is_job_schema(entry.data) then
      local keyframe = {}
      for k, v in pairs(entry.data) do
        if k ~= "schema" then keyframe[k] = v end
      end
      keyframe.frame = entry.frame
      if entry.duration > 1 then keyframe.duration = entry.duration end
      keyframes[#keyframes + 1] = keyframe
    end
  end
  return keyframes
end

function M.marker_settings(entries)
  local settings = {}
  for _, entry in ipairs(entries) do
    if is_job_schema(entry.data) then
      for k, v in pairs(entry.data) do
        if k ~= "schema" and k ~= "keyframes" then settings[k] = v end
      end
    end
  end
  return settings
end

function M.clip_job(project, timeline, item)
  local media = item:GetMediaPoolItem()
  if not media then
    error(string.format("the current item %q is a title, generator or compound clip: it has no media to render",
      item:GetName()), 0)
  end
  local path = media:GetClipProperty("File Path")
  if not path or path == "" then error("the media of " .. item:GetName() .. " has no file path", 0) end
  local left = tonumber(item:GetLeftOffset()) or 0
  local duration = tonumber(item:GetDuration()) or 0
  if duration < 1 then error("the item " .. item:GetName() .. " has no duration", 0) end
  local plugin = M.plugin_settings()
  local handles = tonumber(plugin.handles) or M.DEFAULT_HANDLES
  local media_frames = tonumber(media:GetClipProperty("Frames"))
  local first = math.max(0, left - handles)
  local last = left + duration - 1 + handles
  if media_frames and media_frames > 0 then last = math.min(last, media_frames - 1) end
  local entries = M.marker_entries(item)
  local job = M.base_settings()
  for k, v in pairs(M.marker_settings(entries)) do job[k] = v end
  local folder = plugin.output_folder or M.join(M.dirname(path), "bokehfx")
  local job_id = M.new_job_id()
  local stem = M.basename(path):gsub("%.[^.]*$", "")
  job.input = path
  job.output = M.join(folder, stem .. ".bokehfx." .. job_id .. M.OUTPUT_EXTENSION)
  job.frames = string.format("%d-%d", first, last)
  local keyframes = M.focus_keyframes(entries)
  if #keyframes > 0 then job.keyframes = keyframes end
  local record = { host = M.HOST, kind = "clip", project = project:GetName(), timeline = timeline:GetName(),
                   item = item:GetUniqueId(), item_name = item:GetName(), source = path, first_frame = first,
                   take_start = left - first, take_end = left - first + duration - 1 }
  return job, record, job_id, folder
end

-- The Studio dialog (UIManager): the edited settings, or nil when cancelled. Without UIManager (the
-- free edition) the settings come back unchanged.
function M.ask_settings(settings)
  local ui = fusion and fusion.UIManager
  if not ui or not bmd or not bmd.UIDispatcher then return settings end
  local dispatcher = bmd.UIDispatcher(ui)
  local rows = {}
  for _, name in ipairs(M.DIALOG_FIELDS) do
    local value = settings[name]
    rows[#rows + 1] = ui:HGroup({ ui:Label({ Text = name, MinimumSize = { 90, 20 } }),
                                  ui:LineEdit({ ID = name, Text = value == nil and "" or tostring(value) }) })
  end
  rows[#rows + 1] = ui:HGroup({ ui:Button({ ID = "render", Text = "Render" }), ui:Button({ ID = "cancel", Text = "Cancel" }) })
  local window = dispatcher:AddWindow({ ID = "bokehfx", WindowTitle = "bokehfx: render clip" }, ui:VGroup(rows))
  local accepted = false
  local function finish(answer)
    return function()
      accepted = answer
      dispatcher:ExitLoop()
    end
  end
  window.On.render.Clicked = finish(true)
  window.On.cancel.Clicked = finish(false)
  window.On.bokehfx.Close = finish(false)
  window:Show()
  dispatcher:RunLoop()
  window:Hide()
  if not accepted then return nil end
  local items = window:GetItems()
  local edited = {}
  for k, v in pairs(settings) do edited[k] = v end
  for _, name in ipairs(M.DIALOG_FIELDS) do
    local text = tostring(items[name].Text or ""):match("^%s*(.-)%s*$")
    if text ~= "" then edited[name] = text else edited[name] = nil end
  end
  return edited
end

function M.render_clip(app)
  local good, result = pcall(function()
    local project, timeline = project_and_timeline(app)
    local item = timeline:GetCurrentVideoItem()
    if not item then error("no video item under the playhead of " .. timeline:GetName(), 0) end
    local job, record, job_id, folder = M.clip_job(project, timeline, item)
    local current = {}
    for _, name in ipairs(M.DIALOG_FIELDS) do current[name] = job[name] end
    local asked = M.ask_settings(current)
    if asked == nil then
      M.log("cancelled")
      return nil
    end
    for _, name in ipairs(M.DIALOG_FIELDS) do job[name] = asked[name] end
    M.mkdirs(folder)
    local stored = M.submit(job, record, job_id)
    M.log(string.format("rendering %q frames %s to %s (job %s); run bokehfx_import_renders when it is done",
      record.item_name, job.frames, job.output, stored.id))
    return stored
  end)
  if not good then
    M.log("render clip: " .. tostring(result))
    return nil
  end
  return result
end

function M.media_folder(timeline)
  for index = 1, tonumber(timeline:GetTrackCount("video")) or 0 do
    for _, item in ipairs(timeline:GetItemListInTrack("video", index) or {}) do
      local media = item:GetMediaPoolItem()
      local path = media and media:GetClipProperty("File Path")
      if path and path ~= "" then return M.dirname(path) end
    end
  end
  return nil
end

function M.render_timeline(app)
  local good, result = pcall(function()
    local project, timeline = project_and_timeline(app)
    if app.EXPORT_OTIO == nil or app.EXPORT_NONE == nil then
      error("this Resolve has no EXPORT_OTIO constant (OpenTimelineIO export needs 18.5 or later)", 0)
    end
    local media_dir = M.media_folder(timeline)
    if not media_dir then error("the timeline " .. timeline:GetName() .. " has no clip with media", 0) end
    local job_id = M.new_job_id()
    local folder = M.job_dir(job_id)
    M.mkdirs(folder)
    local safe = timeline:GetName():gsub("[^%w%-_.]", "_")
    local otio_path = M.join(folder, safe .. ".otio")
    if not timeline:Export(otio_path, app.EXPORT_OTIO, app.EXPORT_NONE) or not M.exists(otio_path) then
      error("Resolve could not export " .. timeline:GetName() .. " as OTIO to " .. otio_path, 0)
    end
    local out_dir = M.join(media_dir, "bokehfx_" .. safe .. "_" .. job_id)
    local job = M.base_settings()
    job.timeline, job.output = otio_path, out_dir
    local record = { host = M.HOST, kind = "timeline", project = project:GetName(), timeline = timeline:GetName(),
                     relinked = M.join(out_dir, safe .. ".bokehfx.otio") }
    local stored = M.submit(job, record, job_id)
    M.log(string.format("rendering timeline %q into %s (job %s)", timeline:GetName(), out_dir, stored.id))
    return stored
  end)
  if not good then
    M.log("render timeline: " .. tostring(result))
    return nil
  end
  return result
end

function M.find_item(project, record)
  for index = 1, tonumber(project:GetTimelineCount()) or 0 do
    local timeline = project:GetTimelineByIndex(index)
    if timeline and timeline:GetName() == record.timeline then
      for track = 1, tonumber(timeline:GetTrackCount("video")) or 0 do
        for _, item in ipairs(timeline:GetItemListInTrack("video", track) or {}) do
          if item:GetUniqueId() == record.item then return item end
        end
      end
    end
  end
  return nil
end

function M.renders_bin(media_pool)
  local root = media_pool:GetRootFolder()
  if not root then return nil end
  for _, folder in ipairs(root:GetSubFolderList() or {}) do
    if folder:GetName() == M.RENDERS_BIN then return folder end
  end
  return media_pool:AddSubFolder(root, M.RENDERS_BIN)
end

function M.import_media(media_pool, path)
  local previous = media_pool:GetCurrentFolder()
  local target = M.renders_bin(media_pool)
  if target then media_pool:SetCurrentFolder(target) end
  local items = media_pool:ImportMedia({ path }) or {}
  if previous then media_pool:SetCurrentFolder(previous) end
  return items[1]
end

function M.bring_back(project, record)
  local media_pool = project:GetMediaPool()
  if record.kind == "timeline" then
    if not record.relinked or not M.exists(record.relinked) then
      error("the relinked timeline " .. tostring(record.relinked) .. " is missing", 0)
    end
    local imported = media_pool:ImportTimelineFromFile(record.relinked, { timelineName = record.timeline .. " bokehfx" })
    if not imported then error("Resolve could not import " .. record.relinked, 0) end
    return string.format("imported timeline %q from %s", imported:GetName(), record.relinked)
  end
  local item = M.find_item(project, record)
  if not item then
    error(string.format("its item %q is no longer on timeline %q", tostring(record.item_name), tostring(record.timeline)), 0)
  end
  local media = M.import_media(media_pool, record.output)
  if not media then error("Resolve could not import " .. tostring(record.output), 0) end
  if not item:AddTake(media, record.take_start, record.take_end) then
    error("Resolve refused the take for " .. tostring(record.item_name), 0)
  end
  local count = tonumber(item:GetTakesCount()) or 0
  if count > 0 then item:SelectTakeByIndex(count) end
  return string.format("take %d of %q is %s", count, tostring(record.item_name), record.output)
end

function M.import_renders(app)
  local report = { imported = {}, failed = {}, running = {} }
  local good, project = pcall(function() return (project_and_timeline(app)) end)
  if not good then
    M.log("import renders: " .. tostring(project))
    return report
  end
  local any = false
  for _, record in ipairs(M.queued_jobs({ host = M.HOST, project = project:GetName() })) do
    if not record.imported then
      any = true
      local name = record.item_name or record.timeline
      local status, detail = M.job_state(record)
      if status == "running" then
        table.insert(report.running, M.log(name .. ": running, " .. M.describe_progress(detail)))
      elseif status ~= "done" then
        table.insert(report.failed, M.log(name .. ": " .. status .. ": " .. tostring(detail)))
      else
        local brought, message = pcall(M.bring_back, project, record)
        if brought then
          M.update_record(record, { imported = true })
          table.insert(report.imported, M.log(name .. ": " .. message))
        else
          table.insert(report.failed, M.log(name .. ": rendered, but " .. tostring(message)))
        end
      end
    end
  end
  if not any then M.log("no bokehfx jobs for project " .. project:GetName()) end
  return report
end

return M
