/**
 * Lua scripts of the redis job store. Each runs atomically in Redis, so every decision that
 * must hold across replicas (one job per Idempotency-Key, one active job per cache key, the
 * bounded queue, a state transition from an expected state, the fair claim) is made in one place.
 *
 * Key layout under the prefix P = `{<T2V_REDIS_PREFIX>}` (docs/adr/0040-redis-queue-driver.md): the
 * braces make the prefix a Redis Cluster hash tag, so every key of one deployment hashes to one
 * slot and a script may touch any of them (docs/adr/0041-redis-high-availability.md).
 *   P:job:<id>          HASH, one field per Job property, each value JSON; `seq` a plain integer
 *   P:seq               STRING counter giving each job its sequence number
 *   P:jobs              ZSET id -> seq (listing, cursors)
 *   P:status:<status>   ZSET id -> seq (counts, queue order and position)
 *   P:idem:<key>        STRING job id holding an Idempotency-Key
 *   P:cache:<cacheKey>  ZSET id -> seq of every job with that cache key
 *   P:inflight:<cacheKey> STRING the queued or running job with that cache key
 *   P:expiry            ZSET id -> expiresAt of jobs whose outputs are not expired yet
 *   P:outbox            ZSET webhook id -> when it is due (or its lease ends)
 *   P:outbox:<id>       HASH intent (JSON), job (JSON snapshot at the change), attempts
 *   P:fair:vtime        STRING the fair queue's virtual time: the turn of the job claimed last
 *   P:fair:finish       HASH caller -> where that caller's last turn ends
 *   P:fair:queued       HASH caller -> its queued jobs (absent: none)
 *   P:fair:running      HASH caller -> its running jobs (absent: none)
 *   P:fair:maxrun       HASH caller -> its running cap (absent: none), as its last insert said
 *   P:usage             ZSET usage record (JSON) -> when the job ended (jobs/usage.ts)
 *   P:timings           HASH job shape -> learned run timing (JSON; jobs/estimates.ts)
 *
 * The queued set P:status:queued is scored by each job's turn (docs/adr/0079-fair-queue.md), so
 * its order, ties by id, is the order claims take and ZRANK is the queue position; every other
 * status set is scored by seq.
 *
 * Each script declares the keys it knows before it runs (KEYS, which also route it on a Cluster)
 * and takes P as ARGV[1] for the index keys it derives from the record (the status set a job
 * leaves, its cache key's sets); all of them carry the same hash tag, so they share the slot.
 */

const PRELUDE = `
local function dec(v)
  if v == false or v == nil then return nil end
  local x = cjson.decode(v)
  if x == cjson.null then return nil end
  return x
end

local function terminal(s)
  return s == 'completed' or s == 'failed' or s == 'cancelled'
end

-- Moves one job of a caller between the queued and running counts.
local function count_move(P, caller, old, new)
  if old == new then return end
  for _, pair in ipairs({{'queued', 'queued'}, {'in_progress', 'running'}}) do
    local h = P .. ':fair:' .. pair[2]
    if old == pair[1] then
      if redis.call('HINCRBY', h, caller, -1) <= 0 then redis.call('HDEL', h, caller) end
    end
    if new == pair[1] then redis.call('HINCRBY', h, caller, 1) end
  end
end

local function ms(x)
  return math.floor(x * 1000 + 0.5) / 1000
end

-- The usage record of a job that just ended (the same fields as usageOf in jobs/usage.ts).
local function record_usage(P, id, key, new)
  local params = dec(redis.call('HGET', key, 'params')) or {}
  local ended = dec(redis.call('HGET', key, 'completedAt')) or 0
  local frames, secs = 0, 0
  if new == 'completed' then
    frames = params.num_frames or 0
    if params.fps and params.fps > 0 then secs = ms(frames / params.fps) end
  end
  local u = cjson.encode({
    jobId = id,
    caller = dec(redis.call('HGET', key, 'caller')) or 'anonymous',
    model = dec(redis.call('HGET', key, 'model')),
    outcome = new,
    endedAt = ended,
    outputSeconds = secs,
    frames = frames,
    gpuSeconds = ms(dec(redis.call('HGET', key, 'gpuSeconds')) or 0),
    cached = dec(redis.call('HGET', key, 'cached')) == true,
  })
  redis.call('ZADD', P .. ':usage', string.format('%.0f', ended), u)
end

local function reindex(P, id, key, old, new)
  local seq = tonumber(redis.call('HGET', key, 'seq'))
  if old ~= new then
    if old then redis.call('ZREM', P .. ':status:' .. old, id) end
    local score = seq
    if new == 'queued' then score = dec(redis.call('HGET', key, 'turn')) or 0 end
    redis.call('ZADD', P .. ':status:' .. new, score, id)
    count_move(P, dec(redis.call('HGET', key, 'caller')) or 'anonymous', old, new)
    if terminal(new) and not terminal(old) then record_usage(P, id, key, new) end
  end
  local ck = dec(redis.call('HGET', key, 'cacheKey'))
  if ck and new ~= 'queued' and new ~= 'in_progress' then
    local ik = P .. ':inflight:' .. ck
    if redis.call('GET', ik) == id then redis.call('DEL', ik) end
  end
  local exp = dec(redis.call('HGET', key, 'expiresAt'))
  local expired = dec(redis.call('HGET', key, 'expired'))
  if type(exp) == 'number' and not expired then
    redis.call('ZADD', P .. ':expiry', exp, id)
  else
    redis.call('ZREM', P .. ':expiry', id)
  end
end

-- The job hash as one JSON object (its values are JSON already; seq a plain integer).
local function snapshot(key)
  local flat = redis.call('HGETALL', key)
  local parts = {}
  for i = 1, #flat, 2 do
    parts[#parts + 1] = cjson.encode(flat[i]) .. ':' .. flat[i + 1]
  end
  return '{' .. table.concat(parts, ',') .. '}'
end

-- Writes a webhook owed by the change just made to the job at key (intent '' = none).
local function add_delivery(P, key, intent)
  if intent == '' then return end
  local e = cjson.decode(intent)
  redis.call('HSET', P .. ':outbox:' .. e.id, 'intent', intent, 'job', snapshot(key), 'attempts', '0')
  redis.call('ZADD', P .. ':outbox', string.format('%.0f', e.at), e.id)
end

-- Applies field/value pairs from ARGV[first..] and the status change; nil unless in "from".
-- With an outbox intent, the delivery is written in the same script.
local function mutate(P, id, from, to, delta, intent, first)
  local key = P .. ':job:' .. id
  local raw = redis.call('HGET', key, 'status')
  if not raw then return nil end
  local old = dec(raw)
  if from ~= '' then
    local ok = false
    for s in string.gmatch(from, '[^,]+') do
      if s == old then ok = true end
    end
    if not ok then return nil end
  end
  local new = old
  if to ~= '' then new = to end
  for i = first, #ARGV, 2 do
    redis.call('HSET', key, ARGV[i], ARGV[i + 1])
  end
  if delta ~= 0 then
    local a = (dec(redis.call('HGET', key, 'attempts')) or 0) + delta
    redis.call('HSET', key, 'attempts', string.format('%d', a))
  end
  redis.call('HSET', key, 'status', cjson.encode(new))
  reindex(P, id, key, old, new)
  add_delivery(P, key, intent)
  return redis.call('HGETALL', key)
end
`;

/**
 * KEYS: P:job:<id>, P:seq, P:jobs. ARGV: P, id, status, idempotencyKey|'', cacheKey|'', maxQueue (0 = unbounded), outbox intent
 * JSON|'', caller, the caller's queued cap and running cap (0 = none), its turn length, then field/value pairs. A queued
 * job gets its turn. Returns {'OK', seq, turn} or a refusal: {'EXISTS'}, {'IDEM', id}, {'ACTIVE', id}, {'FULL', n},
 * {'CAP', cap}.
 */
export const INSERT = `${PRELUDE}
local P, id, status, idem, ck, maxq = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], tonumber(ARGV[6])
local caller, capq, capr, cost = ARGV[8], tonumber(ARGV[9]), tonumber(ARGV[10]), tonumber(ARGV[11])
local key = KEYS[1]
if redis.call('EXISTS', key) == 1 then return {'EXISTS'} end
local active = status == 'queued' or status == 'in_progress'
if idem ~= '' then
  local holder = redis.call('GET', P .. ':idem:' .. idem)
  if holder then return {'IDEM', holder} end
end
if ck ~= '' and active then
  local other = redis.call('GET', P .. ':inflight:' .. ck)
  if other and redis.call('EXISTS', P .. ':job:' .. other) == 1 then return {'ACTIVE', other} end
end
if status == 'queued' and maxq > 0 then
  local n = redis.call('ZCARD', P .. ':status:queued')
  if n >= maxq then return {'FULL', n} end
end
if status == 'queued' and capq > 0 then
  if tonumber(redis.call('HGET', P .. ':fair:queued', caller) or '0') >= capq then return {'CAP', capq} end
end
if idem ~= '' then redis.call('SET', P .. ':idem:' .. idem, id) end
local seq = redis.call('INCR', KEYS[2])
for i = 12, #ARGV, 2 do
  redis.call('HSET', key, ARGV[i], ARGV[i + 1])
end
redis.call('HSET', key, 'seq', seq)
redis.call('HSET', key, 'caller', cjson.encode(caller))
local turn = 0
if status == 'queued' then
  local v = tonumber(redis.call('GET', P .. ':fair:vtime') or '0')
  turn = math.max(v, tonumber(redis.call('HGET', P .. ':fair:finish', caller) or '0'))
  redis.call('HSET', key, 'turn', string.format('%.0f', turn))
  redis.call('HSET', P .. ':fair:finish', caller, string.format('%.0f', turn + cost))
  if capr > 0 then
    redis.call('HSET', P .. ':fair:maxrun', caller, capr)
  else
    redis.call('HDEL', P .. ':fair:maxrun', caller)
  end
end
redis.call('ZADD', KEYS[3], seq, id)
if ck ~= '' then
  redis.call('ZADD', P .. ':cache:' .. ck, seq, id)
  if active then redis.call('SET', P .. ':inflight:' .. ck, id) end
end
reindex(P, id, key, nil, status)
add_delivery(P, key, ARGV[7])
return {'OK', seq, string.format('%.0f', turn)}
`;

/**
 * KEYS: P:job:<id>. ARGV: P, id, from (comma list, '' = any), to ('' = unchanged), attempts delta, outbox intent
 * JSON|'', field/value pairs.
 */
export const MUTATE = `${PRELUDE}
return mutate(ARGV[1], ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5]), ARGV[6], 7)
`;

/**
 * KEYS: P:status:queued. ARGV: P, id|'', carrier|'', field/value pairs. Takes the queued job `id`, or without one the first
 * in turn order whose caller is below its running cap: in_progress, one more attempt, run under `carrier`; the virtual
 * time moves to its turn.
 */
export const CLAIM = `${PRELUDE}
local P, id, carrier = ARGV[1], ARGV[2], ARGV[3]
local function take(jid)
  local key = P .. ':job:' .. jid
  if carrier == '' then
    redis.call('HSET', key, 'carrier', 'null')
  else
    redis.call('HSET', key, 'carrier', cjson.encode(carrier))
  end
  local turn = dec(redis.call('HGET', key, 'turn')) or 0
  if turn > tonumber(redis.call('GET', P .. ':fair:vtime') or '0') then
    redis.call('SET', P .. ':fair:vtime', string.format('%.0f', turn))
  end
  return mutate(P, jid, 'queued', 'in_progress', 1, '', 4)
end
if id ~= '' then
  local raw = redis.call('HGET', P .. ':job:' .. id, 'status')
  if not raw or dec(raw) ~= 'queued' then return nil end
  return take(id)
end
local start = 0
while true do
  local ids = redis.call('ZRANGE', KEYS[1], start, start + 99)
  if #ids == 0 then return nil end
  for _, jid in ipairs(ids) do
    local c = dec(redis.call('HGET', P .. ':job:' .. jid, 'caller')) or 'anonymous'
    local cap = tonumber(redis.call('HGET', P .. ':fair:maxrun', c) or '0')
    if cap == 0 or tonumber(redis.call('HGET', P .. ':fair:running', c) or '0') < cap then return take(jid) end
  end
  start = start + 100
end
`;

/** KEYS: P:job:<id>, P:jobs, P:expiry. ARGV: P, id. Removes the record and every index entry; 1 if it existed. */
export const DELETE = `${PRELUDE}
local P, id = ARGV[1], ARGV[2]
local key = KEYS[1]
local raw = redis.call('HGET', key, 'status')
if not raw then return 0 end
local status = dec(raw)
local ck = dec(redis.call('HGET', key, 'cacheKey'))
local idem = dec(redis.call('HGET', key, 'idempotencyKey'))
redis.call('ZREM', KEYS[2], id)
redis.call('ZREM', P .. ':status:' .. status, id)
count_move(P, dec(redis.call('HGET', key, 'caller')) or 'anonymous', status, nil)
redis.call('ZREM', KEYS[3], id)
if ck then
  redis.call('ZREM', P .. ':cache:' .. ck, id)
  if redis.call('GET', P .. ':inflight:' .. ck) == id then redis.call('DEL', P .. ':inflight:' .. ck) end
end
if idem and redis.call('GET', P .. ':idem:' .. idem) == id then redis.call('DEL', P .. ':idem:' .. idem) end
redis.call('DEL', key)
return 1
`;

/**
 * KEYS: P:outbox. ARGV: P, now, lease end, limit. Outbox entries due at `now`, each leased (its due time moved to
 * the lease end) in the same script, so two replicas never hold one entry at once. Returns flat
 * triples: intent, job, attempts.
 */
export const CLAIM_DELIVERIES = `
local P = ARGV[1]
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[2], 'LIMIT', 0, tonumber(ARGV[4]))
local out = {}
for _, id in ipairs(ids) do
  local v = redis.call('HMGET', P .. ':outbox:' .. id, 'intent', 'job', 'attempts')
  if v[1] then
    redis.call('ZADD', KEYS[1], ARGV[3], id)
    out[#out + 1] = v[1]
    out[#out + 1] = v[2]
    out[#out + 1] = v[3]
  else
    redis.call('ZREM', KEYS[1], id)
  end
end
return out
`;

/** KEYS: P:outbox:<id>, P:outbox. ARGV: P, id, due, attempts. Puts a leased entry back (if it still exists). */
export const RESCHEDULE_DELIVERY = `
local id = ARGV[2]
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'attempts', ARGV[4])
redis.call('ZADD', KEYS[2], ARGV[3], id)
return 1
`;
