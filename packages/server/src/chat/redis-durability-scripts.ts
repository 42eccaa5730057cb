/**
 * The Lua scripts of `--redis-replicas` (see redis-durability.ts). Each
 * touches only the keys it declares, both of one room: the room's stream
 * (KEYS[1]) and its commit frontier (KEYS[2], a string holding the highest
 * `upTo` ever committed, so that readers of history need not scan markers).
 * WAIT itself cannot run inside a script; it runs between them.
 */

/** `a > b` for two stream ids `<ms>-<seq>`, in Lua. */
const AFTER = `
local function after(a, b)
  local am, as = string.match(a, '^(%d+)-(%d+)$')
  local bm, bs = string.match(b, '^(%d+)-(%d+)$')
  am, bm = tonumber(am), tonumber(bm)
  if am ~= bm then return am > bm end
  return tonumber(as) > tonumber(bs)
end`;

/**
 * Appends a held message: `hold <replicas> from <name> text <text> prev
 * <id>`, `prev` being the entry before it (the fan-out's gap check, as for
 * a plain message). ARGV: maxlen, from, text, replicas. Returns the id.
 */
export const HOLD_PUBLISH_SCRIPT = `
local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
local prev = '0-0'
if last[1] then prev = last[1][1] end
return redis.call('XADD', KEYS[1], 'MAXLEN', '=', ARGV[1], '*', 'hold', ARGV[4], 'from', ARGV[2], 'text', ARGV[3], 'prev', prev)`;

/**
 * Commits everything up to ARGV[2] (a WAIT confirmed it): raises the
 * frontier and appends `commit <upTo>`, unless the frontier is already
 * there. ARGV: maxlen, upTo, then the publisher's own ids, each checked to
 * still exist. Returns the ids that no longer exist (aborted or trimmed).
 */
export const COMMIT_SCRIPT = `${AFTER}
local missing = {}
for i = 3, #ARGV do
  if #redis.call('XRANGE', KEYS[1], ARGV[i], ARGV[i]) == 0 then missing[#missing + 1] = ARGV[i] end
end
local frontier = redis.call('GET', KEYS[2])
if (not frontier) or after(ARGV[2], frontier) then
  redis.call('SET', KEYS[2], ARGV[2])
  redis.call('XADD', KEYS[1], 'MAXLEN', '=', ARGV[1], '*', 'commit', ARGV[2])
end
return missing`;

/**
 * Drops a held message whose WAIT timed out, unless a commit already covers
 * it (another publisher's WAIT confirmed it meanwhile: it stays, and its
 * sender is acknowledged after all). ARGV: maxlen, id. Returns `committed`,
 * `gone` (not in the stream any more) or `aborted` (deleted, and
 * `abort <id>` appended so readers drop it).
 */
export const ABORT_SCRIPT = `${AFTER}
local frontier = redis.call('GET', KEYS[2])
if frontier and not after(ARGV[2], frontier) then return 'committed' end
if #redis.call('XRANGE', KEYS[1], ARGV[2], ARGV[2]) == 0 then return 'gone' end
redis.call('XDEL', KEYS[1], ARGV[2])
redis.call('XADD', KEYS[1], 'MAXLEN', '=', ARGV[1], '*', 'abort', ARGV[2])
return 'aborted'`;

/**
 * Reads only confirmed messages. The cut is the first held message after
 * the frontier: it and everything after it are not shown yet (order is
 * kept; markers are never returned). ARGV[1] is the mode:
 * - `top`: returns {start, cut}: where a new reader starts (the entry before
 *   the cut, or the stream's last entry when nothing waits);
 * - `last`: returns {cut, entries}: the last ARGV[3] messages before the
 *   cut, newest first (as XREVRANGE);
 * - `since`: returns {cut, entries}: the first ARGV[3] messages after id
 *   ARGV[2] and before the cut, oldest first (as XRANGE).
 * `cut` is false when nothing waits.
 */
export const CONFIRMED_READ_SCRIPT = `
local page = 200
local function isMessage(fields) return fields[1] == 'from' or fields[1] == 'hold' end
local frontier = redis.call('GET', KEYS[2]) or '0-0'
local cut = false
local from = '(' .. frontier
while true do
  local batch = redis.call('XRANGE', KEYS[1], from, '+', 'COUNT', page)
  for _, entry in ipairs(batch) do
    if entry[2][1] == 'hold' then cut = entry[1]; break end
  end
  if cut or #batch < page then break end
  from = '(' .. batch[#batch][1]
end
if ARGV[1] == 'top' then
  local before = redis.call('XREVRANGE', KEYS[1], cut and ('(' .. cut) or '+', '-', 'COUNT', 1)
  return {before[1] and before[1][1] or '0-0', cut}
end
local limit = tonumber(ARGV[3])
local out = {}
local reverse = ARGV[1] == 'last'
local lo, hi = '(' .. (ARGV[2] ~= '' and ARGV[2] or '0-0'), cut and ('(' .. cut) or '+'
while #out < limit do
  local batch
  if reverse then batch = redis.call('XREVRANGE', KEYS[1], hi, '-', 'COUNT', page)
  else batch = redis.call('XRANGE', KEYS[1], lo, hi, 'COUNT', page) end
  for _, entry in ipairs(batch) do
    if isMessage(entry[2]) and #out < limit then out[#out + 1] = entry end
  end
  if #batch < page then break end
  if reverse then hi = '(' .. batch[#batch][1] else lo = '(' .. batch[#batch][1] end
end
return {cut, out}`;
