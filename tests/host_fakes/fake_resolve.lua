--[[
A fake of DaVinci Resolve's Lua scripting API (the same scenario and quirks as fake_resolve.py):
1-based indices, nil/false on failure, float marker keys, no media pool item for titles, Export
only with the live EXPORT_OTIO/EXPORT_NONE values, ImportMedia into the current folder, and no
UIManager on the free edition. Calls that change the project are recorded in resolve.calls.
]]

local F = {}

local function object(fields, methods)
  return setmetatable(fields, { __index = methods })
end

local function exists(path)
  local handle = io.open(path, "rb")
  if handle then handle:close() return true end
  return false
end

local function basename(path) return path:match("([^/\\]*)$") end

local MediaItem = {}
function MediaItem:GetClipProperty(name) return self.props[name] or "" end
function MediaItem:GetName() return self.props["Clip Name"] end
local function media_item(props) return object({ props = props }, MediaItem) end

local Item = {}
function Item:GetName() return self.data.name end
function Item:GetUniqueId() return self.data.id end
function Item:GetDuration() return self.data.duration end
function Item:GetStart() return self.data.start end
function Item:GetLeftOffset() return self.data.left_offset or 0 end
function Item:GetSourceStartFrame() return (self.data.left_offset or 0) + 1 end
function Item:GetMediaPoolItem() return self.media end
function Item:GetMarkers()
  local out = {}
  for key, marker in pairs(self.data.markers or {}) do out[tonumber(key) + 0.0] = marker end
  return out
end
function Item:AddTake(media, first, last)
  if getmetatable(media) == nil or getmetatable(media).__index ~= MediaItem then return false end
  if #self.takes == 0 then self.takes[1] = "original" end
  self.takes[#self.takes + 1] = media.props["File Path"]
  table.insert(self.resolve.calls, { "AddTake", self.data.id, media.props["File Path"], first, last })
  return true
end
function Item:GetTakesCount() return #self.takes end
function Item:SelectTakeByIndex(index)
  if type(index) ~= "number" or index < 1 or index > #self.takes then return false end
  table.insert(self.resolve.calls, { "SelectTakeByIndex", self.data.id, index })
  return true
end

local Timeline = {}
function Timeline:GetName() return self.data.name end
function Timeline:GetTrackCount(kind) if kind == "video" then return #self.tracks end return 0 end
function Timeline:GetItemListInTrack(kind, index)
  if kind ~= "video" or type(index) ~= "number" or index < 1 or index > #self.tracks then return nil end
  return self.tracks[index]
end
function Timeline:GetCurrentVideoItem()
  for _, track in ipairs(self.tracks) do
    for _, item in ipairs(track) do
      if item.data.id == self.data.current_item then return item end
    end
  end
  return nil
end
function Timeline:Export(path, kind, subtype)
  if kind ~= self.resolve.EXPORT_OTIO or subtype ~= self.resolve.EXPORT_NONE then return false end
  local handle = assert(io.open(path, "wb"))
  handle:write(F.json.encode({ OTIO_SCHEMA = "Timeline.1", name = self.data.name }))
  handle:close()
  table.insert(self.resolve.calls, { "Export", self.data.name, path })
  return true
end

local Folder = {}
function Folder:GetName() return self.name end
function Folder:GetSubFolderList() return self.subfolders end

local MediaPool = {}
function MediaPool:GetRootFolder() return self.root end
function MediaPool:GetCurrentFolder() return self.current end
function MediaPool:SetCurrentFolder(folder)
  if type(folder) ~= "table" or getmetatable(folder).__index ~= Folder then return false end
  self.current = folder
  return true
end
function MediaPool:AddSubFolder(parent, name)
  local folder = object({ name = name, subfolders = {} }, Folder)
  table.insert(parent.subfolders, folder)
  return folder
end
function MediaPool:ImportMedia(paths)
  local items = {}
  for _, path in ipairs(paths) do
    if exists(path) then
      items[#items + 1] = media_item({ ["File Path"] = path, ["Clip Name"] = basename(path) })
      table.insert(self.resolve.calls, { "ImportMedia", path, self.current.name })
    end
  end
  return items
end
function MediaPool:ImportTimelineFromFile(path, options)
  if not exists(path) then return nil end
  table.insert(self.resolve.calls, { "ImportTimelineFromFile", path, options.timelineName })
  return object({ data = { name = options.timelineName }, tracks = {}, resolve = self.resolve }, Timeline)
end

local Project = {}
function Project:GetName() return self.data.name end
function Project:GetTimelineCount() return #self.timelines end
function Project:GetTimelineByIndex(index)
  if type(index) ~= "number" or index < 1 or index > #self.timelines then return nil end
  return self.timelines[index]
end
function Project:GetCurrentTimeline()
  for _, timeline in ipairs(self.timelines) do
    if timeline.data.current then return timeline end
  end
  return nil
end
function Project:GetMediaPool() return self.media_pool end

local Resolve = {}
function Resolve:GetProjectManager()
  local resolve = self
  return { GetCurrentProject = function() return resolve.project end }
end

function F.build(scenario)
  local resolve = object({ calls = {} }, Resolve)
  resolve.EXPORT_OTIO = { constant = "EXPORT_OTIO" }
  resolve.EXPORT_NONE = { constant = "EXPORT_NONE" }
  if scenario.export_constants == false then resolve.EXPORT_OTIO = nil end
  local data = scenario.project
  local root = object({ name = "Master", subfolders = {} }, Folder)
  local project = object({ data = data, timelines = {}, media_pool = object({ root = root, current = root, resolve = resolve }, MediaPool) }, Project)
  for _, tdata in ipairs(data.timelines or {}) do
    local timeline = object({ data = tdata, tracks = {}, resolve = resolve }, Timeline)
    for _, track in ipairs(tdata.tracks or {}) do
      local items = {}
      for _, idata in ipairs(track) do
        local item = object({ data = idata, takes = {}, resolve = resolve }, Item)
        if type(idata.media) == "table" then
          item.media = media_item({ ["File Path"] = idata.media.path, ["Frames"] = tostring(idata.media.frames or ""),
                                    ["Clip Name"] = basename(idata.media.path) })
        end
        items[#items + 1] = item
      end
      timeline.tracks[#timeline.tracks + 1] = items
    end
    project.timelines[#project.timelines + 1] = timeline
  end
  resolve.project = project
  return resolve
end

-- Studio's UIManager and UIDispatcher: elements are their property tables (items.prompt.Text);
-- RunLoop plays the scenario's user: types the values, then clicks the button.
local UI = {}
local function element(props_or_children)
  local props = {}
  local children = {}
  if props_or_children[1] ~= nil then
    children = props_or_children
  else
    for k, v in pairs(props_or_children) do props[k] = v end
  end
  props.__children = children
  return props
end
for _, kind in ipairs({ "VGroup", "HGroup", "Label", "LineEdit", "Button" }) do
  UI[kind] = function(self, spec) return element(spec) end
end

local function collect(node, items)
  if node.ID then items[node.ID] = node end
  for _, child in ipairs(node.__children or {}) do collect(child, items) end
  return items
end

function F.studio(user)
  local ui = setmetatable({}, { __index = UI })
  local dispatcher = {}
  function dispatcher:AddWindow(props, root)
    local handlers = setmetatable({}, { __index = function(t, k) local events = {}; rawset(t, k, events); return events end })
    self.window = { props = props, root = root, On = handlers }
    function self.window:Show() end
    function self.window:Hide() end
    function self.window:GetItems() return collect(self.root, {}) end
    return self.window
  end
  function dispatcher:RunLoop()
    local items = self.window:GetItems()
    for key, value in pairs(user.values or {}) do items[key].Text = value end
    local button = user.click or "cancel"
    self.window.On[button].Clicked({ who = button })
  end
  function dispatcher:ExitLoop() end
  return ui, function(_) return dispatcher end
end

return F
