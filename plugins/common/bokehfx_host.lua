--[[
What every bokehfx host plugin written in Lua shares: the Lua twin of bokehfx_host.py.

A small JSON reader and writer, files and folders without libraries, arguments quoted one by one
for the shell (Lua cannot start a program from an argument list), and the job queue under
$BOKEHFX_HOME (default ~/.bokehfx): <id>/job.json, progress.jsonl, log.txt and record.json, the
same files the Python plugins write and read. Plain Lua 5.1 (what Fusion's LuaJIT speaks).
]]

local M = {}

M.JOB_SCHEMA = "bokehfx.job/1"
M.FOCUS_SCHEMA = "bokehfx.focus/1"
local WINDOWS = package.config:sub(1, 1) == "\\"
local SEP = WINDOWS and "\\" or "/"
local JOB_ID_HEX_DIGITS = 8

-- ------------------------------------------------------------------------------------------ JSON

local json = {}
M.json = json

local function is_array(t)
  local n = 0
  for _ in pairs(t) do n = n + 1 end
  if n == 0 then return false end
  for i = 1, n do
    if t[i] == nil then return false end
  end
  return true
end

local ESCAPES = { ['"'] = '\\"', ["\\"] = "\\\\", ["\b"] = "\\b", ["\f"] = "\\f", ["\n"] = "\\n",
                  ["\r"] = "\\r", ["\t"] = "\\t" }

local function encode_string(s)
  return '"' .. s:gsub('[%c"\\]', function(c)
    return ESCAPES[c] or string.format("\\u%04x", c:byte())
  end) .. '"'
end

local function encode_number(x)
  if x ~= x or x == math.huge or x == -math.huge then error("cannot write " .. tostring(x) .. " as JSON") end
  if math.floor(x) == x and math.abs(x) < 2 ^ 53 then return string.format("%d", x) end
  for digits = 15, 17 do
    local text = string.format("%." .. digits .. "g", x)
    if tonumber(text) == x then return text end
  end
  return string.format("%.17g", x)
end

function json.encode(value, indent)
  local kind = type(value)
  if kind == "nil" then return "null" end
  if kind == "boolean" then return tostring(value) end
  if kind == "number" then return encode_number(value) end
  if kind == "string" then return encode_string(value) end
  if kind ~= "table" then error("cannot write a " .. kind .. " as JSON") end
  local parts = {}
  if is_array(value) then
    for i = 1, #value do parts[#parts + 1] = json.encode(value[i]) end
    return "[" .. table.concat(parts, ", ") .. "]"
  end
  local keys = {}
  for k in pairs(value) do keys[#keys + 1] = tostring(k) end
  table.sort(keys)
  for _, k in ipairs(keys) do
    local v = value[k]
    if v == nil then v = value[tonumber(k)] end
    parts[#parts + 1] = encode_string(k) .. ": " .. json.encode(v)
  end
  return "{" .. table.concat(parts, ", ") .. "}"
end

local function utf8_char(code)
  if code < 0x80 then return string.char(code) end
  if code < 0x800 then return string.char(0xC0 + math.floor(code / 0x40), 0x80 + code % 0x40) end
  return string.char(0xE0 + math.floor(code / 0x1000), 0x80 + math.floor(code / 0x40) % 0x40, 0x80 + code % 0x40)
end

function json.decode(text)
  local pos = 1
  local function fail(what) error("bad JSON at " .. pos .. ": " .. what) end
  local function skip() pos = text:find("[^ \t\r\n]", pos) or (#text + 1) end
  local value
  local function str()
    local out = {}
    pos = pos + 1
    while true do
      local c = text:sub(pos, pos)
      if c == "" then fail("unterminated string") end
      if c == '"' then pos = pos + 1; break end
      if c == "\\" then
        local e = text:sub(pos + 1, pos + 1)
        local simple = { b = "\b", f = "\f", n = "\n", r = "\r", t = "\t" }
        if e == "u" then
          out[#out + 1] = utf8_char(tonumber(text:sub(pos + 2, pos + 5), 16))
          pos = pos + 6
        else
          out[#out + 1] = simple[e] or e
          pos = pos + 2
        end
      else
        out[#out + 1] = c
        pos = pos + 1
      end
    end
    return table.concat(out)
  end
  function value()
    skip()
    local c = text:sub(pos, pos)
    if c == "{" then
      local obj = {}
      pos = pos + 1
      skip()
      if text:sub(pos, pos) == "}" then pos = pos + 1; return obj end
      while true do
        skip()
        if text:sub(pos, pos) ~= '"' then fail("expected a key") end
        local k = str()
        skip()
        if text:sub(pos, pos) ~= ":" then fail("expected ':'") end
        pos = pos + 1
        obj[k] = value()
        skip()
        local d = text:sub(pos, pos)
        pos = pos + 1
        if d == "}" then return obj end
        if d ~= "," then fail("expected ',' or '}'") end
      end
    elseif c == "[" then
      local arr = {}
      pos = pos + 1
      skip()
      if text:sub(pos, pos) == "]" then pos = pos + 1; return arr end
      while true do
        arr[#arr + 1] = value()
        skip()
        local d = text:sub(pos, pos)
        pos = pos + 1
        if d == "]" then return arr end
        if d ~= "," then fail("expected ',' or ']'") end
      end
    elseif c == '"' then
      return str()
    elseif text:sub(pos, pos + 3) == "true" then pos = pos + 4; return true
    elseif text:sub(pos, pos + 4) == "false" then pos = pos + 5; return false
    elseif text:sub(pos, pos + 3) == "null" then pos = pos + 4; return nil
    end
    local num = text:match("^-?%d+%.?%d*[eE]?[-+]?%d*", pos)
    if not num or num == "" then fail("unexpected " .. c) end
    pos = pos + #num
    return tonumber(num)
  end
  local result = value()
  skip()
  if pos <= #text then fail("trailing text") end
  return result
end

-- --------------------------------------------------------------------------------- files and shell

function M.join(...)
  return table.concat({ ... }, SEP)
end

function M.dirname(path)
  return path:match("^(.*)[/\\][^/\\]*$") or "."
end

function M.basename(path)
  return path:match("([^/\\]*)$")
end

function M.home()
  local env = os.getenv("BOKEHFX_HOME")
  if env and env ~= "" then return env end
  return M.join(os.getenv("HOME") or os.getenv("USERPROFILE") or ".", ".bokehfx")
end

function M.quote(arg)
  arg = tostring(arg)
  if WINDOWS then
    arg = arg:gsub('(\\*)"', '%1%1\\"'):gsub("(\\+)$", "%1%1")
    return '"' .. arg .. '"'
  end
  return "'" .. arg:gsub("'", "'\\''") .. "'"
end

function M.command_line(args)
  local quoted = {}
  for i, a in ipairs(args) do quoted[i] = M.quote(a) end
  return table.concat(quoted, " ")
end

local function ok(status)
  return status == 0 or status == true
end

function M.read_file(path)
  local handle = io.open(path, "rb")
  if not handle then return nil end
  local text = handle:read("*a")
  handle:close()
  return text
end

function M.exists(path)
  local handle = io.open(path, "rb")
  if handle then handle:close() return true end
  return false
end

function M.mkdirs(path)
  if bmd and bmd.createdir then bmd.createdir(path) return end
  if WINDOWS then
    os.execute("if not exist " .. M.quote(path) .. " mkdir " .. M.quote(path))
  else
    os.execute("mkdir -p " .. M.quote(path))
  end
end

function M.listdir(path)
  local names = {}
  local command = WINDOWS and ("dir /b " .. M.quote(path) .. " 2>nul") or ("ls -1 " .. M.quote(path) .. " 2>/dev/null")
  local pipe = io.popen(command)
  if not pipe then return names end
  for line in pipe:lines() do
    if line ~= "" then names[#names + 1] = line end
  end
  pipe:close()
  table.sort(names)
  return names
end

function M.write_file(path, text)
  M.mkdirs(M.dirname(path))
  local tmp = M.join(M.dirname(path), ".tmp-" .. M.basename(path))
  local handle = assert(io.open(tmp, "wb"))
  handle:write(text)
  handle:close()
  if WINDOWS then os.remove(path) end
  assert(os.rename(tmp, path))
  return path
end

function M.read_json(path)
  local text = M.read_file(path)
  if not text then return nil end
  local good, data = pcall(json.decode, text)
  if good then return data end
  return nil
end

function M.write_json(path, data)
  return M.write_file(path, json.encode(data) .. "\n")
end

function M.log(message)
  local line = "bokehfx: " .. message
  print(line)
  local handle = io.open(M.join(M.home(), "bokehfx.log"), "ab")
  if handle then
    handle:write(os.date("%Y-%m-%d %H:%M:%S ") .. line .. "\n")
    handle:close()
  end
  return line
end

-- ---------------------------------------------------------------------------------------- queue

function M.cli_command()
  local config = M.read_json(M.join(M.home(), "plugins.json")) or {}
  if type(config.command) == "table" and #config.command > 0 then
    local copy = {}
    for i, part in ipairs(config.command) do copy[i] = part end
    return copy
  end
  return { "bokehfx" }
end

local function settings_file()
  return M.read_json(M.join(M.home(), "settings.json")) or {}
end

function M.base_settings()
  local out = {}
  for k, v in pairs(settings_file()) do
    if k ~= "schema" and k ~= "keyframes" and k ~= "plugin" then out[k] = v end
  end
  return out
end

function M.plugin_settings()
  local plugin = settings_file().plugin
  if type(plugin) == "table" then return plugin end
  return {}
end

local seeded = false
function M.new_job_id()
  if not seeded then
    math.randomseed(os.time() + math.floor(os.clock() * 1000000))
    seeded = true
  end
  local hex = {}
  for i = 1, JOB_ID_HEX_DIGITS do hex[i] = string.format("%x", math.random(0, 15)) end
  return os.date("%Y%m%d-%H%M%S-") .. table.concat(hex)
end

function M.job_dir(job_id)
  return M.join(M.home(), "queue", job_id)
end

function M.start_detached(args, log_path)
  local line = M.command_line(args)
  if WINDOWS then
    os.execute('start "" /B ' .. line .. " >> " .. M.quote(log_path) .. " 2>&1")
    return nil
  end
  local pipe = io.popen("nohup " .. line .. " </dev/null >>" .. M.quote(log_path) .. " 2>&1 & echo $!")
  local pid = pipe and pipe:read("*l")
  if pipe then pipe:close() end
  return tonumber(pid)
end

function M.submit(job, record, job_id)
  job_id = job_id or M.new_job_id()
  local folder = M.job_dir(job_id)
  M.mkdirs(folder)
  job.schema = M.JOB_SCHEMA
  local job_path = M.write_json(M.join(folder, "job.json"), job)
  local progress = M.join(folder, "progress.jsonl")
  local log_path = M.join(folder, "log.txt")
  local args = M.cli_command()
  for _, a in ipairs({ "render", "--job", job_path, "--progress-json", progress }) do args[#args + 1] = a end
  record.id, record.job, record.progress, record.log, record.args = job_id, job_path, progress, log_path, args
  record.output, record.submitted, record.imported = job.output, os.time(), false
  M.write_json(M.join(folder, "record.json"), record)
  record.pid = M.start_detached(args, log_path)
  M.write_json(M.join(folder, "record.json"), record)
  return record
end

function M.read_progress(path)
  local text = M.read_file(path) or ""
  local lines = {}
  local complete = text:match("^(.*\n)") or ""
  for line in complete:gmatch("([^\n]*)\n") do
    if line:match("%S") then
      local good, data = pcall(json.decode, line)
      if good and type(data) == "table" then lines[#lines + 1] = data end
    end
  end
  return lines
end

function M.process_alive(pid)
  if not pid then return nil end
  if WINDOWS then return nil end
  return ok(os.execute("kill -0 " .. string.format("%d", pid) .. " 2>/dev/null"))
end

function M.last_error_line(log_path)
  local text = M.read_file(log_path or "") or ""
  local last, last_error
  for line in text:gmatch("[^\r\n]+") do
    if line:match("%S") then last = line end
    if line:match("^error:") then last_error = line end
  end
  return last_error or last
end

function M.job_state(record)
  local lines = M.read_progress(record.progress or "")
  for i = #lines, 1, -1 do
    local line = lines[i]
    if line.status then
      if line.status == "done" then return "done", line end
      return line.status, line.error or M.last_error_line(record.log) or line.status
    end
  end
  local alive = M.process_alive(record.pid)
  local problem = M.last_error_line(record.log)
  if alive or (alive == nil and not (problem and problem:match("^error:"))) then
    return "running", lines[#lines] or {}
  end
  return "failed", problem or ("the render stopped without a word; see " .. tostring(record.log))
end

function M.describe_progress(line)
  local parts = { string.format("%s/%s frames", tostring(line.frames_done or 0), tostring(line.frames_total or "?")) }
  if line.fps then parts[#parts + 1] = string.format("%.1f fps", line.fps) end
  if line.seconds_left then parts[#parts + 1] = string.format("%d s left", math.floor(line.seconds_left + 0.5)) end
  return table.concat(parts, ", ")
end

function M.queued_jobs(match)
  local records = {}
  local root = M.join(M.home(), "queue")
  for _, name in ipairs(M.listdir(root)) do
    local record = M.read_json(M.join(root, name, "record.json"))
    if record then
      local wanted = true
      for k, v in pairs(match) do
        if record[k] ~= v then wanted = false end
      end
      if wanted then records[#records + 1] = record end
    end
  end
  return records
end

function M.update_record(record, changes)
  for k, v in pairs(changes) do record[k] = v end
  M.write_json(M.join(M.job_dir(record.id), "record.json"), record)
  return record
end

function M.parse_focus_json(text)
  if type(text) ~= "string" or not text:find("{", 1, true) then return nil end
  local first = text:find("{", 1, true)
  local last = text:match(".*()}")
  if not last then return nil end
  local good, data = pcall(json.decode, text:sub(first, last))
  if not good or type(data) ~= "table" then return nil end
  local schema = data.schema or M.FOCUS_SCHEMA
  if type(schema) ~= "string" or schema:sub(1, 8) ~= "bokehfx." then return nil end
  return data
end

function M.exact_frame(key)
  local value = tonumber(key)
  if math.floor(value) == value then return value end
  return math.floor(value + 0.5)
end

return M
