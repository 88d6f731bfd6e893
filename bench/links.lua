-- wrk script of the link benchmark (scripts/bench): the threads take the paths of
-- $LINK_PATHS in turn (thread k the k-th, then every $LINK_THREADS-th), so no path is asked
-- for twice before every path has been asked for once. wrk counts any answer but 2xx/3xx.
local paths = {}
for line in io.lines(os.getenv("LINK_PATHS")) do
  paths[#paths + 1] = line
end
local threads = 0

function setup(thread)
  thread:set("first", threads)
  threads = threads + 1
end

function init()
  step = tonumber(os.getenv("LINK_THREADS"))
  at = first
end

function request()
  local path = paths[at % #paths + 1]
  at = at + step
  return wrk.format("GET", path)
end
