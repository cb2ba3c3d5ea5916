"""Lua scripts of the scheduler: every step that must be atomic across scheduler processes."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import redis
from redis.exceptions import NoScriptError

from rqstack import redis_direct
from rqstack.redis_direct import Arg

# Fencing: a step runs only while ARGV owner still holds the lease under the same fence token, so a
# paused or partitioned ex-leader cannot act after another process took over.
_FENCE = """
local function fenced(owner, token)
  if owner == '' then return true end
  return redis.call('GET', KEYS[2]) == owner and redis.call('GET', KEYS[3]) == token
end
"""

#: KEYS: schedule hash, names set, due index, version counter, job template. ARGV: mode, name,
#: definition, due score ('' = not due), keep existing due score if present ('1'/'0'), wake channel,
#: random version start, plan, template stamp, then the template's field/value pairs (see
#: rqstack.sched.template). Returns 1, 0 (exists) or -1 (missing).
SAVE_SCHEDULE = """
local exists = redis.call('EXISTS', KEYS[1])
if ARGV[1] == 'create' and exists == 1 then return 0 end
if ARGV[1] == 'update' and exists == 0 then return -1 end
redis.call('HSET', KEYS[1], 'definition', ARGV[3], 'plan', ARGV[8], 'template_stamp', ARGV[9])
redis.call('DEL', KEYS[5])
redis.call('HSET', KEYS[5], unpack(ARGV, 10))
redis.call('SADD', KEYS[2], ARGV[2])
-- A random start (ARGV[7]) so a flushed or restarted Redis never repeats a version a scheduler cached.
if redis.call('EXISTS', KEYS[4]) == 0 then redis.call('SET', KEYS[4], ARGV[7]) end
redis.call('INCR', KEYS[4])
if ARGV[4] == '' then
  redis.call('ZREM', KEYS[3], ARGV[2])
elseif not (ARGV[5] == '1' and redis.call('ZSCORE', KEYS[3], ARGV[2])) then
  redis.call('ZADD', KEYS[3], ARGV[4], ARGV[2])
end
redis.call('PUBLISH', ARGV[6], 'schedule')
return 1
"""

#: KEYS: schedule hash, names set, due index, runs list, job template, version counter, last-fire
#: hash. ARGV: name, random version start. Returns 1 when it existed.
DELETE_SCHEDULE = """
local existed = redis.call('DEL', KEYS[1])
if existed == 0 then return 0 end
redis.call('SREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('DEL', KEYS[4], KEYS[5])
redis.call('HDEL', KEYS[7], ARGV[1])
if redis.call('EXISTS', KEYS[6]) == 0 then redis.call('SET', KEYS[6], ARGV[2]) end
redis.call('INCR', KEYS[6])
return existed
"""

#: KEYS: leader, fence. ARGV: owner, lease ms. Returns the fence token when ``owner`` leads, else 0.
ACQUIRE_LEASE = """
local current = redis.call('GET', KEYS[1])
if current == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  local token = redis.call('GET', KEYS[2])
  if token then return tonumber(token) end
  return redis.call('INCR', KEYS[2])
end
if current then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return redis.call('INCR', KEYS[2])
"""

#: KEYS: leader. ARGV: owner. Deletes the lease only when ``owner`` still holds it.
RELEASE_LEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

#: KEYS: due index, leader, fence, rq:queues, last-fire hash. ARGV: owner, token, now ISO, history limit,
#: now in RQ's format, key prefixes (job, schedule, runs, job template, queue), and a JSON list of bundles:
#: [expected score, next score ('' = none), queue, overlap, missed count, due ISO, [[job id suffix, fire
#: ISO, fire unix time], ...], [name, ...]]. Schedules due at the same score with the same plan share one
#: bundle, so what they share is sent and decoded once (one JSON argument is far cheaper to send than many).
#: A schedule fires only if the index still holds the score it was planned from (compare-and-set), each
#: fire only if it is later than the schedule's last fire (a high-water mark in the last-fire hash, one
#: field per schedule, not a key per fire) and its job id (name .. suffix) unused: exactly once, whichever
#: process runs it. The job hash is a server-side COPY of the schedule's template hash, so a fire costs
#: two arguments, not the job's twenty fields. A Redis call from Lua costs about as much as the work of a
#: small one, so per fire the script makes as few as that allows (COPY, HSET of the times, LPUSH of the
#: run record): a bundle's index scores come from one ZMSCORE, its last fires from one HMGET and its
#: templates' existence from one EXISTS; COPY refuses an existing job key; queue pushes, due-index moves
#: and last fires are collected and sent in a few large calls at the end (each name occurs once in the
#: index, so deferring its move reads the same scores; queue order is kept); the history is trimmed only
#: once it is over its limit, and run records are built as strings (validated names and ISO times need no
#: JSON escaping).
FIRE = (
    _FENCE
    + """
if not fenced(ARGV[1], ARGV[2]) then return -1 end
local now, limit, rqnow = ARGV[3], tonumber(ARGV[4]), ARGV[5]
local jobp, schedp, runsp, tplp, queuep = ARGV[6], ARGV[7], ARGV[8], ARGV[9], ARGV[10]
local busy_status = {queued=true, started=true, scheduled=true, deferred=true}
local fired, skipped, missing = 0, 0, {}
local pushes, queue_order, moves, removes, lasts = {}, {}, {}, {}, {}
local queued_tail = '","enqueued_at":"' .. now .. '","job_id":"'
-- COPY (Redis >= 6.2) duplicates the template server-side, several times cheaper than moving its
-- fields through Lua; older servers answer it with an error and get HGETALL + HSET instead.
local can_copy = true
-- Returns false when dst already exists (that fire's job was made before): nothing is written.
local function copy_hash(src, dst)
  if can_copy then
    local reply = redis.pcall('COPY', src, dst)
    if type(reply) == 'number' then return reply == 1 end
    can_copy = false
  end
  if redis.call('EXISTS', dst) == 1 then return false end
  redis.call('HSET', dst, unpack(redis.call('HGETALL', src)))
  return true
end
-- Whether prefix .. name exists for every name: one EXISTS per 2,000 keys.
local function all_exist(prefix, names)
  for i = 1, #names, 2000 do
    local keys = {}
    for k = i, math.min(i + 1999, #names) do keys[#keys + 1] = prefix .. names[k] end
    if redis.call('EXISTS', unpack(keys)) ~= #keys then return false end
  end
  return true
end
-- The index scores of a bundle's names in one ZMSCORE per 2,000 (Redis >= 6.2), else one ZSCORE each.
local can_mscore = true
local function scores_of(names)
  local out = {}
  if can_mscore then
    for i = 1, #names, 2000 do
      local reply = redis.pcall('ZMSCORE', KEYS[1], unpack(names, i, math.min(i + 1999, #names)))
      if type(reply) ~= 'table' or reply.err then
        can_mscore = false
        break
      end
      for k = 1, #reply do out[i + k - 1] = reply[k] end
    end
    if can_mscore then return out end
  end
  for i, name in ipairs(names) do out[i] = redis.call('ZSCORE', KEYS[1], name) end
  return out
end
-- The last fires of a bundle's names ("<unix time> <job id> <fire ISO>" or false), one HMGET per 2,000.
local function lasts_of(names)
  local out = {}
  for i = 1, #names, 2000 do
    local reply = redis.call('HMGET', KEYS[5], unpack(names, i, math.min(i + 1999, #names)))
    for k = 1, #reply do out[i + k - 1] = reply[k] end
  end
  return out
end
local function record(rkey, text)
  if redis.call('LPUSH', rkey, text) > limit then redis.call('LTRIM', rkey, 0, limit - 1) end
end
-- In slices: unpack() of a whole large batch could overflow Lua's C stack.
local function bulk(command, key, items)
  for i = 1, #items, 2000 do
    redis.call(command, key, unpack(items, i, math.min(i + 1999, #items)))
  end
end
for _, b in ipairs(cjson.decode(ARGV[11])) do
  local expected, nextscore, qname, overlap, missed, due_iso, fires, names = unpack(b)
  expected = tonumber(expected)
  local nfires, qkey = #fires, queuep .. qname
  local currents = scores_of(names)
  local previous = lasts_of(names)
  -- Templates are checked one by one only when a bundle-wide EXISTS finds one missing.
  local all_templates = nfires == 0 or all_exist(tplp, names)
  for n, name in ipairs(names) do
    local skey, rkey = schedp .. name, runsp .. name
    local current = currents[n]
    local proceed = current and math.abs(tonumber(current) - expected) < 0.0005
    if proceed and not all_templates and redis.call('EXISTS', tplp .. name) == 0 then
      -- The job template is gone (Redis lost data): leave the index as it is, Python rewrites it.
      table.insert(missing, name)
      proceed = false
    end
    if proceed then
      -- The last fire is a high-water mark: a fire at or before it was made already (exactly once
      -- even after its job hash expired), and its job tells overlap=skip whether a run is busy.
      local last_ts, last_job = -1, nil
      if previous[n] then
        local ts, jid = string.match(previous[n], '^(%S+) (%S+)')
        last_ts, last_job = tonumber(ts), jid
      elseif overlap == 'skip' then  -- written by an older version
        last_job = redis.call('HGET', skey, 'last_job_id')
      end
      local busy = false
      if overlap == 'skip' and last_job then
        busy = busy_status[redis.call('HGET', jobp .. last_job, 'status') or ''] or false
      end
      if missed > 0 then
        record(rkey, cjson.encode({status='missed', count=missed, fire_time=due_iso, recorded_at=now}))
      end
      local last_value = nil
      for _, fire in ipairs(fires) do
        local jid, fire_iso, fire_ts = name .. fire[1], fire[2], tonumber(fire[3])
        local jkey = jobp .. jid
        if busy then
          skipped = skipped + 1
          record(rkey, cjson.encode({status='skipped', reason='overlap', fire_time=fire_iso,
            recorded_at=now}))
        elseif fire_ts > last_ts and copy_hash(tplp .. name, jkey) then
          -- The template carries origin and every other field; only the times and status are per fire.
          redis.call('HSET', jkey, 'created_at', rqnow, 'enqueued_at', rqnow, 'status', 'queued')
          local queued = pushes[qkey]
          if not queued then
            queued = {}
            pushes[qkey] = queued
            table.insert(queue_order, qkey)
          end
          table.insert(queued, jid)
          record(rkey, '{"status":"queued","fire_time":"' .. fire_iso .. queued_tail .. jid .. '"}')
          last_ts, last_value = fire_ts, fire[3] .. ' ' .. jid .. ' ' .. fire_iso
          fired = fired + 1
          busy = overlap == 'skip'
        end
      end
      if last_value then
        table.insert(lasts, name)
        table.insert(lasts, last_value)
      end
      if nextscore == '' then
        table.insert(removes, name)
      else
        table.insert(moves, nextscore)
        table.insert(moves, name)
      end
    end
  end
end
for _, qkey in ipairs(queue_order) do
  bulk('RPUSH', qkey, pushes[qkey])
  redis.call('SADD', KEYS[4], qkey)
end
bulk('ZADD', KEYS[1], moves)
bulk('ZREM', KEYS[1], removes)
bulk('HSET', KEYS[5], lasts)
return {fired, skipped, missing}
"""
)

#: ARGV: job template key prefix, schedule key prefix, number S of field/value pairs every template
#: shares, those pairs, then per template: schedule name, SHA-1 of the definition it was built from,
#: plan, stamp, number N of its own pairs, those pairs. Replaces each template and its schedule's
#: plan and stamp, unless the definition changed since it was read (a save wrote its own then).
#: The shared pairs are sent once, not once per schedule: packing arguments is most of what writing
#: 10k templates costs. Returns the names it left alone.
WRITE_TEMPLATES = """
local tplp, schedp, nshared = ARGV[1], ARGV[2], tonumber(ARGV[3])
local i, changed = 4 + 2 * nshared, {}
while i <= #ARGV do
  local name, digest, own = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 4])
  local skey, key = schedp .. name, tplp .. name
  local definition = redis.call('HGET', skey, 'definition')
  if definition and redis.sha1hex(definition) == digest then
    local fields = {}
    for k = 4, 3 + 2 * nshared do fields[#fields + 1] = ARGV[k] end
    for k = i + 5, i + 4 + 2 * own do fields[#fields + 1] = ARGV[k] end
    redis.call('DEL', key)
    if #fields > 0 then redis.call('HSET', key, unpack(fields)) end
    redis.call('HSET', skey, 'plan', ARGV[i + 2], 'template_stamp', ARGV[i + 3])
  else
    changed[#changed + 1] = name
  end
  i = i + 5 + 2 * own
end
return changed
"""

#: KEYS: due index, version counter. ARGV: max score, count. Returns {"name score name score ...",
#: version}: the due batch as one string, which redis-py reads ~5x faster than 2 x count replies
#: (names match NAME_RE, so a space never occurs in one; scores come as %.17g, exact as floats).
DUE_BATCH = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'WITHSCORES', 'LIMIT', 0, ARGV[2])
return {table.concat(due, ' '), redis.call('GET', KEYS[2])}
"""

# Moving a job to its queue the way RQ's own scheduler does (Queue._enqueue_job): status queued,
# enqueued_at now, TTL as Job.cleanup sets it, pushed at the front when the job asks for it.
_QUEUE_JOB = """
local function queue_job(jkey, qkey, id, enqueued_at)
  local f = redis.call('HMGET', jkey, 'enqueue_at_front', 'enqueue_at_front_on_retry', 'ended_at', 'ttl')
  redis.call('HSET', jkey, 'status', 'queued', 'enqueued_at', enqueued_at)
  local ttl = tonumber(f[4] or '')
  if ttl and ttl > 0 then redis.call('EXPIRE', jkey, ttl) end
  redis.call('SADD', KEYS[4], qkey)
  if f[1] == '1' or (f[2] == '1' and f[3] and f[3] ~= '') then
    redis.call('LPUSH', qkey, id)
  else
    redis.call('RPUSH', qkey, id)
  end
end
"""

#: KEYS: (unused), leader, fence, rq:queues, scheduler state. ARGV: owner, token, now, enqueued_at,
#: batch, registry prefix, queue prefix, job prefix. Moves due jobs of every RQ ScheduledJobRegistry;
#: rate-limited ones are returned for RQ's own code. Returns {moved, more, {queue, id, ...}}, nothing
#: moved while the scheduler is paused, or -1 when fenced out.
MOVE_REGISTRIES = (
    _FENCE
    + _QUEUE_JOB
    + """
if not fenced(ARGV[1], ARGV[2]) then return -1 end
if redis.call('HGET', KEYS[5], 'paused') == '1' then return {0, 0, {}} end
local budget = tonumber(ARGV[5])
local moved, more, slow = 0, 0, {}
for _, qkey in ipairs(redis.call('SMEMBERS', KEYS[4])) do
  local qname = string.sub(qkey, #ARGV[7] + 1)
  local rkey = ARGV[6] .. qname
  local ids = redis.call('ZRANGEBYSCORE', rkey, '-inf', ARGV[3], 'LIMIT', 0, budget)
  for _, id in ipairs(ids) do
    local jkey = ARGV[8] .. id
    local state = redis.call('HMGET', jkey, 'status', 'rate_limit_key')
    if not state[1] then
      redis.call('ZREM', rkey, id)
    elseif state[2] then
      table.insert(slow, qname)
      table.insert(slow, id)
    else
      redis.call('ZREM', rkey, id)
      queue_job(jkey, qkey, id, ARGV[4])
      moved = moved + 1
    end
  end
  budget = budget - #ids
  if budget <= 0 then
    more = 1
    break
  end
end
return {moved, more, slow}
"""
)

#: KEYS: rq-scheduler set, leader, fence, rq:queues, scheduler state. ARGV: owner, token, now,
#: enqueued_at, queue prefix, job prefix, batch. Moves due one-shot jobs (none while the scheduler is
#: paused); returns {moved, seen, periodic ids, other ids}:
#: periodic (interval/cron without repeat count) get their next time from Python, others (repeat
#: counts, dependencies, rate limits, custom queue classes) go through rq-scheduler's own code.
MOVE_SCHEDULER_SET = (
    _FENCE
    + _QUEUE_JOB
    + """
if not fenced(ARGV[1], ARGV[2]) then return -1 end
if redis.call('HGET', KEYS[5], 'paused') == '1' then return {0, 0, {}, {}} end
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[3], 'LIMIT', 0, tonumber(ARGV[7]))
local moved, periodic, other = 0, {}, {}
local function has(text, word) return text and string.find(text, word, 1, true) ~= nil end
for _, id in ipairs(ids) do
  local jkey = ARGV[6] .. id
  local f = redis.call('HMGET', jkey, 'origin', 'meta', 'dependency_ids', 'rate_limit_key')
  local meta = f[2]
  if not f[1] and redis.call('EXISTS', jkey) == 0 then
    redis.call('ZREM', KEYS[1], id)
  elseif not f[1] or f[3] or f[4] or has(meta, 'repeat') or has(meta, 'queue_class_name') then
    table.insert(other, id)
  elseif has(meta, 'interval') or has(meta, 'cron_string') then
    table.insert(periodic, id)
  else
    redis.call('ZREM', KEYS[1], id)
    queue_job(jkey, ARGV[5] .. f[1], id, ARGV[4])
    moved = moved + 1
  end
end
return {moved, #ids, periodic, other}
"""
)

#: KEYS: rq-scheduler set, leader, fence, rq:queues. ARGV: owner, token, now, enqueued_at, queue
#: prefix, job prefix, then (id, next score) pairs: queue each due job and put it back for its next run.
MOVE_SCHEDULER_PERIODIC = (
    _FENCE
    + _QUEUE_JOB
    + """
if not fenced(ARGV[1], ARGV[2]) then return -1 end
local now = tonumber(ARGV[3])
local moved = 0
for n = 7, #ARGV, 2 do
  local id = ARGV[n]
  local score = redis.call('ZSCORE', KEYS[1], id)
  if score and tonumber(score) <= now then
    local jkey = ARGV[6] .. id
    local origin = redis.call('HGET', jkey, 'origin')
    if origin then
      queue_job(jkey, ARGV[5] .. origin, id, ARGV[4])
      redis.call('ZADD', KEYS[1], ARGV[n + 1], id)
      moved = moved + 1
    end
  end
end
return moved
"""
)

#: KEYS: due index, rq:queues, rq-scheduler set, state hash. ARGV: registry prefix, queue prefix.
#: Returns {earliest score as text or false, paused flag}: what the scheduler sleeps until.
EARLIEST = """
local best = nil
local function consider(key)
  local r = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
  if r[2] then
    local s = tonumber(r[2])
    if best == nil or s < best then best = s end
  end
end
local paused = redis.call('HGET', KEYS[4], 'paused') == '1'
if not paused then consider(KEYS[1]) end
for _, qkey in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  consider(ARGV[1] .. string.sub(qkey, #ARGV[2] + 1))
end
consider(KEYS[3])
if best == nil then return {false, paused and 1 or 0} end
return {string.format('%.6f', best), paused and 1 or 0}
"""

#: KEYS: runs list. ARGV: job id, JSON object of fields to merge. Returns 1 when the run was found.
RECORD_OUTCOME = """
local items = redis.call('LRANGE', KEYS[1], 0, -1)
for index, raw in ipairs(items) do
  local record = cjson.decode(raw)
  if record.job_id == ARGV[1] then
    for k, v in pairs(cjson.decode(ARGV[2])) do record[k] = v end
    redis.call('LSET', KEYS[1], index - 1, cjson.encode(record))
    return 1
  end
end
return 0
"""

_SOURCES = {
    "save_schedule": SAVE_SCHEDULE,
    "delete_schedule": DELETE_SCHEDULE,
    "acquire_lease": ACQUIRE_LEASE,
    "release_lease": RELEASE_LEASE,
    "fire": FIRE,
    "due_batch": DUE_BATCH,
    "write_templates": WRITE_TEMPLATES,
    "move_registries": MOVE_REGISTRIES,
    "move_scheduler_set": MOVE_SCHEDULER_SET,
    "move_scheduler_periodic": MOVE_SCHEDULER_PERIODIC,
    "earliest": EARLIEST,
    "record_outcome": RECORD_OUTCOME,
}
_SHAS = {name: hashlib.sha1(source.encode()).hexdigest() for name, source in _SOURCES.items()}


class Call:
    """One scheduler script bound to a client: ``call(keys=[...], args=[...])`` runs it by EVALSHA.

    It goes over the thread's kept connection (rqstack.redis_direct): a tick makes several of these
    calls, and redis-py's own Script adds its per-call pool work and argument packing to each.
    """

    __slots__ = ("connection", "name")

    def __init__(self, connection: redis.Redis, name: str) -> None:
        self.connection = connection
        self.name = name

    def __call__(self, keys: Sequence[Arg] = (), args: Sequence[Arg] = ()) -> Any:
        """The script's raw reply; loads the script first when Redis does not know it (restart, flush)."""
        return run_many(self.connection, [command(self.name, keys, args)])[0]

    def many(self, calls: Sequence[tuple[Sequence[Arg], Sequence[Arg]]]) -> list[Any]:
        """Several (keys, args) runs in one round trip; replies in order."""
        return run_many(self.connection, [command(self.name, keys, args) for keys, args in calls])


def command(name: str, keys: Sequence[Arg] = (), args: Sequence[Arg] = ()) -> tuple[Arg, ...]:
    """The EVALSHA command of script ``name``, for ``run_many``."""
    return ("EVALSHA", _SHAS[name], len(keys), *keys, *args)


def run_many(connection: redis.Redis, commands: Sequence[Sequence[Arg]]) -> list[Any]:
    """Scripts (from ``command``) and plain commands in one round trip; raw replies in order.

    A script Redis does not know (restart, flush) is loaded and run again on its own; every other
    command ran once. Other error replies raise ResponseError.
    """
    replies = redis_direct.execute_many(connection, commands, raise_on_error=False)
    unknown = [i for i, reply in enumerate(replies) if isinstance(reply, NoScriptError)]
    if unknown:
        for source in _SOURCES.values():
            connection.script_load(source)
        again = redis_direct.execute_many(connection, [commands[i] for i in unknown], raise_on_error=False)
        for i, reply in zip(unknown, again, strict=True):
            replies[i] = reply
    for reply in replies:
        if isinstance(reply, redis.ResponseError):
            raise reply
    return replies


def script(connection: redis.Redis, name: str) -> Call:
    """The script ``name`` for ``connection``; KeyError for an unknown name."""
    if name not in _SOURCES:
        raise KeyError(name)
    return Call(connection, name)
