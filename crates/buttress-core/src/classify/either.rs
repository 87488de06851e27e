//! One classifier for clients that speak both HTTP and gRPC.

use std::error::Error;

use super::{Classify, GrpcClassifier, HttpClassifier, Outcome, classify_error};
use crate::access::ResponseAccess;
use crate::grpc::GRPC_STATUS;

/// Judges an answer by its `grpc-status` when it carries one (a
/// trailers-only gRPC answer, HTTP 200 with UNAVAILABLE in its headers),
/// and by its HTTP status otherwise.
///
/// [`HttpClassifier`] alone would call such a gRPC error a success; this
/// one costs a header lookup more per answer, which is why it is not the
/// default of HTTP-only layers.
///
/// ```
/// use buttress_core::classify::{Classify, HttpOrGrpcClassifier, Outcome};
///
/// let classifier = HttpOrGrpcClassifier::default();
/// let unavailable = http::Response::builder().header("grpc-status", "14").body(()).unwrap();
/// let busy = http::Response::builder().status(503).body(()).unwrap();
/// assert_eq!(classifier.classify(Ok(&unavailable)), Outcome::Failure);
/// assert_eq!(classifier.classify(Ok(&busy)), Outcome::Failure);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HttpOrGrpcClassifier {
    /// The verdict on answers without `grpc-status`.
    pub http: HttpClassifier,
    /// The verdict on answers with one.
    pub grpc: GrpcClassifier,
}

impl<R: ResponseAccess> Classify<R> for HttpOrGrpcClassifier {
    fn classify(&self, result: Result<&R, &(dyn Error + 'static)>) -> Outcome {
        match result {
            Ok(response) if response.headers().contains_key(&GRPC_STATUS) => {
                self.grpc.classify(Ok(response))
            }
            Ok(response) => self.http.classify_status(response.status()),
            Err(error) => classify_error(error),
        }
    }
}
