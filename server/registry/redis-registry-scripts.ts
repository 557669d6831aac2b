import { LUA_KEYS } from '../redis/redis-keys.js';
import { RedisScript } from '../redis/redis-script.js';

// The registry's Lua scripts (SPEC §5), beside the registry that runs them; redis-registry.ts
// holds the TypeScript side.

/**
 * Lua shared by the update scripts, after the key builders. All keys are built inside the
 * scripts from ARGV[1] (the prefix) because the index sets name further keys; see LUA_KEYS.
 */
const LUA_COMMON = `${LUA_KEYS}
local function pair(doc, user) return cjson.encode({doc, user}) end

local function is_live(p, node) return redis.call('EXISTS', K.node(p, node)) == 1 end

-- The user's value in a co:{doc} hash, or nil when absent or unreadable.
local function read_presence(ck, user)
  local raw = redis.call('HGET', ck, user)
  if not raw then return nil end
  local ok, v = pcall(cjson.decode, raw)
  if not ok or type(v) ~= 'table' or type(v.nodes) ~= 'table' then return nil end
  return v
end

-- Writes {"node","sessions","nodes"}, or deletes the field when no node is left (and Redis
-- deletes the hash with its last field). 'node' is the most recent node while it still holds
-- sessions, else the node with most sessions (ties: lowest id), so the value is deterministic.
local function write_presence(ck, user, nodes, node)
  if type(node) ~= 'string' or nodes[node] == nil then
    node = nil
    for n, c in pairs(nodes) do
      if node == nil or c > nodes[node] or (c == nodes[node] and n < node) then node = n end
    end
  end
  if node == nil then
    redis.call('HDEL', ck, user)
    return
  end
  redis.call('HSET', ck, user, '{"node":' .. cjson.encode(node) .. ',"sessions":' ..
    string.format('%d', nodes[node]) .. ',"nodes":' .. cjson.encode(nodes) .. '}')
end

-- Removes everything the node registered (not its liveness key); O(its entries).
local function remove_entries(p, node)
  local nu, nd = K.nodeUsers(p, node), K.nodeDocs(p, node)
  local users = redis.call('SMEMBERS', nu)
  for _, u in ipairs(users) do redis.call('HDEL', K.user(p, u), node) end
  local prs = redis.call('SMEMBERS', nd)
  for _, m in ipairs(prs) do
    local ok, pr = pcall(cjson.decode, m)
    if ok and type(pr) == 'table' and type(pr[1]) == 'string' and type(pr[2]) == 'string' then
      local ck = K.co(p, pr[1])
      local v = read_presence(ck, pr[2])
      if v then
        v.nodes[node] = nil
        write_presence(ck, pr[2], v.nodes, v.node)
      end
    end
  end
  redis.call('DEL', nu, nd, K.nodeWrites(p, node))
end

-- The four updates of a node's registrations; each one counts as a write in the node's
-- node-writes (by the caller) and never takes a count below zero.
local function add_session(p, node, user)
  redis.call('HINCRBY', K.user(p, user), node, 1)
  redis.call('SADD', K.nodeUsers(p, node), user)
end

local function remove_session(p, node, user)
  local uk = K.user(p, user)
  local c = tonumber(redis.call('HGET', uk, node))
  if c == nil then return end
  if c <= 1 then
    redis.call('HDEL', uk, node)
    redis.call('SREM', K.nodeUsers(p, node), user)
  else
    redis.call('HINCRBY', uk, node, -1)
  end
end

local function join_doc(p, node, doc, user)
  local ck = K.co(p, doc)
  local v = read_presence(ck, user)
  local nodes = (v and v.nodes) or {}
  nodes[node] = (nodes[node] or 0) + 1
  write_presence(ck, user, nodes, node)
  redis.call('SADD', K.nodeDocs(p, node), pair(doc, user))
end

local function leave_doc(p, node, doc, user)
  local ck = K.co(p, doc)
  local v = read_presence(ck, user)
  if not v or type(v.nodes[node]) ~= 'number' then return end
  local c = v.nodes[node] - 1
  if c <= 0 then
    v.nodes[node] = nil
    redis.call('SREM', K.nodeDocs(p, node), pair(doc, user))
  else
    v.nodes[node] = c
  end
  write_presence(ck, user, v.nodes, v.node)
end

local function forget_node(p, node)
  remove_entries(p, node)
  redis.call('DEL', K.node(p, node))
  redis.call('SREM', K.nodes(p), node)
end
`;

const SCRIPTS = {
  // ARGV: prefix, node, then the updates in the order they were made: 'a' user (a session
  // added), 'r' user (removed), 'j' doc user (a document joined), 'l' doc user (left). One script
  // for all the updates of a turn of the node's event loop: a reconnect storm's thousands of
  // registrations take tens of round trips, not thousands. Returns how many were applied.
  updates: `
local p, node = ARGV[1], ARGV[2]
local i, n, added = 3, 0, false
while i <= #ARGV do
  local op = ARGV[i]
  if op == 'a' then add_session(p, node, ARGV[i + 1]); added = true; i = i + 2
  elseif op == 'r' then remove_session(p, node, ARGV[i + 1]); i = i + 2
  elseif op == 'j' then join_doc(p, node, ARGV[i + 1], ARGV[i + 2]); added = true; i = i + 3
  elseif op == 'l' then leave_doc(p, node, ARGV[i + 1], ARGV[i + 2]); i = i + 3
  else return redis.error_reply('unknown registry update ' .. tostring(op)) end
  n = n + 1
end
redis.call('INCRBY', K.nodeWrites(p, node), n)
-- Known even if a sweep removed it a moment ago, so a later sweep finds these entries.
if added then redis.call('SADD', K.nodes(p), node) end
return n`,
  // ARGV: prefix, user. Returns the live nodes in the user's hash.
  locate: `
local p, user = ARGV[1], ARGV[2]
local out = {}
for _, n in ipairs(redis.call('HKEYS', K.user(p, user))) do
  if is_live(p, n) then out[#out + 1] = n end
end
return out`,
  // ARGV: prefix, doc, user. Returns the live nodes of the user's presence in the doc.
  locateDoc: `
local p, doc, user = ARGV[1], ARGV[2], ARGV[3]
local v = read_presence(K.co(p, doc), user)
local out = {}
if v then
  for n in pairs(v.nodes) do
    if type(n) == 'string' and is_live(p, n) then out[#out + 1] = n end
  end
end
return out`,
  // ARGV: prefix, doc. Returns { HGETALL of the doc, live nodes among those it names }.
  presence: `
local p, doc = ARGV[1], ARGV[2]
local flat = redis.call('HGETALL', K.co(p, doc))
local seen, live = {}, {}
for i = 2, #flat, 2 do
  local ok, v = pcall(cjson.decode, flat[i])
  if ok and type(v) == 'table' and type(v.nodes) == 'table' then
    for n in pairs(v.nodes) do
      if type(n) == 'string' and not seen[n] then
        seen[n] = true
        if is_live(p, n) then live[#live + 1] = n end
      end
    end
  end
end
return { flat, live }`,
  // ARGV: prefix
  liveNodes: `
local p = ARGV[1]
local out = {}
for _, n in ipairs(redis.call('SMEMBERS', K.nodes(p))) do
  if is_live(p, n) then out[#out + 1] = n end
end
return out`,
  // ARGV: prefix, node, ttlMs, nowMs. Returns { 1 when the liveness key was still there, the node's applied updates }.
  keepAlive: `
local p, node = ARGV[1], ARGV[2]
local nk = K.node(p, node)
local existed = redis.call('EXISTS', nk)
redis.call('SET', nk, ARGV[4], 'PX', ARGV[3])
redis.call('SADD', K.nodes(p), node)
return { existed, tonumber(redis.call('GET', K.nodeWrites(p, node)) or '0') }`,
  // ARGV: prefix, node
  removeNode: `
forget_node(ARGV[1], ARGV[2])
return 1`,
  // ARGV: prefix, the sweeping node (never taken for dead by itself), claim ttlMs. Returns the known
  // nodes it found dead and removed; their queues are claimed for it in the same step, so a dead
  // node that comes back (its liveness key set before it declares its queue) either is not found
  // dead or finds the claim and waits for the takeover to end.
  sweep: `
local p, self = ARGV[1], ARGV[2]
local out = {}
for _, n in ipairs(redis.call('SMEMBERS', K.nodes(p))) do
  if n ~= self and not is_live(p, n) then
    forget_node(p, n)
    redis.call('SET', K.queueClaim(p, n), self, 'PX', ARGV[3])
    out[#out + 1] = n
  end
end
return out`,
  // ARGV: prefix, claimed node, claiming node, ttlMs (0: release). Returns 1 while the claim was the caller's.
  holdClaim: `
local k, by = K.queueClaim(ARGV[1], ARGV[2]), ARGV[3]
if redis.call('GET', k) ~= by then return 0 end
if ARGV[4] == '0' then redis.call('DEL', k) else redis.call('SET', k, by, 'PX', ARGV[4]) end
return 1`,
  // ARGV: prefix, node. Returns the node taking over its queue, or false.
  queueClaim: `
return redis.call('GET', K.queueClaim(ARGV[1], ARGV[2]))`,
  // ARGV: prefix, node, ttlMs, nowMs, #users, (user, count)*, #docs, (doc, user, count)*, updates issued.
  // Replaces everything the node registered with the given counts, and refreshes its liveness.
  resync: `
local p, node = ARGV[1], ARGV[2]
remove_entries(p, node)
local i = 5
local nusers = tonumber(ARGV[i]); i = i + 1
for _ = 1, nusers do
  redis.call('HSET', K.user(p, ARGV[i]), node, ARGV[i + 1])
  redis.call('SADD', K.nodeUsers(p, node), ARGV[i])
  i = i + 2
end
local ndocs = tonumber(ARGV[i]); i = i + 1
for _ = 1, ndocs do
  local doc, user, c = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2])
  i = i + 3
  local ck = K.co(p, doc)
  local v = read_presence(ck, user)
  local nodes = (v and v.nodes) or {}
  nodes[node] = c
  write_presence(ck, user, nodes, (v and v.node) or node)
  redis.call('SADD', K.nodeDocs(p, node), pair(doc, user))
end
-- Counted from the updates issued so far: those still on their way add to it.
redis.call('SET', K.nodeWrites(p, node), ARGV[i])
redis.call('SET', K.node(p, node), ARGV[4], 'PX', ARGV[3])
redis.call('SADD', K.nodes(p), node)
return 1`,
} as const;

export type ScriptName = keyof typeof SCRIPTS;

/** One RedisScript per script, defined on the connection at first use. */
export const COMMANDS = Object.fromEntries(
  Object.entries(SCRIPTS).map(([name, body]) => [
    name,
    new RedisScript(`stompRelayRegistry_${name}`, `${LUA_COMMON}\n${body}`, 1),
  ]),
) as Record<ScriptName, RedisScript>;
