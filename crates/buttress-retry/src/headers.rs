//! The headers a retried request carries, so that the server (and its
//! logs and metrics) can tell a retry from a first attempt.

use buttress_core::access::RequestAccess;
use buttress_core::codec::{GRPC_TIMEOUT, grpc_timeout_value};
use buttress_core::grpc::is_grpc;
use http::{HeaderName, HeaderValue};
use tokio::time::Instant;

/// `x-retry-attempt`: the attempt number of a retried request, the first
/// attempt counting as 1 (so a retry carries 2 or more). First attempts
/// do not carry it.
pub const X_RETRY_ATTEMPT: HeaderName = HeaderName::from_static("x-retry-attempt");

/// `grpc-previous-rpc-attempts` (gRPC proposal A6): how many attempts
/// preceded this one. Set on retried gRPC requests only.
pub const GRPC_PREVIOUS_RPC_ATTEMPTS: HeaderName =
    HeaderName::from_static("grpc-previous-rpc-attempts");

const SMALL: [&str; 11] = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10"];

fn number(n: u32) -> HeaderValue {
    match SMALL.get(n as usize) {
        Some(text) => HeaderValue::from_static(text),
        None => HeaderValue::from(n),
    }
}

/// Marks `request` as attempt number `attempt` (2 or more).
pub(crate) fn mark(request: &mut impl RequestAccess, attempt: u32) {
    let grpc = is_grpc(request.headers());
    let headers = request.headers_mut();
    headers.insert(X_RETRY_ATTEMPT, number(attempt));
    if grpc {
        headers.insert(GRPC_PREVIOUS_RPC_ATTEMPTS, number(attempt - 1));
    }
}

/// Lowers a `grpc-timeout` that a retried `request` carries to what is
/// left until `deadline` as it is sent, so the server does not work past
/// the caller's deadline.
pub(crate) fn time_left(request: &mut impl RequestAccess, deadline: Instant) {
    if request.headers().contains_key(GRPC_TIMEOUT) {
        let left = deadline.saturating_duration_since(Instant::now());
        let value = grpc_timeout_value(left);
        request.headers_mut().insert(GRPC_TIMEOUT, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_requests_get_the_attempt_number() {
        let mut req = http::Request::get("/").body(()).unwrap();
        mark(&mut req, 2);
        assert_eq!(req.headers()[X_RETRY_ATTEMPT], "2");
        assert!(!req.headers().contains_key(GRPC_PREVIOUS_RPC_ATTEMPTS));
        mark(&mut req, 12);
        assert_eq!(req.headers()[X_RETRY_ATTEMPT], "12");
        assert_eq!(req.headers().get_all(X_RETRY_ATTEMPT).iter().count(), 1);
    }

    #[test]
    fn grpc_requests_also_get_previous_attempts() {
        let mut req = http::Request::post("/pkg.Svc/Get")
            .header("content-type", "application/grpc+proto")
            .body(())
            .unwrap();
        mark(&mut req, 3);
        assert_eq!(req.headers()[X_RETRY_ATTEMPT], "3");
        assert_eq!(req.headers()[GRPC_PREVIOUS_RPC_ATTEMPTS], "2");
    }
}
