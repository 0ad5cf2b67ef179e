-- Sequence one payload: the cluster's single point of ordering.
--
-- KEYS[1] {prefix}:seq      the sequence counter
-- KEYS[2] {prefix}:events   the stream of sequenced events, and the pub/sub channel
-- KEYS[3] {prefix}:tickets  per-node high-water mark of tickets run (field = node id)
-- ARGV[1] node id
-- ARGV[2] this payload's ticket (per node, strictly increasing in send order)
-- ARGV[3] the ticket sent just before it on this connection (or the mark read at connect)
-- ARGV[4] floor: the highest sequence number the node has seen
-- ARGV[5] stream MAXLEN (approximate trim)
-- ARGV[6] payload
--
-- Returns the sequence number, or 0 when the ticket already ran (a resend
-- after a lost reply). Fails without side effects when the previous ticket has
-- not run (an earlier script in the same pipeline failed): running this one
-- would raise the mark over it and the resend would be skipped.
local mark = tonumber(redis.call('HGET', KEYS[3], ARGV[1]) or '0') or 0
local ticket = tonumber(ARGV[2])
if ticket <= mark then
  return 0
end
if mark < tonumber(ARGV[3]) then
  return redis.error_reply('BPGAP previous ticket ' .. ARGV[3] .. ' has not run (mark ' .. mark .. ')')
end
local floor = tonumber(ARGV[4])
local seq = redis.call('INCR', KEYS[1])
if seq <= floor then
  seq = floor + 1
  redis.call('SET', KEYS[1], string.format('%d', seq))
end
local id = string.format('%d-0', seq)
local added = redis.pcall('XADD', KEYS[2], 'MAXLEN', '~', ARGV[5], id, 'p', ARGV[6])
if type(added) == 'table' and added.err then
  -- The stream is ahead of the counter (the counter was lost or reset alone):
  -- continue above the stream's last entry.
  local last = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', 1)
  local top = last[1] and tonumber(string.match(last[1][1], '^(%d+)'))
  if not top or top < seq then
    return redis.error_reply('BPXADD ' .. tostring(added.err))
  end
  seq = top + 1
  redis.call('SET', KEYS[1], string.format('%d', seq))
  id = string.format('%d-0', seq)
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[5], id, 'p', ARGV[6])
end
redis.call('HSET', KEYS[3], ARGV[1], ARGV[2])
redis.call('PUBLISH', KEYS[2], string.format('%d', seq) .. ' ' .. ARGV[6])
return seq
