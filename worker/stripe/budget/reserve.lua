-- worker/stripe/budget/gcra.py's `reserve`, atomically over every bucket a call counts against.
-- KEYS: bucket hashes (fields tat, cut_factor, cut_at).
-- ARGV: now ('' for Redis's own clock, shared by every host), burst seconds, max wait, recovery/s,
--       stale seconds, idle expiry seconds, then one rate per key.
-- Returns the seconds to wait as a string (Redis would truncate a number), or '' if the slot is
-- more than max_wait away, in which case nothing is reserved.
local now = tonumber(ARGV[1])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) + tonumber(t[2]) / 1000000
end
local burst_seconds, max_wait = tonumber(ARGV[2]), tonumber(ARGV[3])
local recovery, stale, expiry = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local tats, intervals = {}, {}
local slot = now
for i, key in ipairs(KEYS) do
  local h = redis.call('HMGET', key, 'tat', 'cut_factor', 'cut_at')
  local tat = tonumber(h[1]) or 0
  local cut_factor, cut_at = tonumber(h[2]) or 1, tonumber(h[3]) or 0
  if tat > now + stale then tat = now end
  local factor = 1
  if cut_at > 0 then factor = math.min(1, cut_factor + recovery * math.max(0, now - cut_at)) end
  local interval = 1 / (tonumber(ARGV[6 + i]) * factor)
  tats[i], intervals[i] = tat, interval
  slot = math.max(slot, tat - math.max(0, burst_seconds - interval))
end
local wait = slot - now
if wait > max_wait then return '' end
for i, key in ipairs(KEYS) do
  redis.call('HSET', key, 'tat', string.format('%.6f', math.max(tats[i], slot) + intervals[i]))
  redis.call('EXPIRE', key, expiry)
end
return string.format('%.6f', wait)
