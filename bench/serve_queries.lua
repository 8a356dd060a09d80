-- wrk script for bench/bench_serve.sh: GET /api/search with 500 distinct
-- text queries (20 subjects x 25 scenes), each wrk thread starting at a
-- different offset, so consecutive requests never repeat a query.
local subjects = { "a dog", "a cat", "a horse", "a child", "an old man", "a woman", "a bicycle",
  "a red car", "a sailboat", "a bird", "a train", "a guitar", "a cup of coffee", "a pizza",
  "a mountain goat", "a lighthouse", "a butterfly", "a skateboarder", "a tractor", "a snowman" }
local scenes = { "on a beach", "in the snow", "at night", "in a forest", "on a city street",
  "in the rain", "at sunset", "in a kitchen", "on a mountain", "in a park", "under water",
  "in a desert", "on a bridge", "in a library", "at a wedding", "in a field of flowers",
  "next to a river", "in a garage", "on a rooftop", "in a subway station", "at a market",
  "in fog", "on a farm", "in a stadium", "near a waterfall" }
local paths = {}
for _, s in ipairs(subjects) do
  for _, c in ipairs(scenes) do
    paths[#paths + 1] = "/api/search?k=10&q=" .. (s .. " " .. c):gsub(" ", "%%20")
  end
end
local counter = 0
local i = 0
function setup(thread)
  thread:set("i", counter * 250)
  counter = counter + 1
end
function request()
  i = i + 1
  return wrk.format("GET", paths[(i % #paths) + 1])
end
