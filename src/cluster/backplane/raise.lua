-- Raise the sequence counter to the node's floor if it is lower (a Redis that
-- came back without its data must not hand out numbers already used), and
-- return the counter.
--
-- KEYS[1] {prefix}:seq
-- ARGV[1] floor: the highest sequence number the node has seen
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
if not cur then
  return redis.error_reply('BPSEQ ' .. KEYS[1] .. ' does not hold a number')
end
local floor = tonumber(ARGV[1])
if cur < floor then
  redis.call('SET', KEYS[1], string.format('%d', floor))
  cur = floor
end
return cur
