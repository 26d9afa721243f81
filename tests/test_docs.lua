-- test_docs.lua: lap.help's text and the README's Lua reference are one source.
-- scripts/lap/help_entries.lua must be exactly what scripts/gen_help.lua makes of
-- README.md (else: run `make docs`); the parser's rules and errors; the live help
-- shows the README's words; and every function reachable from the lap table, at
-- any depth (lap.fit, lap.nn.Linear, lap.data.circles, ...), has an entry.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local root = here .. "../"
local gen = dofile(root .. "scripts/gen_help.lua")
local expect_error = dofile(here .. "expect_error.lua")

local function read(path)
  local f = assert(io.open(path, "r"))
  local text = f:read("a")
  f:close()
  return text
end

-- 1. The committed entries are the README's, byte for byte.
local expected = gen.generate(root .. "README.md")
local committed = read(root .. "scripts/lap/help_entries.lua")
if expected ~= committed then
  local a, b = {}, {}
  for line in expected:gmatch("[^\n]*") do a[#a + 1] = line end
  for line in committed:gmatch("[^\n]*") do b[#b + 1] = line end
  local differ = {}
  for i = 1, math.max(#a, #b) do
    if a[i] ~= b[i] then
      differ[#differ + 1] = string.format("line %d:\n  from README: %s\n  committed:   %s", i, a[i] or "(none)",
        b[i] or "(none)")
      if #differ == 3 then break end
    end
  end
  error("scripts/lap/help_entries.lua disagrees with README.md's Lua reference; run `make docs`.\n" ..
    table.concat(differ, "\n"), 0)
end

-- 2. The format: areas, entries, continuation lines, escapes, the first sentence as summary.
local sample = table.concat({
  "# x", "- **ignored** · `outside the section`", "  not parsed",
  "## Lua reference", "prose, not help's", "<!-- help area nn: lap.nn (layers) -->",
  "- **nn.A** · `lap.nn.A(n)`", "  Makes an A, e.g. a small one. Details on h\\*v,", "  over two lines.",
  "- **nn.B** · `lap.nn.B()`", "  One sentence only", "", "<details>",
  "<!-- help area Module: Module (methods) -->", "- **Module:f** · `m:f()`", "  Runs f ... twice. Then stops.",
  "## Next", "- **after** · `not parsed`", "  text",
}, "\n")
local areas = gen.parse(sample, "sample")
assert(#areas == 2 and areas[1].key == "nn" and areas[1].title == "lap.nn (layers)" and areas[2].key == "Module",
  "two areas")
local a, b, f = areas[1].entries[1], areas[1].entries[2], areas[2].entries[1]
assert(#areas[1].entries == 2 and #areas[2].entries == 1, "entries per area")
assert(a.name == "nn.A" and a.signature == "lap.nn.A(n)", "name and signature")
assert(a.brief == "Makes an A, e.g. a small one.", "brief: " .. a.brief)
assert(a.details == "Details on h*v, over two lines.", "details joined, escape removed: " .. tostring(a.details))
assert(b.brief == "One sentence only" and b.details == nil, "a single sentence has no details")
assert(f.brief == "Runs f ... twice." and f.details == "Then stops.", "'...' does not end the sentence")
local rendered = gen.render(areas)
local reloaded = load(rendered, "rendered", "t", {})()
assert(reloaded[1].entries[1][4] == "Details on h*v, over two lines." and reloaded[2].entries[1][1] == "Module:f",
  "render gives a loadable table of the same entries")

-- Errors name the README line.
expect_error("sample:3: help entry 'x' before any '<!-- help area", gen.parse,
  "## Lua reference\n\n- **x** · `x()`\n  text", "sample")
expect_error("sample:5: help entry 'x' twice", gen.parse,
  "## Lua reference\n<!-- help area a: A -->\n- **x** · `x()`\n  text\n- **x** · `x()`\n  again", "sample")
expect_error("sample:3: help entry 'x' has no text", gen.parse,
  "## Lua reference\n<!-- help area a: A -->\n- **x** · `x()`\n", "sample")
expect_error("sample:3: help area 'a' twice", gen.parse,
  "## Lua reference\n<!-- help area a: A -->\n<!-- help area a: B -->", "sample")
expect_error("no '## Lua reference' section", gen.parse, "# nothing", "sample")

-- 3. The live help shows the README's words.
local readme_areas = gen.parse(read(root .. "README.md"), "README.md")
local count = 0
for _, area in ipairs(readme_areas) do
  for _, e in ipairs(area.entries) do
    count = count + 1
    local text = lap.help_text(e.name)
    assert(text, "lap.help has no entry for README's " .. e.name)
    local flat = text:gsub("%s+", " ")
    local brief = e.brief:gsub("%s+", " ")
    assert(flat:find(brief:sub(1, 40), 1, true), "help('" .. e.name .. "') does not show the README's text: " .. flat)
  end
end
assert(count == #lap.help_names(), string.format("README has %d entries, help %d", count, #lap.help_names()))

-- 4. Every function reachable from lap has an entry: lap.X as "X", lap.a.b.f as "a.b.f".
local documented = {}
for _, name in ipairs(lap.help_names()) do documented[name] = true end
local missing, seen, functions = {}, {}, 0
local function walk(t, prefix)
  if seen[t] then return end
  seen[t] = true
  local keys = {}
  for k in pairs(t) do if type(k) == "string" then keys[#keys + 1] = k end end
  table.sort(keys)
  for _, k in ipairs(keys) do
    local v, name = t[k], prefix .. k
    if type(v) == "function" then
      functions = functions + 1
      if not documented[name] then missing[#missing + 1] = "lap." .. name end
    elseif type(v) == "table" then
      walk(v, name .. ".")
    end
  end
end
walk(lap, "")
assert(#missing == 0, #missing .. " lap functions without a help entry (add them to README.md's Lua reference, " ..
  "then `make docs`): " .. table.concat(missing, ", "))
print(string.format("test_docs: ok (%d entries from README.md, %d lap functions documented)", count, functions))
