//! What the server (or an inner layer) said about retrying.

use std::error::Error;
use std::time::{Duration, SystemTime};

use buttress_core::Rejected;
use buttress_core::access::ResponseAccess;
use buttress_core::codec::{
    GRPC_RETRY_PUSHBACK_MS, Pushback, RETRY_AFTER, parse_pushback, parse_retry_after,
};

/// A server's hint about the next attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Hint {
    /// No usable hint: the policy's own backoff applies.
    None,
    /// Not before this delay.
    After(Duration),
    /// Not at all (a negative or unparseable gRPC pushback).
    DoNotRetry,
}

/// Reads `grpc-retry-pushback-ms` (which wins: gRPC defines it as the
/// retry signal) or `Retry-After` from an answer, or the `retry_after` of a
/// rejection. A malformed `Retry-After`, or a date in the past (clock skew
/// more likely than "now"), falls back on the policy's backoff.
pub(crate) fn read<R: ResponseAccess>(result: Result<&R, &(dyn Error + 'static)>) -> Hint {
    match result {
        Ok(response) => {
            let headers = response.headers();
            if let Some(value) = headers.get(GRPC_RETRY_PUSHBACK_MS) {
                return match parse_pushback(value) {
                    Pushback::RetryAfter(delay) => Hint::After(delay),
                    Pushback::DoNotRetry => Hint::DoNotRetry,
                };
            }
            match headers.get(RETRY_AFTER) {
                Some(value) => match parse_retry_after(value, SystemTime::now()) {
                    Ok(delay) => Hint::After(delay),
                    Err(_) => Hint::None,
                },
                None => Hint::None,
            }
        }
        Err(error) => match Rejected::find(error).and_then(Rejected::retry_after) {
            Some(delay) => Hint::After(delay),
            None => Hint::None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use buttress_core::{BoxError, Reason};

    fn with(name: &str, value: &str) -> http::Response<()> {
        http::Response::builder()
            .status(503)
            .header(name, value)
            .body(())
            .unwrap()
    }

    #[test]
    fn headers() {
        let read = |res: http::Response<()>| read(Ok(&res));
        assert_eq!(
            read(with("retry-after", "2")),
            Hint::After(Duration::from_secs(2))
        );
        assert_eq!(read(with("retry-after", "soon")), Hint::None);
        assert_eq!(
            read(with("retry-after", "Sun, 06 Nov 1994 08:49:37 GMT")),
            Hint::None
        );
        assert_eq!(
            read(with("grpc-retry-pushback-ms", "250")),
            Hint::After(Duration::from_millis(250))
        );
        assert_eq!(read(with("grpc-retry-pushback-ms", "-1")), Hint::DoNotRetry);
        assert_eq!(read(http::Response::new(())), Hint::None);
    }

    #[test]
    fn rejection_hint() {
        let err: BoxError = Rejected::new(Reason::CircuitOpen)
            .with_retry_after(Duration::from_secs(3))
            .into();
        assert_eq!(
            read::<http::Response<()>>(Err(&*err)),
            Hint::After(Duration::from_secs(3))
        );
        let plain: BoxError = "reset".into();
        assert_eq!(read::<http::Response<()>>(Err(&*plain)), Hint::None);
    }
}
