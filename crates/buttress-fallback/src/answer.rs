//! Where fallback answers come from: a fixed response or a function, and
//! the marker every answer carries.

use std::error::Error;
use std::fmt;
use std::sync::Arc;

use buttress_core::Rejected;
use buttress_core::telemetry::FallbackCause;
use bytes::Bytes;
use http::request::Parts;
use http::{HeaderMap, HeaderName, HeaderValue, Response, StatusCode, Version};

/// What went wrong with the call a fallback answers for, as a function
/// fallback sees it.
#[derive(Clone, Copy)]
pub struct Failure<'a> {
    cause: FallbackCause,
    error: Option<&'a (dyn Error + 'static)>,
    status: Option<StatusCode>,
}

impl<'a> Failure<'a> {
    pub(crate) fn error(cause: FallbackCause, error: &'a (dyn Error + 'static)) -> Self {
        Failure {
            cause,
            error: Some(error),
            status: None,
        }
    }

    pub(crate) fn status(status: StatusCode) -> Self {
        Failure {
            cause: FallbackCause::Failure,
            error: None,
            status: Some(status),
        }
    }

    /// Why the fallback is served: a rejection's reason, or a failure by
    /// the classifier.
    pub fn cause(&self) -> FallbackCause {
        self.cause
    }

    /// The error the call ended with, if it ended with one.
    pub fn as_error(&self) -> Option<&'a (dyn Error + 'static)> {
        self.error
    }

    /// The rejection in the error's chain, if any.
    pub fn rejected(&self) -> Option<&'a Rejected> {
        self.error.and_then(Rejected::find)
    }

    /// The failing response's status, if the call answered with one the
    /// classifier judged a failure.
    pub fn response_status(&self) -> Option<StatusCode> {
        self.status
    }
}

impl fmt::Debug for Failure<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Failure")
            .field("cause", &self.cause)
            .field("error", &self.error.map(ToString::to_string))
            .field("status", &self.status)
            .finish()
    }
}

/// A function building a fallback answer from the request's head and the
/// failure.
pub(crate) type RespondFn = dyn Fn(&Parts, &Failure<'_>) -> Response<Bytes> + Send + Sync;

/// The answer of last resort (after any stale one).
#[derive(Clone)]
pub(crate) enum Respond {
    Fixed {
        status: StatusCode,
        version: Version,
        headers: HeaderMap,
        body: Bytes,
    },
    Function(Arc<RespondFn>),
}

impl Respond {
    pub(crate) fn fixed(response: Response<Bytes>) -> Self {
        let (parts, body) = response.into_parts();
        Respond::Fixed {
            status: parts.status,
            version: parts.version,
            headers: parts.headers,
            body,
        }
    }

    pub(crate) fn needs_parts(&self) -> bool {
        matches!(self, Respond::Function(_))
    }

    pub(crate) fn answer(&self, parts: Option<&Parts>, failure: &Failure<'_>) -> Response<Bytes> {
        match self {
            Respond::Fixed {
                status,
                version,
                headers,
                body,
            } => {
                let mut response = Response::new(body.clone());
                *response.status_mut() = *status;
                *response.version_mut() = *version;
                *response.headers_mut() = headers.clone();
                response
            }
            Respond::Function(build) => match parts {
                Some(parts) => build(parts, failure),
                // Only a request whose head was kept gets here.
                None => Response::new(Bytes::new()),
            },
        }
    }
}

impl fmt::Debug for Respond {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Respond::Fixed { status, .. } => {
                f.debug_struct("Fixed").field("status", status).finish()
            }
            Respond::Function(_) => f.write_str("Function"),
        }
    }
}

/// The header marking fallback answers, its values made once at build.
#[derive(Debug, Clone)]
pub(crate) struct Marker {
    name: HeaderName,
    by_reason: Vec<HeaderValue>,
    failure: HeaderValue,
    rejected: HeaderValue,
}

impl Marker {
    pub(crate) fn new(name: HeaderName) -> Self {
        let by_reason = buttress_core::Reason::ALL
            .iter()
            .map(|reason| {
                HeaderValue::from_str(&reason.as_str().replace('_', "-"))
                    .expect("reason labels are ASCII")
            })
            .collect();
        Marker {
            name,
            by_reason,
            failure: HeaderValue::from_static("failure"),
            rejected: HeaderValue::from_static("rejected"),
        }
    }

    /// The header's value for `cause`: the reason with `-` for `_`
    /// (`circuit-open`), or `failure`.
    pub(crate) fn value(&self, cause: FallbackCause) -> &HeaderValue {
        match cause {
            FallbackCause::Failure => &self.failure,
            FallbackCause::Rejected(reason) => {
                self.by_reason.get(reason.index()).unwrap_or(&self.rejected)
            }
        }
    }

    pub(crate) fn mark(&self, headers: &mut HeaderMap, cause: FallbackCause) {
        headers.insert(self.name.clone(), self.value(cause).clone());
    }
}
