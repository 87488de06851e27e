//! [`InjectedFault`]: the error an injected abort ends a call with.

use std::error::Error;
use std::fmt;

use buttress_core::context::FaultAbort;
use buttress_core::{Reason, Rejected};

/// The error of a call the chaos layer aborted on purpose.
///
/// Its [`source`](Error::source) is a [`Rejected`] for
/// [`Reason::FaultInjected`], marked *sent*: it stands in for the
/// dependency failing, so [`Rejected::find`] finds it, every classifier
/// judges it a failure, breakers trip on it and retries retry it, and the
/// edge answers it as 503 / `UNAVAILABLE`. What the directive asked for
/// (an HTTP status, a gRPC code, a transport error) is kept in
/// [`abort`](Self::abort) for a handler that wants to answer with it.
///
/// Why an error and not a made-up response: a client's response body type
/// (hyper's `Incoming`, reqwest's body) cannot be built outside its
/// transport, and an error is what every layer above already judges.
///
/// ```
/// use buttress_chaos::InjectedFault;
/// use buttress_core::context::FaultAbort;
/// use buttress_core::{BoxError, Outcome, Reason, Rejected};
///
/// let err: BoxError = InjectedFault::new(FaultAbort::HttpStatus(http::StatusCode::BAD_GATEWAY)).into();
/// let rejected = Rejected::find(&*err).unwrap();
/// assert_eq!(rejected.reason(), Reason::FaultInjected);
/// assert_eq!(rejected.outcome(), Outcome::Failure);
/// assert_eq!(err.to_string(), "fault injected: status 502");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InjectedFault {
    abort: FaultAbort,
    rejected: Rejected,
}

impl InjectedFault {
    /// The error for an abort of kind `abort`.
    pub const fn new(abort: FaultAbort) -> Self {
        InjectedFault {
            abort,
            rejected: Rejected::new(Reason::FaultInjected).sent(),
        }
    }

    /// What the fault asked the call to fail with.
    pub const fn abort(&self) -> FaultAbort {
        self.abort
    }

    /// The typed rejection it carries.
    pub const fn rejected(&self) -> &Rejected {
        &self.rejected
    }
}

impl fmt::Display for InjectedFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.abort {
            FaultAbort::HttpStatus(status) => {
                write!(f, "fault injected: status {}", status.as_u16())
            }
            FaultAbort::Grpc(code) => write!(f, "fault injected: grpc {}", code.name()),
            FaultAbort::Transport => f.write_str("fault injected: connection reset"),
        }
    }
}

impl Error for InjectedFault {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(&self.rejected)
    }
}
