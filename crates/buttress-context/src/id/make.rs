//! Making fresh correlation IDs.

use std::cell::Cell;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use buttress_core::clock;
use tokio::time::Instant;

use buttress_core::context::CorrelationId;
use bytes::Bytes;
use http::HeaderValue;

use crate::hex::encode_uuid;

/// Makes a fresh correlation ID for a request that brought none (or one
/// that was not accepted).
///
/// Implement it to use your own scheme (a ULID, a counter in tests); the
/// ID must pass core's [`CorrelationId`] rules.
///
/// ```
/// use buttress_context::id::MakeCorrelationId;
/// use buttress_core::context::CorrelationId;
/// use std::sync::atomic::{AtomicU64, Ordering};
///
/// struct Counter(AtomicU64);
///
/// impl MakeCorrelationId for Counter {
///     fn make_id(&self) -> CorrelationId {
///         let n = self.0.fetch_add(1, Ordering::Relaxed);
///         CorrelationId::parse(format!("req-{n}").as_bytes()).expect("valid")
///     }
/// }
///
/// assert_eq!(Counter(AtomicU64::new(7)).make_id().as_str(), "req-7");
/// ```
pub trait MakeCorrelationId: Send + Sync + 'static {
    /// A fresh ID.
    fn make_id(&self) -> CorrelationId;
}

/// Random (version 4) UUIDs, from `fastrand`'s thread-local generator:
/// no system call and no lock per ID. Not for secrets; an ID is not one.
///
/// ```
/// use buttress_context::id::{MakeCorrelationId, UuidV4};
/// let id = UuidV4.make_id();
/// assert_eq!(id.as_str().len(), 36);
/// assert_eq!(&id.as_str()[14..15], "4");
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct UuidV4;

/// Time-ordered (version 7) UUIDs: millisecond Unix time then random
/// bits, so IDs sort by creation and index well. The default.
///
/// ```
/// use buttress_context::id::{MakeCorrelationId, UuidV7};
/// let id = UuidV7.make_id();
/// assert_eq!(&id.as_str()[14..15], "7");
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct UuidV7;

impl MakeCorrelationId for UuidV4 {
    fn make_id(&self) -> CorrelationId {
        let uuid = uuid::Builder::from_random_bytes(fastrand::u128(..).to_le_bytes()).into_uuid();
        from_uuid(uuid)
    }
}

impl MakeCorrelationId for UuidV7 {
    fn make_id(&self) -> CorrelationId {
        let random = fastrand::u128(..).to_le_bytes();
        let mut tail = [0u8; 10];
        tail.copy_from_slice(&random[..10]);
        let millis = unix_millis(clock::now());
        let uuid = uuid::Builder::from_unix_timestamp_millis(millis, &tail).into_uuid();
        from_uuid(uuid)
    }
}

/// How long a thread trusts its reading of the wall clock, extended by the
/// monotonic clock, before reading it again.
const WALL_CLOCK_REFRESH: Duration = Duration::from_secs(1);

/// Milliseconds since the Unix epoch at `now`. Wall-clock time is right
/// for a v7 ID (its order is meant to match the calendar, and no decision
/// depends on it), but reading it per request would be a second clock
/// reading: the layer already read the monotonic clock for the request's
/// start. So each thread reads the wall clock once a second and extends
/// that reading by the monotonic clock in between.
fn unix_millis(now: Instant) -> u64 {
    thread_local! {
        static WALL: Cell<Option<(Instant, u64)>> = const { Cell::new(None) };
    }
    WALL.with(|wall| {
        if let Some((read_at, millis)) = wall.get()
            && let Some(since) = now.checked_duration_since(read_at)
            && since < WALL_CLOCK_REFRESH
        {
            // Under a second: the cast cannot truncate.
            return millis + since.as_millis() as u64;
        }
        let millis = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| {
                u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
            });
        wall.set(Some((now, millis)));
        millis
    })
}

/// The hyphenated lower-case text of `uuid`, in one allocation: the 36
/// bytes move into a shared buffer that every later clone (the response
/// header, outbound calls, a handler's copy of the context) shares.
fn from_uuid(uuid: uuid::Uuid) -> CorrelationId {
    // Two digits per table lookup, at constant positions, rather than
    // `uuid`'s formatter, which works a digit at a time: every request at
    // a public edge mints one.
    let text = encode_uuid(uuid.as_bytes());
    let value = HeaderValue::from_maybe_shared(Bytes::from_owner(text))
        .expect("a hyphenated UUID is a valid header value");
    CorrelationId::from_generated(value).expect("a hyphenated UUID is a valid ID")
}

/// The built-in ID formats, by name, for configuration files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IdFormat {
    /// [`UuidV4`].
    UuidV4,
    /// [`UuidV7`], the default.
    #[default]
    UuidV7,
}

impl MakeCorrelationId for IdFormat {
    fn make_id(&self) -> CorrelationId {
        match self {
            IdFormat::UuidV4 => UuidV4.make_id(),
            IdFormat::UuidV7 => UuidV7.make_id(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_are_valid_distinct_ids() {
        for make in [IdFormat::UuidV4, IdFormat::UuidV7] {
            let a = make.make_id();
            let b = make.make_id();
            assert_ne!(a, b);
            let parsed = uuid::Uuid::parse_str(a.as_str()).unwrap();
            let version = if make == IdFormat::UuidV4 { 4 } else { 7 };
            assert_eq!(parsed.get_version_num(), version);
        }
    }

    #[test]
    fn ids_are_uuids_own_hyphenated_text() {
        let rng = buttress_core::rng::SharedRng::seeded_or_random(Some(7));
        for _ in 0..1_000 {
            let mut bytes = [0u8; 16];
            bytes[..8].copy_from_slice(&rng.next_u64().to_le_bytes());
            bytes[8..].copy_from_slice(&rng.next_u64().to_le_bytes());
            let uuid = uuid::Uuid::from_bytes(bytes);
            assert_eq!(from_uuid(uuid).as_str(), uuid.hyphenated().to_string());
        }
    }

    #[test]
    fn v7_ids_carry_the_wall_clock() {
        let before = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
        let id = uuid::Uuid::parse_str(UuidV7.make_id().as_str()).unwrap();
        let (secs, nanos) = id.get_timestamp().unwrap().to_unix();
        let at = Duration::new(secs, nanos);
        // The thread's reading may be up to a second old, extended by the
        // monotonic clock: the ID's time is within that of the calendar.
        let after = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
        assert!(at + Duration::from_millis(1) >= before && at <= after + Duration::from_millis(1));
    }

    #[test]
    fn v7_ids_sort_by_time() {
        let first = UuidV7.make_id();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let second = UuidV7.make_id();
        assert!(first.as_str()[..13] < second.as_str()[..13]);
    }
}
