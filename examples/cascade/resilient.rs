//! The Buttress side: the stacks `config` loads, put around A, B and
//! their calls. Everything here is wiring, but for one classifier.

use axum::Router;
use buttress::BoxError;
use buttress::core::classify::{Classify, HttpClassifier, Outcome};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use tower::{Layer, ServiceExt};

use super::config;
use super::services::Downstream;

type Http = Client<HttpConnector, Empty<Bytes>>;

/// A's server stack around A's routes.
pub fn a_server(router: Router) -> Router {
    router.layer(config::a().server.build().expect("a valid server stack"))
}

/// B's server stack around B's routes.
pub fn b_server(router: Router) -> Router {
    router.layer(config::b().server.build().expect("a valid server stack"))
}

/// B's client for C, with the fallback its config describes.
pub fn c_client(http: Http) -> Downstream {
    let stack = config::b().client;
    let fallback = stack
        .config()
        .fallback
        .clone()
        .expect("b.toml gives C a fallback");
    let stack = stack
        .clone_requests()
        .fallback(fallback)
        .build()
        .expect("a valid client stack");
    let client = stack
        .layer(http)
        .map_response(|res| res.map(|body| body.map_err(BoxError::from).boxed()));
    Downstream::new(client)
}

/// A's client for B. Its classifier is the one setting TOML cannot hold.
pub fn b_client(http: Http) -> Downstream {
    let stack = config::a()
        .client
        .classifier(refusals_are_not_failures)
        .clone_requests()
        .build()
        .expect("a valid client stack");
    let client = stack
        .layer(http)
        .map_response(|res| res.map(|body| body.map_err(BoxError::from).boxed()));
    Downstream::new(client)
}

/// How A judges B's answers: as the default classifier does, except that
/// a 503 carrying `Retry-After` — B's shedder turning a sheddable request
/// away on purpose, not B failing — counts neither way. Otherwise a spike
/// of sheddable traffic would open A's breaker, and A would refuse B's
/// critical traffic too: the very requests B's shedder keeps.
fn refusals_are_not_failures(
    result: Result<&http::Response<Incoming>, &(dyn std::error::Error + 'static)>,
) -> Outcome {
    if let Ok(response) = result
        && response.status() == http::StatusCode::SERVICE_UNAVAILABLE
        && response.headers().contains_key(http::header::RETRY_AFTER)
    {
        return Outcome::Ignored;
    }
    HttpClassifier::default().classify(result)
}
