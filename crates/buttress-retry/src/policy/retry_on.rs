//! Which failures are transient: the filter applied after the classifier.

use std::error::Error;

use buttress_core::access::ResponseAccess;
use buttress_core::classify::{GrpcCodeSet, Outcome, StatusSet};
use buttress_core::{GrpcCode, Reason, Rejected};

/// Why an attempt is worth repeating (core's telemetry names it).
pub(crate) use buttress_core::telemetry::RetryCause as Cause;

#[derive(Debug, Clone, Copy)]
pub(crate) struct RetryOn {
    pub(crate) statuses: StatusSet,
    pub(crate) grpc_codes: GrpcCodeSet,
    pub(crate) transport_errors: bool,
    pub(crate) timeouts: bool,
    pub(crate) local_rejections: bool,
}

impl RetryOn {
    /// Whether a result the classifier judged `outcome` is worth another
    /// attempt, and why. Only failures are; the one exception is a local
    /// rejection (judged `Ignored`), retried only when configured.
    pub(crate) fn judge<R: ResponseAccess>(
        &self,
        outcome: Outcome,
        result: Result<&R, &(dyn Error + 'static)>,
        grpc_codes: GrpcCodeSet,
    ) -> Option<Cause> {
        match result {
            Ok(response) => {
                if outcome != Outcome::Failure {
                    let status = response.status().as_u16();
                    return (outcome == Outcome::Success
                        && unprocessed(response)
                        && self.statuses.contains(status))
                    .then_some(Cause::Status);
                }
                match GrpcCode::from_headers(response.headers()) {
                    Some(code) => grpc_codes.contains(code).then_some(Cause::Grpc),
                    None => self
                        .statuses
                        .contains(response.status().as_u16())
                        .then_some(Cause::Status),
                }
            }
            Err(error) => match Rejected::find(error) {
                Some(rejected) if !rejected.was_sent() => (self.local_rejections
                    && outcome != Outcome::Success)
                    .then_some(Cause::LocalRejection),
                Some(_) if outcome != Outcome::Failure => None,
                Some(rejected) => match rejected.reason() {
                    Reason::Timeout => self.timeouts.then_some(Cause::Timeout),
                    Reason::DeadlineExceeded => None,
                    _ => self.transport_errors.then_some(Cause::Transport),
                },
                None => (self.transport_errors && outcome == Outcome::Failure)
                    .then_some(Cause::Transport),
            },
        }
    }
}

/// Whether an answer says the server did not process the request (408,
/// 425). Not the dependency's failure — the classifier calls it success,
/// so the breaker ignores it — but worth sending again when listed.
#[inline]
pub(crate) fn unprocessed<R: ResponseAccess>(response: &R) -> bool {
    matches!(response.status().as_u16(), 408 | 425)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RetryOnConfig;
    use buttress_core::BoxError;
    use buttress_core::classify::{Classify, GrpcClassifier, HttpClassifier};

    fn defaults() -> RetryOn {
        crate::config::RetryConfig {
            retry_on: RetryOnConfig::default(),
            ..Default::default()
        }
        .policy()
        .unwrap()
        .retry_on
    }

    fn status(code: u16) -> http::Response<()> {
        http::Response::builder().status(code).body(()).unwrap()
    }

    fn judge_response(on: &RetryOn, res: &http::Response<()>) -> Option<Cause> {
        let outcome = HttpClassifier::default().classify(Ok(res));
        on.judge(outcome, Ok(res), on.grpc_codes)
    }

    fn judge_error(on: &RetryOn, err: &BoxError) -> Option<Cause> {
        let outcome =
            Classify::<http::Response<()>>::classify(&HttpClassifier::default(), Err(&**err));
        on.judge::<http::Response<()>>(outcome, Err(&**err), on.grpc_codes)
    }

    #[test]
    fn default_statuses() {
        let on = defaults();
        for code in [408, 429, 500, 502, 503, 504] {
            assert_eq!(
                judge_response(&on, &status(code)),
                Some(Cause::Status),
                "{code}"
            );
        }
        for code in [200, 400, 401, 404, 409, 425, 501] {
            assert_eq!(judge_response(&on, &status(code)), None, "{code}");
        }
    }

    #[test]
    fn a_status_the_classifier_calls_success_is_never_retried() {
        let on = defaults();
        let res = status(503);
        let lenient = HttpClassifier::default().succeeding(503);
        assert_eq!(
            on.judge(lenient.classify(Ok(&res)), Ok(&res), on.grpc_codes),
            None
        );
    }

    #[test]
    fn grpc_status_decides_over_http_status() {
        let on = defaults();
        let grpc = |code: &str| {
            http::Response::builder()
                .header("content-type", "application/grpc")
                .header("grpc-status", code)
                .body(())
                .unwrap()
        };
        let c = GrpcClassifier::default();
        let unavailable = grpc("14");
        assert_eq!(
            on.judge(
                c.classify(Ok(&unavailable)),
                Ok(&unavailable),
                on.grpc_codes
            ),
            Some(Cause::Grpc)
        );
        let internal = grpc("13");
        assert_eq!(
            on.judge(c.classify(Ok(&internal)), Ok(&internal), on.grpc_codes),
            None
        );
    }

    #[test]
    fn errors() {
        let on = defaults();
        let transport: BoxError = "connection refused".into();
        assert_eq!(judge_error(&on, &transport), Some(Cause::Transport));
        let timeout: BoxError = Rejected::new(Reason::Timeout).sent().into();
        assert_eq!(judge_error(&on, &timeout), Some(Cause::Timeout));
        let deadline: BoxError = Rejected::new(Reason::DeadlineExceeded).sent().into();
        assert_eq!(judge_error(&on, &deadline), None);
        let fault: BoxError = Rejected::new(Reason::FaultInjected).sent().into();
        assert_eq!(judge_error(&on, &fault), Some(Cause::Transport));
        for reason in [Reason::CircuitOpen, Reason::BulkheadFull, Reason::Throttled] {
            let local: BoxError = Rejected::new(reason).into();
            assert_eq!(judge_error(&on, &local), None, "{reason:?}");
        }
    }

    #[test]
    fn switches() {
        let on = RetryOn {
            timeouts: false,
            transport_errors: false,
            local_rejections: true,
            ..defaults()
        };
        let timeout: BoxError = Rejected::new(Reason::Timeout).sent().into();
        assert_eq!(judge_error(&on, &timeout), None);
        let transport: BoxError = "reset".into();
        assert_eq!(judge_error(&on, &transport), None);
        let local: BoxError = Rejected::new(Reason::CircuitOpen).into();
        assert_eq!(judge_error(&on, &local), Some(Cause::LocalRejection));
    }
}
