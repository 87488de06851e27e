//! The one server-side script: GCRA on a key's theoretical arrival time,
//! leasing a batch of permits per call.
//!
//! The script is the whole of Redis' part, and runs atomically: no
//! replica can see a key between its read and its write, so two replicas
//! leasing at once never both spend the same credit.
//!
//! **Why GCRA.** The local limiter is GCRA already, so a key's quota means
//! exactly the same in both modes (the same burst, the same refill, the
//! same `Retry-After` and `RateLimit` figures). And GCRA keeps one number
//! per key — the instant its bucket is full again — which suits Redis
//! better than a token bucket's two (tokens and last refill): one `GET`,
//! one `SET` with an expiry, and the expiry is simply the time until the
//! bucket is full, after which an absent key *is* a full bucket. Memory
//! in Redis is therefore bounded by the keys that spent quota within
//! their refill time, with nothing to sweep.
//!
//! **Why Redis' clock.** The script reads `TIME` rather than taking each
//! caller's timestamp: replicas' clocks differ, and a replica whose clock
//! ran ahead would see more credit than there is (or spend another's).
//! One clock, the server's, makes every decision comparable. (Since
//! Redis 5 a script may call `TIME`: effects, not the script, are
//! replicated.) The replica converts the durations it gets back (the wait,
//! the reset) onto its own tokio clock when the answer arrives, so the
//! only error is one round trip.
//!
//! Times in the script are microseconds (Redis' `TIME` resolution), held
//! in Lua doubles (exact to 2^53 µs, about 285 years of epoch); the TAT
//! is written with `%.3f`, since Lua's default number format keeps only
//! 14 digits — a tenth of a millisecond of today's epoch.

/// `KEYS[1]`: the key's TAT in µs of Redis time. `ARGV`: the emission
/// interval and the bucket's capacity in ns, the permits wanted, the
/// units admitted meanwhile without asking (charged unconditionally:
/// they were admitted), and how far ahead (ns) a permit may be granted
/// that conforms only after the answer arrives.
///
/// Returns `{granted, valid_after, wait, reset}`: permits granted, µs
/// until the last of them conforms, µs until one more unit would, and µs
/// until the bucket is full again.
pub(crate) const LEASE_SCRIPT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1]) / 1000
local capacity = tonumber(ARGV[2]) / 1000
local want = tonumber(ARGV[3])
local debt = tonumber(ARGV[4])
local lead = tonumber(ARGV[5]) / 1000
local tat = tonumber(redis.call('GET', KEYS[1]) or '0') or 0
if tat < now then tat = now end
tat = tat + debt * interval
local granted = 0
local room = now + capacity + lead - tat
if want > 0 and room >= interval then
  granted = math.min(want, math.floor(room / interval))
  tat = tat + granted * interval
end
if granted > 0 or debt > 0 then
  redis.call('SET', KEYS[1], string.format('%.3f', tat), 'PX', math.max(1, math.ceil((tat - now) / 1000)))
end
local valid_after = math.max(0, tat - now - capacity)
local wait = math.max(0, tat + interval - now - capacity)
return {granted, math.ceil(valid_after), math.ceil(wait), math.ceil(math.max(0, tat - now))}
";

/// What one call of the script answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Reply {
    /// Permits granted.
    pub(crate) granted: u64,
    /// µs until the last granted permit conforms (0: all do now).
    pub(crate) valid_after_us: u64,
    /// µs until one more unit would conform.
    pub(crate) wait_us: u64,
    /// µs until the key's bucket is full again.
    pub(crate) reset_us: u64,
}

impl Reply {
    /// Reads the script's four integers; anything else is a protocol
    /// error.
    pub(crate) fn parse(values: &[i64]) -> Option<Reply> {
        let [granted, valid_after, wait, reset] = values else {
            return None;
        };
        let non_negative = |v: &i64| u64::try_from(*v).ok();
        Some(Reply {
            granted: non_negative(granted)?,
            valid_after_us: non_negative(valid_after)?,
            wait_us: non_negative(wait)?,
            reset_us: non_negative(reset)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_are_four_non_negative_integers() {
        assert_eq!(
            Reply::parse(&[3, 0, 10, 500]),
            Some(Reply {
                granted: 3,
                valid_after_us: 0,
                wait_us: 10,
                reset_us: 500
            })
        );
        assert_eq!(Reply::parse(&[3, 0, 10]), None);
        assert_eq!(Reply::parse(&[-1, 0, 0, 0]), None);
    }
}
