//! What every [`Fallback`](crate::Fallback) built by one layer shares,
//! and the per-call record of what a fallback answer would need.

use std::sync::Arc;

use buttress_core::classify::{Classify, Outcome};
use buttress_core::telemetry::{Event, FallbackCause, Telemetry};
use buttress_core::{BoxError, Reason, Rejected};
use bytes::BytesMut;
use http::request::Parts;
use http::{HeaderMap, Method, Request, Response, header};
use http_body::Body;

use crate::FallbackBody;
use crate::answer::{Failure, Marker, Respond};
use crate::body::{Recorder, passed, recorded};
use crate::stale::StaleCache;
use buttress_core::body::LocalOrInner;

pub(crate) struct Shared<C> {
    pub(crate) classifier: C,
    /// Bit `n` set: rejections for `Reason::ALL[n]` get a fallback.
    pub(crate) reasons: u32,
    /// `None`: every method.
    pub(crate) methods: Option<Vec<Method>>,
    pub(crate) stale: Option<Arc<StaleCache>>,
    pub(crate) respond: Option<Respond>,
    pub(crate) marker: Option<Marker>,
    pub(crate) telemetry: Telemetry,
}

impl<C> Shared<C> {
    pub(crate) fn eligible(&self, method: &Method) -> bool {
        self.methods
            .as_ref()
            .is_none_or(|methods| methods.contains(method))
    }

    fn handles(&self, reason: Reason) -> bool {
        reason.index() < 32 && self.reasons & (1 << reason.index()) != 0
    }
}

/// What one eligible call keeps until its outcome is known: the request's
/// head for a function fallback, its key for the stale cache.
pub(crate) struct Call<C> {
    shared: Arc<Shared<C>>,
    parts: Option<Parts>,
    key: Option<String>,
}

impl<C> Call<C> {
    /// Notes what the fallback would need from `request`; moves its head
    /// out and back only when something must be read from it.
    pub(crate) fn prepare<B>(shared: Arc<Shared<C>>, request: Request<B>) -> (Self, Request<B>) {
        let needs_parts = shared.respond.as_ref().is_some_and(Respond::needs_parts);
        if shared.stale.is_none() && !needs_parts {
            let call = Call {
                shared,
                parts: None,
                key: None,
            };
            return (call, request);
        }
        let (parts, body) = request.into_parts();
        let key = shared.stale.as_ref().and_then(|stale| (stale.key)(&parts));
        let kept = needs_parts.then(|| parts.clone());
        let call = Call {
            shared,
            parts: kept,
            key,
        };
        (call, Request::from_parts(parts, body))
    }

    /// Judges the call's result and answers: the result itself, or a
    /// fallback.
    pub(crate) fn finish<B, E>(
        self,
        result: Result<Response<B>, E>,
    ) -> Result<Response<FallbackBody<B>>, BoxError>
    where
        B: Body,
        E: Into<BoxError>,
        C: Classify<Response<B>>,
    {
        match result {
            Ok(response) => match self.shared.classifier.classify(Ok(&response)) {
                Outcome::Failure => {
                    let failure = Failure::status(response.status());
                    match self.answer(&failure) {
                        Some(answer) => Ok(answer),
                        None => Ok(response.map(passed)),
                    }
                }
                Outcome::Success => Ok(self.record(response)),
                Outcome::Ignored | Outcome::Cancelled => Ok(response.map(passed)),
            },
            Err(error) => self.fail::<B>(error.into()),
        }
    }

    /// Answers for a call that ended with `error`, or passes it on.
    pub(crate) fn fail<B>(self, error: BoxError) -> Result<Response<FallbackBody<B>>, BoxError>
    where
        C: Classify<Response<B>>,
    {
        let cause = match Rejected::find(&*error) {
            Some(rejected) => self
                .shared
                .handles(rejected.reason())
                .then_some(FallbackCause::Rejected(rejected.reason())),
            None => {
                let outcome = self.shared.classifier.classify(Err(&*error));
                outcome.is_failure().then_some(FallbackCause::Failure)
            }
        };
        let Some(cause) = cause else {
            return Err(error);
        };
        match self.answer(&Failure::error(cause, &*error)) {
            Some(answer) => Ok(answer),
            None => Err(error),
        }
    }

    /// The fallback answer: a fresh-enough stale one, else the fixed or
    /// built one; marked, noted in the extensions, reported.
    fn answer<B>(&self, failure: &Failure<'_>) -> Option<Response<FallbackBody<B>>> {
        let shared = &self.shared;
        let stale = match (&shared.stale, &self.key) {
            (Some(stale), Some(key)) => stale.answer(key),
            _ => None,
        };
        let response = match stale {
            Some(response) => response,
            None => shared
                .respond
                .as_ref()?
                .answer(self.parts.as_ref(), failure),
        };
        let cause = failure.cause();
        let mut response = response.map(LocalOrInner::local);
        if let Some(marker) = &shared.marker {
            marker.mark(response.headers_mut(), cause);
        }
        response.extensions_mut().insert(cause);
        shared.telemetry.report(Event::FallbackServed(cause));
        Some(response)
    }

    /// Passes a good answer on, copying it into the stale cache as it
    /// streams when a refresh is due.
    fn record<B: Body>(self, response: Response<B>) -> Response<FallbackBody<B>> {
        let (Some(stale), Some(key)) = (&self.shared.stale, self.key) else {
            return response.map(passed);
        };
        if !stale.wants(&key) {
            return response.map(passed);
        }
        let (parts, body) = response.into_parts();
        let recorder = Recorder {
            cache: stale.clone(),
            key,
            status: parts.status,
            version: parts.version,
            headers: end_to_end(&parts.headers),
            data: BytesMut::new(),
        };
        Response::from_parts(parts, recorded(body, recorder))
    }
}

/// The headers worth keeping: hop-by-hop ones describe the connection
/// the answer came on, not the answer.
fn end_to_end(headers: &HeaderMap) -> HeaderMap {
    let mut kept = headers.clone();
    for name in [
        header::CONNECTION,
        header::TRANSFER_ENCODING,
        header::TE,
        header::TRAILER,
        header::UPGRADE,
        header::PROXY_AUTHENTICATE,
        header::PROXY_AUTHORIZATION,
    ] {
        kept.remove(name);
    }
    kept.remove("keep-alive");
    kept
}
