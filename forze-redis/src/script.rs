//! The server-side Lua scripts of the versioned compare-and-set contract.
//!
//! Each script is sent once with `SCRIPT LOAD` (at connect, or on the first `NOSCRIPT` reply) and
//! then invoked with `EVALSHA`. Revs travel as the 16 hex digits of
//! [`rev_hex`](crate::codec::rev_hex) and are compared as two exact 32-bit halves, because Lua numbers are doubles.
//! A key that holds something this crate did not write (bytes without a valid trailer, or
//! another Redis type) counts as absent, so the next fill or invalidation repairs it.
//!
//! # Every key gets a bounded lifetime
//!
//! Whatever a script writes it writes with an expiry (`SET … PX`, `KEEPTTL` only on a key that
//! has one). A key the scripts find **without** an expiry (`PTTL` = -1: someone `SET` it without
//! `EX`, or an older version left it) gets one, so that it cannot send every read to the store
//! forever (a tombstone at an impossible rev would otherwise reject every fill, for ever):
//!
//! * `fill`, when it does not install (a tombstone or a newer value is in the way): the fill's
//!   `ttl` (and the idle key of a sliding fill, the fill's idle lifetime);
//! * `invalidate`: always writes with `PX`;
//! * `evict`: a key it leaves in place gets the evict's `ttl`;
//! * `slide`: the window (the read does not know the absolute cap; the value is refilled with
//!   its full `ttl` once it expires).
//!
//! A plain `GET`/`MGET` hit does not check: it stays one command, and a value without an expiry
//! is still the right value until the document is written, and every write replaces it with a
//! tombstone that has one. The rare PEXPIRE of a tracked key is a change of that key for push
//! invalidation (other replicas drop their L1 entry once), which is harmless.

use std::sync::LazyLock;

/// Shared helpers, prepended to every script.
const PRELUDE: &str = r#"
local function state(key)
  local tail = redis.pcall('GETRANGE', key, -17, -1)
  if type(tail) ~= 'string' or #tail ~= 17 then return nil end
  local kind = string.sub(tail, 1, 1)
  local hex = string.sub(tail, 2)
  if not string.find(hex, '^[0-9a-f]+$') then return nil end
  if kind == 'v' then return kind, hex end
  if kind == 't' and redis.call('STRLEN', key) == 17 then return kind, hex end
  return nil
end
local function cmp(a, b)
  if a == b then return 0 end
  local ah, bh = tonumber(string.sub(a, 1, 8), 16), tonumber(string.sub(b, 1, 8), 16)
  if ah ~= bh then
    if ah < bh then return -1 else return 1 end
  end
  local al, bl = tonumber(string.sub(a, 9, 16), 16), tonumber(string.sub(b, 9, 16), 16)
  if al < bl then return -1 else return 1 end
end
"#;

/// `fill`: KEYS = n data keys, then (only when some fill slides) their n idle keys, then the
/// epoch key; ARGV = n × (rev hex, value with trailer, ttl ms, idle ms or `0`, refresh `1` or
/// `0`), then the epoch token (or `''`: unchecked). Returns n flags: `1` installed, `0` not,
/// `2` none installed because the epoch key does not hold the token (the server restarted or
/// was flushed since the fills' values were read: tombstones may be lost).
///
/// On nothing: install. On a value at `v`: install iff `rev > v` (`rev >= v` for a refresh, or
/// for a sliding fill when the value's idle key is gone). On a tombstone at `t`: install iff
/// `rev >= t`. A sliding fill also sets the idle key for `idle` ms. A fill that does not install
/// gives a key without an expiry the fill's `ttl` (and its idle key the idle lifetime).
const FILL: &str = r#"
local n = (#ARGV - 1) / 5
local token = ARGV[#ARGV]
local out = {}
if token ~= '' and redis.call('GET', KEYS[#KEYS]) ~= token then
  for i = 1, n do out[i] = 2 end
  return out
end
local sliding = #KEYS - 1 == 2 * n
for i = 1, n do
  local rev, value, px = ARGV[5 * i - 4], ARGV[5 * i - 3], ARGV[5 * i - 2]
  local idle, refresh = tonumber(ARGV[5 * i - 1]), ARGV[5 * i]
  local kind, cur = state(KEYS[i])
  local ok
  if kind == nil then
    ok = true
  elseif kind == 'v' then
    local c = cmp(rev, cur)
    if c == 0 and refresh == '1' then
      ok = true
    elseif c == 0 and sliding and idle > 0 then
      ok = redis.call('EXISTS', KEYS[n + i]) == 0
    else
      ok = c > 0
    end
  else
    ok = cmp(rev, cur) >= 0
  end
  if ok then
    redis.call('SET', KEYS[i], value, 'PX', px)
    if sliding and idle > 0 then
      redis.call('SET', KEYS[n + i], '1', 'PX', idle)
    end
    out[i] = 1
  else
    if redis.call('PTTL', KEYS[i]) == -1 then
      redis.call('PEXPIRE', KEYS[i], px)
    end
    if sliding and idle > 0 and redis.call('PTTL', KEYS[n + i]) == -1 then
      redis.call('PEXPIRE', KEYS[n + i], idle)
    end
    out[i] = 0
  end
end
return out
"#;

/// `slide`: KEYS = n data keys, then their n idle keys; ARGV = (window ms). Returns n replies:
/// the stored string (value, tombstone or foreign bytes) or nil (nothing, or another type).
///
/// A value whose idle key is gone has been idle past its window: it becomes a tombstone at its
/// rev (keeping its remaining lifetime) and that tombstone is returned. Otherwise the idle key is
/// extended to the window, capped at the data key's remaining lifetime. The data key is never
/// written on a hit, so a hit pushes no invalidation. A string key without an expiry gets the
/// window as its lifetime.
const SLIDE: &str = r#"
local n = #KEYS / 2
local window = tonumber(ARGV[1])
local out = {}
for i = 1, n do
  local v = redis.pcall('GET', KEYS[i])
  if type(v) ~= 'string' then
    out[i] = false
  else
    local cap = redis.call('PTTL', KEYS[i])
    if cap == -1 then
      redis.call('PEXPIRE', KEYS[i], window)
      cap = window
    end
    local tail = string.sub(v, -17)
    local hex = string.sub(tail, 2)
    if #tail == 17 and string.sub(tail, 1, 1) == 'v' and string.find(hex, '^[0-9a-f]+$') then
      if redis.call('EXISTS', KEYS[n + i]) == 0 then
        v = 't' .. hex
        redis.call('SET', KEYS[i], v, 'KEEPTTL')
      else
        local px = window
        if cap > 0 and cap < px then px = cap end
        redis.call('PEXPIRE', KEYS[n + i], px)
      end
    end
    out[i] = v
  end
end
return out
"#;

/// `invalidate`: KEYS = n keys; ARGV = n × (rev hex, ttl ms). Returns n.
///
/// Writes tombstone `max(current rev, rev)`, always with an expiry (`PX`): a tombstone's
/// remaining lifetime never shrinks, and a key without one gets `ttl`.
const INVALIDATE: &str = r#"
for i = 1, #KEYS do
  local rev, px = ARGV[2 * i - 1], tonumber(ARGV[2 * i])
  local kind, cur = state(KEYS[i])
  if kind ~= nil then
    if cmp(cur, rev) > 0 then rev = cur end
    if kind == 't' then
      local left = redis.call('PTTL', KEYS[i])
      if left > px then px = left end
    end
  end
  redis.call('SET', KEYS[i], 't' .. rev, 'PX', px)
end
return #KEYS
"#;

/// `evict`: KEYS = 1 key; ARGV = (rev hex, ttl ms). Returns 1 if a value at `rev` became
/// tombstone `rev`, else 0 (and a key left in place without an expiry gets `ttl`).
const EVICT: &str = r#"
local kind, cur = state(KEYS[1])
if kind == 'v' and cur == ARGV[1] then
  redis.call('SET', KEYS[1], 't' .. cur, 'PX', ARGV[2])
  return 1
end
if redis.call('PTTL', KEYS[1]) == -1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"#;

/// The scripts, hashed once per process.
#[derive(Debug)]
pub(crate) struct Scripts {
    pub(crate) epoch: redis::Script,
    pub(crate) fill: redis::Script,
    pub(crate) invalidate: redis::Script,
    pub(crate) evict: redis::Script,
    pub(crate) slide: redis::Script,
}

impl Scripts {
    /// Every script, for loading at connect.
    pub(crate) fn all(&self) -> [&redis::Script; 5] {
        [
            &self.epoch,
            &self.fill,
            &self.invalidate,
            &self.evict,
            &self.slide,
        ]
    }
}

/// The scripts of this crate.
/// `epoch`: KEYS = the epoch key; ARGV = (a fresh token, lifetime ms). Returns the token the key
/// holds, first setting it to the fresh one (with the lifetime) if it holds none.
///
/// The epoch key tells fills whether the server may have lost keys since their values were
/// read: a restart or a flush loses it along with the tombstones, so fills carrying the old
/// token are refused until the client adopts the new one (see `RedisClient::generation`).
const EPOCH: &str = r#"
local cur = redis.call('GET', KEYS[1])
if cur then
  if redis.call('PTTL', KEYS[1]) == -1 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
  return cur
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return ARGV[1]
"#;

pub(crate) static SCRIPTS: LazyLock<Scripts> = LazyLock::new(|| Scripts {
    epoch: redis::Script::new(EPOCH),
    fill: redis::Script::new(&format!("{PRELUDE}{FILL}")),
    invalidate: redis::Script::new(&format!("{PRELUDE}{INVALIDATE}")),
    evict: redis::Script::new(&format!("{PRELUDE}{EVICT}")),
    slide: redis::Script::new(&format!("{PRELUDE}{SLIDE}")),
});
