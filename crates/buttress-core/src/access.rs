//! One view of requests and responses over `http` and `reqwest` types.
//!
//! Client-side layers (retry, breaker, throttle, context injection) must
//! work under a hyper or tonic client, which speak `http::Request`, and
//! under reqwest, whose `Client` is a `Service<reqwest::Request>`. These
//! traits give them the few things they read and write — method, path,
//! headers, status — so each layer is written once. Enable the `reqwest`
//! feature for reqwest's types.
//!
//! ```
//! use buttress_core::access::{RequestAccess, ResponseAccess};
//! use http::{Method, StatusCode};
//!
//! fn is_idempotent(req: &impl RequestAccess) -> bool {
//!     matches!(*req.method(), Method::GET | Method::HEAD | Method::PUT | Method::DELETE)
//! }
//!
//! let req = http::Request::get("/users/7").body(()).unwrap();
//! assert!(is_idempotent(&req));
//! assert_eq!(req.path(), "/users/7");
//!
//! let res = http::Response::builder().status(503).body(()).unwrap();
//! assert_eq!(ResponseAccess::status(&res), StatusCode::SERVICE_UNAVAILABLE);
//! ```

use http::{Extensions, HeaderMap, Method, StatusCode};

/// What client-side layers read from and write to an outgoing request.
pub trait RequestAccess {
    /// The request method.
    fn method(&self) -> &Method;
    /// The path of the target, without the query.
    fn path(&self) -> &str;
    /// The request headers.
    fn headers(&self) -> &HeaderMap;
    /// The request headers, to inject context (ID, `traceparent`,
    /// `grpc-timeout`, criticality).
    fn headers_mut(&mut self) -> &mut HeaderMap;
    /// The request extensions, where the request type has them
    /// (`reqwest::Request` has none).
    fn extensions(&self) -> Option<&Extensions>;
}

/// What layers read from a response to judge it.
pub trait ResponseAccess {
    /// The status code.
    fn status(&self) -> StatusCode;
    /// The response headers (`Retry-After`, `grpc-status` of a
    /// trailers-only answer, …).
    fn headers(&self) -> &HeaderMap;
    /// The response extensions.
    fn extensions(&self) -> &Extensions;
    /// The response extensions, to attach what a layer decided.
    fn extensions_mut(&mut self) -> &mut Extensions;
}

impl<B> RequestAccess for http::Request<B> {
    fn method(&self) -> &Method {
        self.method()
    }

    fn path(&self) -> &str {
        self.uri().path()
    }

    fn headers(&self) -> &HeaderMap {
        self.headers()
    }

    fn headers_mut(&mut self) -> &mut HeaderMap {
        self.headers_mut()
    }

    fn extensions(&self) -> Option<&Extensions> {
        Some(self.extensions())
    }
}

impl<B> ResponseAccess for http::Response<B> {
    fn status(&self) -> StatusCode {
        self.status()
    }

    fn headers(&self) -> &HeaderMap {
        self.headers()
    }

    fn extensions(&self) -> &Extensions {
        self.extensions()
    }

    fn extensions_mut(&mut self) -> &mut Extensions {
        self.extensions_mut()
    }
}

#[cfg(feature = "reqwest")]
impl RequestAccess for reqwest::Request {
    fn method(&self) -> &Method {
        self.method()
    }

    fn path(&self) -> &str {
        self.url().path()
    }

    fn headers(&self) -> &HeaderMap {
        self.headers()
    }

    fn headers_mut(&mut self) -> &mut HeaderMap {
        self.headers_mut()
    }

    fn extensions(&self) -> Option<&Extensions> {
        None
    }
}

#[cfg(feature = "reqwest")]
impl ResponseAccess for reqwest::Response {
    fn status(&self) -> StatusCode {
        self.status()
    }

    fn headers(&self) -> &HeaderMap {
        self.headers()
    }

    fn extensions(&self) -> &Extensions {
        self.extensions()
    }

    fn extensions_mut(&mut self) -> &mut Extensions {
        self.extensions_mut()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn tag<R: RequestAccess>(mut req: R) -> R {
        req.headers_mut()
            .insert("x-request-id", HeaderValue::from_static("abc"));
        req
    }

    fn describe<R: RequestAccess>(req: &R) -> (Method, String, Option<HeaderValue>) {
        (
            req.method().clone(),
            req.path().to_owned(),
            req.headers().get("x-request-id").cloned(),
        )
    }

    #[test]
    fn http_request_access() {
        let req = tag(http::Request::post("http://svc/orders?x=1")
            .body(())
            .unwrap());
        assert_eq!(
            describe(&req),
            (
                Method::POST,
                "/orders".into(),
                Some(HeaderValue::from_static("abc"))
            )
        );
        assert!(RequestAccess::extensions(&req).is_some());
    }

    #[test]
    fn http_response_access() {
        let mut res = http::Response::builder()
            .status(429)
            .header("retry-after", "3")
            .body(())
            .unwrap();
        ResponseAccess::extensions_mut(&mut res).insert(7u8);
        assert_eq!(ResponseAccess::status(&res), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(ResponseAccess::headers(&res)["retry-after"], "3");
        assert_eq!(ResponseAccess::extensions(&res).get::<u8>(), Some(&7));
    }

    #[cfg(feature = "reqwest")]
    #[test]
    fn reqwest_request_access() {
        let url = reqwest::Url::parse("http://127.0.0.1:1/orders?x=1").unwrap();
        let req = tag(reqwest::Request::new(Method::DELETE, url));
        assert_eq!(
            describe(&req),
            (
                Method::DELETE,
                "/orders".into(),
                Some(HeaderValue::from_static("abc"))
            )
        );
        assert!(RequestAccess::extensions(&req).is_none());
    }

    #[cfg(feature = "reqwest")]
    #[test]
    fn reqwest_response_access() {
        let res: reqwest::Response = http::Response::builder()
            .status(503)
            .header("retry-after", "5")
            .body("busy")
            .unwrap()
            .into();
        let mut res = res;
        ResponseAccess::extensions_mut(&mut res).insert(9u8);
        assert_eq!(
            ResponseAccess::status(&res),
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(ResponseAccess::headers(&res)["retry-after"], "5");
        assert_eq!(ResponseAccess::extensions(&res).get::<u8>(), Some(&9));
    }
}
