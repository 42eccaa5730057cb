/**
 * The Lua scripts of the Redis broker, each run atomically by Redis: the
 * publish script of the fan-out and the presence scripts. Each declares in
 * KEYS every key it touches (see the comment above it), so that on a Redis
 * Cluster all of them fall in one hash slot.
 */
import { createHash } from 'node:crypto';

/**
 * Append a message, recording the id before it so readers can tell a gap
 * (entries trimmed before they read them) from a quiet stream. On a Redis
 * Cluster it also rings the room's doorbell: `SPUBLISH` of the id on a
 * sharded channel in the room's slot (`<p>{<room>}:new`), which tells the
 * readers of other nodes to read the room (see redis-fanout.ts).
 * KEYS: stream. ARGV: entries kept, from, text, doorbell channel ('' on a standalone Redis).
 */
export const PUBLISH_SCRIPT = `
local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
local prev = '0-0'
if last[1] then prev = last[1][1] end
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '=', ARGV[1], '*', 'from', ARGV[2], 'text', ARGV[3], 'prev', prev)
if ARGV[4] ~= '' then redis.call('SPUBLISH', ARGV[4], id) end
return id`;

/**
 * How long the version of a room with no names online is kept. It must
 * outlive any node's watch of the empty room; a version that expires anyway
 * (or that Redis lost) restarts from 1, which watchers notice as a version
 * going backwards and read the names again.
 */
export const IDLE_VERSION_MS = 24 * 3_600_000;

/**
 * Add one connection to a room's presence, publishing the name when it came online.
 * KEYS: pconn (this node's), pcount, pnames, pver. ARGV: connection id, name, channel.
 */
export const JOIN_SCRIPT = `
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 0 end
if redis.call('HINCRBY', KEYS[2], ARGV[2], 1) == 1 then
  redis.call('ZADD', KEYS[3], 0, ARGV[2])
  local v = redis.call('INCR', KEYS[4])
  redis.call('PERSIST', KEYS[4])
  redis.call('PUBLISH', ARGV[3], cjson.encode({v = v, j = {ARGV[2]}}))
end
return 1`;

/**
 * Remove one connection from a room's presence, publishing the name when it went offline.
 * KEYS as JOIN_SCRIPT. ARGV: connection id, channel.
 */
export const LEAVE_SCRIPT = `
local name = redis.call('HGET', KEYS[1], ARGV[1])
if not name then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
if redis.call('HINCRBY', KEYS[2], name, -1) <= 0 then
  redis.call('HDEL', KEYS[2], name)
  redis.call('ZREM', KEYS[3], name)
  local v = redis.call('INCR', KEYS[4])
  if redis.call('EXISTS', KEYS[3]) == 0 then redis.call('PEXPIRE', KEYS[4], ${IDLE_VERSION_MS}) end
  redis.call('PUBLISH', ARGV[2], cjson.encode({v = v, l = {name}}))
end
return 1`;

/**
 * Make one node's connections in a room exactly the given id/name pairs,
 * publishing the names that came or went as one change. With no pairs it
 * removes them all: how a node leaves on close, and how the reaper removes a
 * dead node's connections, room by room.
 * KEYS as JOIN_SCRIPT (pconn of the node concerned). ARGV: channel, then id, name, id, name, ...
 */
export const SYNC_SCRIPT = `
local want = {}
for i = 2, #ARGV, 2 do want[ARGV[i]] = ARGV[i + 1] end
local stale = {}
local have = redis.call('HGETALL', KEYS[1])
for i = 1, #have, 2 do
  if want[have[i]] == have[i + 1] then want[have[i]] = nil else stale[#stale + 1] = {have[i], have[i + 1]} end
end
local delta, order = {}, {}
local function count(name, by)
  if delta[name] == nil then delta[name] = 0; order[#order + 1] = name end
  delta[name] = delta[name] + by
end
for id, name in pairs(want) do
  redis.call('HSET', KEYS[1], id, name)
  count(name, 1)
end
for _, entry in ipairs(stale) do
  if want[entry[1]] == nil then redis.call('HDEL', KEYS[1], entry[1]) end
  count(entry[2], -1)
end
local j, l = {}, {}
for _, name in ipairs(order) do
  local before = tonumber(redis.call('HGET', KEYS[2], name) or '0')
  local after = before + delta[name]
  if after > 0 then redis.call('HSET', KEYS[2], name, after) else redis.call('HDEL', KEYS[2], name) end
  if before <= 0 and after > 0 then
    redis.call('ZADD', KEYS[3], 0, name)
    j[#j + 1] = name
  elseif before > 0 and after <= 0 then
    redis.call('ZREM', KEYS[3], name)
    l[#l + 1] = name
  end
end
if #j + #l == 0 then return 0 end
local change = {v = redis.call('INCR', KEYS[4])}
if redis.call('EXISTS', KEYS[3]) == 0 then redis.call('PEXPIRE', KEYS[4], ${IDLE_VERSION_MS}) else redis.call('PERSIST', KEYS[4]) end
if #j > 0 then change.j = j end
if #l > 0 then change.l = l end
redis.call('PUBLISH', ARGV[1], cjson.encode(change))
return #j + #l`;

/**
 * A node's heartbeat: record it as alive now, by Redis's clock (one clock for
 * every node), and list the nodes whose last heartbeat is older than the TTL.
 * KEYS: nodes. ARGV: node id, TTL in ms. Returns {1 when the node was not
 * listed (new, presumed dead, or Redis lost its data), the dead nodes}.
 */
export const HEARTBEAT_SCRIPT = `
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local added = redis.call('ZADD', KEYS[1], now, ARGV[1])
return {added, redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[2]))}`;

/**
 * The names online and the version they are at, read together. KEYS: pver, pnames.
 */
export const SNAPSHOT_SCRIPT = `
return {redis.call('GET', KEYS[1]) or '0', redis.call('ZRANGE', KEYS[2], 0, -1)}`;

/**
 * The count of names and one page of them, read together.
 * KEYS: pnames. ARGV: ZRANGEBYLEX start, names to read.
 */
export const PAGE_SCRIPT = `
return {redis.call('ZCARD', KEYS[1]), redis.call('ZRANGEBYLEX', KEYS[1], ARGV[1], '+', 'LIMIT', 0, ARGV[2])}`;

const scriptHashes = new Map<string, string>();

/** The SHA-1 of a script, as `EVALSHA` wants it; computed once per script. */
export function scriptHash(script: string): string {
  let sha = scriptHashes.get(script);
  if (sha === undefined) scriptHashes.set(script, (sha = createHash('sha1').update(script).digest('hex')));
  return sha;
}
