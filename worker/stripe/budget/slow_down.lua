-- worker/stripe/budget/gcra.py's `slow_down` on one bucket hash (fields tat, cut_factor, cut_at).
-- ARGV: now ('' for Redis's clock), cut, min factor, cooldown seconds, recovery/s, expiry seconds.
-- Returns 1 if the rate was cut, 0 if it was cut within the cooldown already.
local now = tonumber(ARGV[1])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) + tonumber(t[2]) / 1000000
end
local cut, min_factor, cooldown = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local recovery, expiry = tonumber(ARGV[5]), tonumber(ARGV[6])
local h = redis.call('HMGET', KEYS[1], 'cut_factor', 'cut_at')
local cut_factor, cut_at = tonumber(h[1]) or 1, tonumber(h[2]) or 0
if cut_at > 0 and now - cut_at < cooldown then return 0 end
local factor = 1
if cut_at > 0 then factor = math.min(1, cut_factor + recovery * math.max(0, now - cut_at)) end
redis.call('HSET', KEYS[1], 'cut_factor', string.format('%.6f', math.max(min_factor, factor * cut)),
  'cut_at', string.format('%.6f', now))
redis.call('EXPIRE', KEYS[1], expiry)
return 1
