//! The policy: which requests may be retried, which failures are worth it,
//! and how long to wait before the next attempt.

pub(crate) mod grpc;
pub(crate) mod hints;
pub(crate) mod live;
pub(crate) mod retry_on;

use std::error::Error;
use std::sync::Arc;
use std::time::Duration;

use buttress_core::access::{RequestAccess, ResponseAccess};
use buttress_core::classify::{GrpcCodeSet, Outcome};
use buttress_core::grpc::is_grpc;
use buttress_core::rng::SharedRng;
use http::{HeaderName, Method};

use self::grpc::GrpcMethods;
use self::hints::Hint;
use self::live::LiveLimits;
use self::retry_on::{Cause, RetryOn};
use crate::config::Idempotency;

/// The `Idempotency-Key` header (IETF draft
/// `draft-ietf-httpapi-idempotency-key-header`): a request carrying it may
/// be repeated, since the server deduplicates by key.
pub const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");

/// The validated policy of a layer.
#[derive(Debug, Clone)]
pub(crate) struct Policy {
    /// Attempts, hint cap, timeout and backoff: what may change while the
    /// layer runs, shared with its handle.
    pub(crate) live: Arc<LiveLimits>,
    pub(crate) retry_on: RetryOn,
    pub(crate) idempotency: Idempotency,
    pub(crate) grpc_methods: GrpcMethods,
}

/// Whether `method` may be repeated without changing the outcome (RFC 9110
/// §9.2.2).
pub(crate) fn is_idempotent(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::PUT | Method::DELETE | Method::TRACE
    )
}

impl Policy {
    /// Whether `request` could ever be sent twice — more than one attempt
    /// is allowed and the request is safe to repeat: a gRPC call to a
    /// method declared safe, or a request the idempotency rule admits —
    /// and, if so, the gRPC codes it is retried on.
    #[inline]
    pub(crate) fn retryable<R: RequestAccess>(&self, request: &R) -> Option<GrpcCodeSet> {
        if self.live.max_attempts() <= 1 {
            return None;
        }
        let codes = self.retry_on.grpc_codes;
        if !self.grpc_methods.is_empty()
            && is_grpc(request.headers())
            && let Some(codes) = self.grpc_methods.lookup(request.path(), codes)
        {
            return Some(codes);
        }
        let safe = match self.idempotency {
            Idempotency::Ignored => true,
            Idempotency::Required => {
                is_idempotent(request.method()) || request.headers().contains_key(IDEMPOTENCY_KEY)
            }
        };
        safe.then_some(codes)
    }

    /// Whether `request` could ever be sent twice.
    #[cfg(test)]
    fn may_retry<R: RequestAccess>(&self, request: &R) -> bool {
        self.retryable(request).is_some()
    }

    /// After `attempts` attempts, the last judged `outcome`: the delay
    /// before another one, or `None` to stop here. `previous` is the delay
    /// before the last attempt (zero after the first).
    pub(crate) fn next_delay<R: ResponseAccess>(
        &self,
        attempts: u32,
        previous: Duration,
        outcome: Outcome,
        result: Result<&R, &(dyn Error + 'static)>,
        grpc_codes: GrpcCodeSet,
        rng: &SharedRng,
    ) -> Option<(Duration, Cause)> {
        if attempts >= self.live.max_attempts() {
            return None;
        }
        let cause = self.retry_on.judge(outcome, result, grpc_codes)?;
        let delay = match hints::read(result) {
            Hint::DoNotRetry => None,
            Hint::After(delay) if delay > self.live.max_retry_after() => None,
            // A little jitter on top (up to a tenth), so that clients told
            // the same instant do not all come back at it.
            Hint::After(delay) => Some(rng.between(delay, delay + delay / 10)),
            // Retry n (after n attempts) is the curve's step n - 1: the
            // first waits up to `base`.
            Hint::None => Some(self.live.backoff().delay(
                attempts.saturating_sub(1),
                previous,
                rng,
            )),
        }?;
        Some((delay, cause))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RetryConfig;

    fn policy() -> Policy {
        RetryConfig::default().policy().unwrap()
    }

    #[test]
    fn idempotent_methods_or_a_key() {
        let p = policy();
        for method in ["GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"] {
            let req = http::Request::builder().method(method).body(()).unwrap();
            assert!(p.may_retry(&req), "{method}");
        }
        for method in ["POST", "PATCH", "CONNECT"] {
            let req = http::Request::builder().method(method).body(()).unwrap();
            assert!(!p.may_retry(&req), "{method}");
            let keyed = http::Request::builder()
                .method(method)
                .header("idempotency-key", "8e03978e")
                .body(())
                .unwrap();
            assert!(p.may_retry(&keyed), "{method} with a key");
        }
        let any = Policy {
            idempotency: Idempotency::Ignored,
            ..policy()
        };
        assert!(any.may_retry(&http::Request::post("/").body(()).unwrap()));
        let once = policy();
        once.live.set(1, once.live.backoff(), Duration::ZERO, None);
        assert!(!once.may_retry(&http::Request::get("/").body(()).unwrap()));
    }

    #[test]
    fn retry_n_waits_base_times_two_to_the_n_minus_1_up_to_max() {
        use crate::config::{BackoffConfig, Jitter};
        let config = RetryConfig {
            max_attempts: 10,
            backoff: BackoffConfig {
                base: Duration::from_millis(100),
                max: Duration::from_secs(1),
                jitter: Jitter::None,
            },
            ..RetryConfig::default()
        };
        let p = config.policy().unwrap();
        let rng = SharedRng::new(0);
        let plain = http::Response::builder().status(503).body(()).unwrap();
        let delays: Vec<u128> = (1..=6)
            .map(|attempts| {
                p.next_delay(
                    attempts,
                    Duration::ZERO,
                    Outcome::Failure,
                    Ok(&plain),
                    p.retry_on.grpc_codes,
                    &rng,
                )
                .unwrap()
                .0
                .as_millis()
            })
            .collect();
        assert_eq!(delays, [100, 200, 400, 800, 1_000, 1_000]);
    }

    #[test]
    fn hints_replace_the_backoff_within_their_cap() {
        let p = policy();
        let rng = SharedRng::new(9);
        let res = |value: &str| {
            http::Response::builder()
                .status(503)
                .header("retry-after", value)
                .body(())
                .unwrap()
        };
        let two = res("2");
        let (delay, cause) = p
            .next_delay(
                1,
                Duration::ZERO,
                Outcome::Failure,
                Ok(&two),
                p.retry_on.grpc_codes,
                &rng,
            )
            .unwrap();
        assert!(delay >= Duration::from_secs(2) && delay <= Duration::from_millis(2_200));
        assert_eq!(cause, Cause::Status);
        let too_long = res("11");
        assert_eq!(
            p.next_delay(
                1,
                Duration::ZERO,
                Outcome::Failure,
                Ok(&too_long),
                p.retry_on.grpc_codes,
                &rng
            ),
            None
        );
        let plain = http::Response::builder().status(503).body(()).unwrap();
        assert!(
            p.next_delay(
                1,
                Duration::ZERO,
                Outcome::Failure,
                Ok(&plain),
                p.retry_on.grpc_codes,
                &rng
            )
            .unwrap()
            .0 <= p.live.backoff().base()
        );
        assert_eq!(
            p.next_delay(
                3,
                Duration::ZERO,
                Outcome::Failure,
                Ok(&plain),
                p.retry_on.grpc_codes,
                &rng
            ),
            None
        );
    }
}
