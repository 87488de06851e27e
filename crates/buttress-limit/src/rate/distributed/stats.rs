//! What a distributed rate limit's handle reads.

/// A distributed rate limit's counters, from
/// [`RateLimitHandle::distributed`](crate::rate::RateLimitHandle::distributed).
///
/// Every request not counted in `provisional` or `fallback` was decided
/// on this replica from permits it had leased or from Redis' last answer,
/// without waiting on Redis. (No request waits on Redis at all: see the
/// [module documentation](crate::rate#fleet-wide-limits-on-redis).)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct DistributedStats {
    /// Requests decided on the key's local share while the key's first
    /// (or next) answer from Redis was pending; what they spent is charged
    /// to Redis with that call.
    pub provisional: u64,
    /// Requests decided while Redis was down (on the local share, or
    /// refused when the fallback is `refuse`).
    pub fallback: u64,
    /// Calls made to Redis.
    pub redis_calls: u64,
    /// Of those, the ones that failed or timed out.
    pub redis_errors: u64,
    /// Calls that leased at least one permit.
    pub refills: u64,
    /// Refills not sent because `max_in_flight` calls were out already.
    pub skipped: u64,
    /// Redis calls out now (at most `max_in_flight`).
    pub in_flight: u64,
    /// Whether Redis is up (calls go out) now.
    pub redis_up: bool,
}
