//! How a rejection becomes an answer: one mapping for HTTP and gRPC,
//! shared by the edge layer, `IntoResponse for Rejected` (feature `axum`)
//! and `From<Rejected> for tonic::Status` (feature `tonic`), so a
//! rejection reads the same wherever it surfaces.

use bytes::Bytes;
use std::fmt::Write as _;
use std::time::Duration;

use http::header::{CONTENT_TYPE, HeaderValue};
use http::{HeaderMap, HeaderName, Response, StatusCode};

use crate::codec::{GRPC_RETRY_PUSHBACK_MS, RETRY_AFTER, pushback_value, retry_after_value};
use crate::grpc::{GRPC_MESSAGE, GRPC_STATUS};
use crate::{GrpcCode, Quota, Reason, Rejected};

/// The `RateLimit-Policy` field of draft-ietf-httpapi-ratelimit-headers-09:
/// the quota policy, `<name>;q=<units>;w=<seconds>`.
///
/// ```
/// assert_eq!(buttress_core::answer::RATELIMIT_POLICY.as_str(), "ratelimit-policy");
/// ```
pub const RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");

/// The `RateLimit` field of draft-ietf-httpapi-ratelimit-headers-09: where
/// the caller stands, `<name>;r=<remaining units>;t=<seconds to reset>`.
///
/// ```
/// assert_eq!(buttress_core::answer::RATELIMIT.as_str(), "ratelimit");
/// ```
pub const RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");

impl Reason {
    /// The HTTP status a rejection for this reason answers with: 429 for
    /// rate limited (the caller's quota), 504 for timeout and deadline
    /// exceeded, 503 for the rest (the service is protecting itself).
    ///
    /// ```
    /// use buttress_core::Reason;
    /// assert_eq!(Reason::RateLimited.http_status(), 429);
    /// assert_eq!(Reason::DeadlineExceeded.http_status(), 504);
    /// assert_eq!(Reason::CircuitOpen.http_status(), 503);
    /// ```
    pub const fn http_status(self) -> StatusCode {
        match self {
            Reason::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            Reason::Timeout | Reason::DeadlineExceeded => StatusCode::GATEWAY_TIMEOUT,
            Reason::CircuitOpen
            | Reason::BulkheadFull
            | Reason::QueueTimeout
            | Reason::Overloaded
            | Reason::Shed
            | Reason::Throttled
            | Reason::FaultInjected
            | Reason::NoEndpoint => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The gRPC status a rejection for this reason answers with:
    /// RESOURCE_EXHAUSTED when this server is out of capacity or the
    /// caller out of quota, UNAVAILABLE when a dependency is (circuit open,
    /// throttled, an injected fault), DEADLINE_EXCEEDED for time limits.
    ///
    /// ```
    /// use buttress_core::{GrpcCode, Reason};
    /// assert_eq!(Reason::Shed.grpc_code(), GrpcCode::ResourceExhausted);
    /// assert_eq!(Reason::CircuitOpen.grpc_code(), GrpcCode::Unavailable);
    /// ```
    pub const fn grpc_code(self) -> GrpcCode {
        match self {
            Reason::RateLimited
            | Reason::Shed
            | Reason::BulkheadFull
            | Reason::QueueTimeout
            | Reason::Overloaded => GrpcCode::ResourceExhausted,
            Reason::CircuitOpen
            | Reason::Throttled
            | Reason::FaultInjected
            | Reason::NoEndpoint => GrpcCode::Unavailable,
            Reason::Timeout | Reason::DeadlineExceeded => GrpcCode::DeadlineExceeded,
        }
    }

    /// A JSON body naming the reason, as a static string (no formatting).
    const fn json_body(self) -> &'static str {
        match self {
            Reason::CircuitOpen => r#"{"error":"circuit_open","message":"circuit open"}"#,
            Reason::BulkheadFull => r#"{"error":"bulkhead_full","message":"bulkhead full"}"#,
            Reason::QueueTimeout => r#"{"error":"queue_timeout","message":"queue timeout"}"#,
            Reason::Overloaded => r#"{"error":"overloaded","message":"overloaded"}"#,
            Reason::Shed => r#"{"error":"shed","message":"load shed"}"#,
            Reason::Throttled => r#"{"error":"throttled","message":"throttled"}"#,
            Reason::RateLimited => r#"{"error":"rate_limited","message":"rate limited"}"#,
            Reason::Timeout => r#"{"error":"timeout","message":"timed out"}"#,
            Reason::DeadlineExceeded => {
                r#"{"error":"deadline_exceeded","message":"deadline exceeded"}"#
            }
            Reason::FaultInjected => r#"{"error":"fault_injected","message":"fault injected"}"#,
            Reason::NoEndpoint => r#"{"error":"no_endpoint","message":"no endpoint available"}"#,
        }
    }

    /// A plain-text body naming the reason.
    const fn text_body(self) -> &'static str {
        match self {
            Reason::CircuitOpen => "circuit open\n",
            Reason::BulkheadFull => "bulkhead full\n",
            Reason::QueueTimeout => "queue timeout\n",
            Reason::Overloaded => "overloaded\n",
            Reason::Shed => "load shed\n",
            Reason::Throttled => "throttled\n",
            Reason::RateLimited => "rate limited\n",
            Reason::Timeout => "timed out\n",
            Reason::DeadlineExceeded => "deadline exceeded\n",
            Reason::FaultInjected => "fault injected\n",
            Reason::NoEndpoint => "no endpoint available\n",
        }
    }
}

/// The body format of an HTTP answer to a rejection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFormat {
    /// `text/plain`.
    Text,
    /// `application/json`.
    Json,
}

impl BodyFormat {
    /// JSON when the request's `Accept` names JSON, text otherwise.
    pub fn negotiate(request_headers: &HeaderMap) -> Self {
        let wants_json = request_headers
            .get_all(http::header::ACCEPT)
            .iter()
            .any(BodyFormat::accepts_json);
        if wants_json {
            BodyFormat::Json
        } else {
            BodyFormat::Text
        }
    }

    /// Whether one `Accept` value names JSON (in any case): a request
    /// with any such value is answered in JSON. For a layer that already
    /// visits every header and would rather not look `Accept` up again.
    ///
    /// ```
    /// use buttress_core::answer::BodyFormat;
    /// use http::HeaderValue;
    ///
    /// assert!(BodyFormat::accepts_json(&HeaderValue::from_static("application/JSON")));
    /// assert!(!BodyFormat::accepts_json(&HeaderValue::from_static("text/html")));
    /// ```
    #[inline]
    pub fn accepts_json(accept: &HeaderValue) -> bool {
        names_json(accept.as_bytes())
    }
}

/// How a request expects to be answered: gRPC (a status in trailers), or
/// HTTP with a body in the format its `Accept` asks for. Noted when the
/// request arrives, as the request is gone by the time an error comes
/// back; the outermost layer notes it once for the whole call chain
/// ([`chain`](crate::chain)).
///
/// ```
/// use buttress_core::answer::{BodyFormat, Protocol};
/// use http::{HeaderMap, HeaderValue, header};
///
/// let mut headers = HeaderMap::new();
/// assert_eq!(Protocol::of(&headers), Protocol::Http(BodyFormat::Text));
/// headers.insert(header::ACCEPT, HeaderValue::from_static("application/json"));
/// assert_eq!(Protocol::of(&headers), Protocol::Http(BodyFormat::Json));
/// headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/grpc+proto"));
/// assert!(Protocol::of(&headers).is_grpc());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// A gRPC call (`content-type: application/grpc…`).
    Grpc,
    /// Any other request, answered in this body format.
    Http(BodyFormat),
}

impl Protocol {
    /// The protocol of a request with these headers.
    #[inline]
    pub fn of(headers: &HeaderMap) -> Self {
        if crate::grpc::is_grpc(headers) {
            Protocol::Grpc
        } else {
            Protocol::Http(BodyFormat::negotiate(headers))
        }
    }

    /// The protocol from a request's first `content-type` value and
    /// whether any of its `Accept` values names JSON: what [`of`](Self::of)
    /// reads, for a layer that found both on its own pass over the
    /// headers.
    #[inline]
    pub fn from_found(content_type: Option<&HeaderValue>, accepts_json: bool) -> Self {
        if content_type.is_some_and(crate::grpc::is_grpc_content_type) {
            Protocol::Grpc
        } else if accepts_json {
            Protocol::Http(BodyFormat::Json)
        } else {
            Protocol::Http(BodyFormat::Text)
        }
    }

    /// Whether this is a gRPC call.
    #[inline]
    pub fn is_grpc(self) -> bool {
        self == Protocol::Grpc
    }
}

/// Whether `value` contains "json" in any case. Every request passes
/// here (the edge decides the format before it knows whether it will
/// answer), so one 4-byte compare per position rather than four: setting
/// bit 5 lower-cases an ASCII letter, and only `j`/`J` become `j`.
#[inline]
fn names_json(value: &[u8]) -> bool {
    const JSON: u32 = u32::from_le_bytes(*b"json");
    value.windows(4).any(|window| {
        let word = u32::from_le_bytes([window[0], window[1], window[2], window[3]]);
        word | 0x2020_2020 == JSON
    })
}

impl Rejected {
    /// The HTTP answer: the reason's status, `Retry-After` when known
    /// (rounded up to whole seconds), and a short body naming the reason.
    /// A rejection carrying [`Quota`] figures also gets the
    /// [`RATELIMIT_POLICY`] and [`RATELIMIT`] fields. The `Rejected` rides
    /// in the response extensions, so outer layers (metrics) can label the
    /// answer.
    ///
    /// ```
    /// use buttress_core::answer::BodyFormat;
    /// use buttress_core::{Reason, Rejected};
    /// use std::time::Duration;
    ///
    /// let res = Rejected::new(Reason::CircuitOpen)
    ///     .with_retry_after(Duration::from_secs(3))
    ///     .to_http_response(BodyFormat::Text);
    /// assert_eq!(res.status(), 503);
    /// assert_eq!(res.headers()["retry-after"], "3");
    /// assert_eq!(res.body().as_ref(), b"circuit open\n");
    /// assert!(res.extensions().get::<Rejected>().is_some());
    /// ```
    pub fn to_http_response(&self, format: BodyFormat) -> Response<Bytes> {
        let (content_type, body) = match format {
            BodyFormat::Text => ("text/plain; charset=utf-8", self.reason().text_body()),
            BodyFormat::Json => ("application/json", self.reason().json_body()),
        };
        let mut response = Response::new(Bytes::from_static(body.as_bytes()));
        *response.status_mut() = self.reason().http_status();
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
        if let Some(delay) = self.retry_after() {
            headers.insert(RETRY_AFTER, retry_after_value(delay));
        }
        if let Some((policy, state)) = self.quota().and_then(ratelimit_values) {
            headers.insert(RATELIMIT_POLICY, policy);
            headers.insert(RATELIMIT, state);
        }
        response.extensions_mut().insert(self.clone());
        response
    }

    /// The gRPC answer: a trailers-only response (HTTP 200, status in the
    /// headers, empty body) with `grpc-retry-pushback-ms` when a retry
    /// hint is known. The `Rejected` rides in the extensions.
    ///
    /// ```
    /// use buttress_core::{Reason, Rejected};
    ///
    /// let res = Rejected::new(Reason::Shed).to_grpc_response();
    /// assert_eq!(res.status(), 200);
    /// assert_eq!(res.headers()["grpc-status"], "8"); // RESOURCE_EXHAUSTED
    /// assert_eq!(res.headers()["content-type"], "application/grpc");
    /// ```
    pub fn to_grpc_response(&self) -> Response<()> {
        let mut response = grpc_status_response(
            self.reason().grpc_code(),
            self.reason().text_body().trim_end(),
        );
        if let Some(delay) = self.retry_after() {
            response
                .headers_mut()
                .insert(GRPC_RETRY_PUSHBACK_MS, pushback_value(delay));
        }
        response.extensions_mut().insert(self.clone());
        response
    }
}

/// Whole seconds, rounded up: a client told to wait must not come back
/// early.
fn ceil_secs(duration: Duration) -> u64 {
    duration.as_secs() + u64::from(duration.subsec_nanos() > 0)
}

/// Whether `name` is a structured-field token (RFC 9651 §3.3.4), the
/// form draft-09 gives a policy name.
fn is_sf_token(name: &str) -> bool {
    let mut bytes = name.bytes();
    let first_ok = bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'*');
    first_ok && bytes.all(|b| b.is_ascii_alphanumeric() || b":/!#$%&'*+-.^_`|~".contains(&b))
}

/// The `RateLimit-Policy` and `RateLimit` values for `quota`; `None` when
/// its policy name cannot be written as a token or a string.
fn ratelimit_values(quota: &Quota) -> Option<(HeaderValue, HeaderValue)> {
    let mut name = String::with_capacity(quota.policy.len() + 2);
    if is_sf_token(&quota.policy) {
        name.push_str(&quota.policy);
    } else if quota.policy.bytes().all(|b| (b' '..=b'~').contains(&b)) {
        // A structured-field string, which later drafts also allow.
        name.push('"');
        for c in quota.policy.chars() {
            if c == '"' || c == '\\' {
                name.push('\\');
            }
            name.push(c);
        }
        name.push('"');
    } else {
        return None;
    }
    let window = ceil_secs(quota.window).max(1);
    let mut policy = String::with_capacity(name.len() + 32);
    let _ = write!(policy, "{name};q={};w={window}", quota.limit);
    let mut state = String::with_capacity(name.len() + 32);
    let _ = write!(
        state,
        "{name};r={};t={}",
        quota.remaining,
        ceil_secs(quota.reset)
    );
    Some((
        HeaderValue::from_str(&policy).ok()?,
        HeaderValue::from_str(&state).ok()?,
    ))
}

/// A trailers-only gRPC answer with `code` and a static message (which
/// must be plain printable ASCII, so it needs no percent-encoding).
pub fn grpc_status_response(code: GrpcCode, message: &'static str) -> Response<()> {
    let mut response = Response::new(());
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
    headers.insert(GRPC_STATUS, HeaderValue::from_static(code.as_str()));
    headers.insert(GRPC_MESSAGE, HeaderValue::from_static(message));
    response
}

#[cfg(feature = "axum")]
impl axum_core::response::IntoResponse for Rejected {
    /// The same answer the edge layer gives, for a handler whose own
    /// client call was rejected.
    fn into_response(self) -> axum_core::response::Response {
        self.to_http_response(BodyFormat::Text)
            .map(axum_core::body::Body::from)
    }
}

#[cfg(feature = "tonic")]
impl From<Rejected> for tonic::Status {
    /// The same status the edge layer answers with; the retry hint goes in
    /// `grpc-retry-pushback-ms`.
    fn from(rejected: Rejected) -> tonic::Status {
        let code = tonic::Code::from_i32(i32::from(rejected.reason().grpc_code().as_u8()));
        let mut metadata = tonic::metadata::MetadataMap::new();
        let pushback = rejected
            .retry_after()
            .and_then(|delay| pushback_value(delay).to_str().ok()?.parse().ok());
        if let Some(value) = pushback {
            metadata.insert("grpc-retry-pushback-ms", value);
        }
        tonic::Status::with_metadata(code, rejected.reason().to_string(), metadata)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_is_found_in_any_case_and_nowhere_else() {
        for yes in [
            "application/json",
            "APPLICATION/JSON",
            "x/JsOn",
            "json",
            "a/problem+json;q=1",
        ] {
            assert!(names_json(yes.as_bytes()), "{yes}");
        }
        for no in [
            "",
            "jso",
            "text/plain",
            "application/jsox",
            "js on",
            "*/*",
            "j\x0as\x0fn",
        ] {
            assert!(!names_json(no.as_bytes()), "{no}");
        }
        // Every 4-byte string agrees with a plain case-insensitive compare.
        for a in 0..=255u8 {
            for b in [b'j', b'J', b's', b'S', a] {
                let word = [b, b's', b'o', a];
                assert_eq!(
                    names_json(&word),
                    word.eq_ignore_ascii_case(b"json"),
                    "{word:?}"
                );
                let word = [a, b'S', b'O', b'N'];
                assert_eq!(
                    names_json(&word),
                    word.eq_ignore_ascii_case(b"json"),
                    "{word:?}"
                );
            }
        }
    }
    use std::time::Duration;

    #[test]
    fn every_reason_has_a_mapping() {
        for reason in Reason::ALL {
            let res = Rejected::new(reason).to_http_response(BodyFormat::Json);
            assert!(res.status().is_client_error() || res.status().is_server_error());
            assert!(res.body().starts_with(b"{\"error\":\""));
            assert!(res.headers().get(RETRY_AFTER).is_none());
            let grpc = Rejected::new(reason).to_grpc_response();
            assert_ne!(grpc.headers()[GRPC_STATUS], "0");
            assert_ne!(grpc.headers()[GRPC_STATUS], "13");
            assert_ne!(grpc.headers()[GRPC_STATUS], "2");
        }
    }

    #[test]
    fn retry_hints_round_up() {
        let rejected =
            Rejected::new(Reason::Overloaded).with_retry_after(Duration::from_millis(1_200));
        assert_eq!(
            rejected.to_http_response(BodyFormat::Text).headers()[RETRY_AFTER],
            "2"
        );
        assert_eq!(
            rejected.to_grpc_response().headers()[GRPC_RETRY_PUSHBACK_MS],
            "1200"
        );
    }

    #[test]
    fn quota_figures_become_ratelimit_fields() {
        let rejected = Rejected::new(Reason::RateLimited)
            .with_retry_after(Duration::from_millis(100))
            .with_quota(
                Quota::new("default", 10, Duration::from_secs(1))
                    .with_remaining(0)
                    .with_reset(Duration::from_millis(450)),
            );
        let res = rejected.to_http_response(BodyFormat::Text);
        assert_eq!(res.status(), 429);
        assert_eq!(res.headers()[RETRY_AFTER], "1");
        assert_eq!(res.headers()[RATELIMIT_POLICY], "default;q=10;w=1");
        assert_eq!(res.headers()[RATELIMIT], "default;r=0;t=1");

        // No figures, no fields.
        let plain = Rejected::new(Reason::RateLimited).to_http_response(BodyFormat::Text);
        assert!(plain.headers().get(RATELIMIT).is_none());
        assert!(plain.headers().get(RATELIMIT_POLICY).is_none());
    }

    #[test]
    fn policy_names_that_are_not_tokens_are_quoted_or_dropped() {
        let with_name = |name: &str| {
            Rejected::new(Reason::RateLimited)
                .with_quota(Quota::new(name, 5, Duration::from_millis(1_500)).with_remaining(2))
                .to_http_response(BodyFormat::Text)
        };
        let quoted = with_name("gold tier \"a\"");
        assert_eq!(
            quoted.headers()[RATELIMIT_POLICY],
            r#""gold tier \"a\"";q=5;w=2"#
        );
        assert_eq!(quoted.headers()[RATELIMIT], r#""gold tier \"a\"";r=2;t=0"#);
        let dropped = with_name("caf\u{e9}");
        assert!(dropped.headers().get(RATELIMIT).is_none());
        assert!(is_sf_token("tenant:acme/v1"));
        assert!(!is_sf_token("1st"));
        assert!(!is_sf_token(""));
    }

    #[test]
    fn json_when_accepted() {
        let mut headers = HeaderMap::new();
        assert_eq!(BodyFormat::negotiate(&headers), BodyFormat::Text);
        headers.insert(
            http::header::ACCEPT,
            HeaderValue::from_static("text/html, application/JSON;q=0.9"),
        );
        assert_eq!(BodyFormat::negotiate(&headers), BodyFormat::Json);
    }
}
