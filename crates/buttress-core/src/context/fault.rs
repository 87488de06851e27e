//! A request's instruction to inject a fault, for chaos testing.

use std::time::Duration;

use http::StatusCode;

use crate::GrpcCode;

/// How an injected fault ends the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultAbort {
    /// Answer with this HTTP status.
    HttpStatus(StatusCode),
    /// Answer with this gRPC status.
    Grpc(GrpcCode),
    /// Fail as a transport error would (connection reset).
    Transport,
}

/// A fault a trusted caller asked for on this request: added latency, an
/// abort, or both. Honoured only when the caller is trusted (see
/// [`TrustPolicy`](super::TrustPolicy)); the chaos layer acts on it.
///
/// ```
/// use buttress_core::context::{FaultAbort, FaultDirective};
/// use std::time::Duration;
///
/// let fault = FaultDirective::none()
///     .with_delay(Duration::from_millis(200))
///     .with_abort(FaultAbort::HttpStatus(http::StatusCode::SERVICE_UNAVAILABLE));
/// assert_eq!(fault.delay(), Some(Duration::from_millis(200)));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FaultDirective {
    delay: Option<Duration>,
    abort: Option<FaultAbort>,
}

impl FaultDirective {
    /// No fault.
    pub const fn none() -> Self {
        FaultDirective {
            delay: None,
            abort: None,
        }
    }

    /// Adds latency before the call proceeds (or aborts).
    pub const fn with_delay(mut self, delay: Duration) -> Self {
        self.delay = Some(delay);
        self
    }

    /// Ends the call with `abort` instead of calling the dependency.
    pub const fn with_abort(mut self, abort: FaultAbort) -> Self {
        self.abort = Some(abort);
        self
    }

    /// The latency to add.
    pub const fn delay(&self) -> Option<Duration> {
        self.delay
    }

    /// How to end the call, if it is to fail.
    pub const fn abort(&self) -> Option<FaultAbort> {
        self.abort
    }

    /// Whether the directive asks for nothing.
    pub const fn is_none(&self) -> bool {
        self.delay.is_none() && self.abort.is_none()
    }
}
