//! gRPC methods declared safe to retry, each with the status codes it is
//! retried on: gRPC's retry policy (gRFC A6) per service or method.

use std::sync::Arc;

use buttress_core::classify::GrpcCodeSet;

/// The declared methods, in the order given: the first that matches a
/// call decides.
#[derive(Debug, Clone, Default)]
pub(crate) struct GrpcMethods {
    entries: Arc<[Entry]>,
}

#[derive(Debug)]
pub(crate) struct Entry {
    pub(crate) service: Box<str>,
    /// `None`: every method of the service.
    pub(crate) method: Option<Box<str>>,
    /// `None`: the layer's `retry_on.grpc_codes`.
    pub(crate) codes: Option<GrpcCodeSet>,
}

impl GrpcMethods {
    pub(crate) fn new(entries: Vec<Entry>) -> Self {
        GrpcMethods {
            entries: entries.into(),
        }
    }

    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The codes a gRPC call to `path` (`/pkg.Service/Method`) is retried
    /// on, if its method is declared safe; `default` where the declaration
    /// names none.
    pub(crate) fn lookup(&self, path: &str, default: GrpcCodeSet) -> Option<GrpcCodeSet> {
        let (service, method) = path.strip_prefix('/')?.split_once('/')?;
        self.entries
            .iter()
            .find(|entry| {
                *entry.service == *service && entry.method.as_deref().is_none_or(|m| m == method)
            })
            .map(|entry| entry.codes.unwrap_or(default))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use buttress_core::GrpcCode;

    #[test]
    fn the_first_matching_declaration_decides() {
        let internal = GrpcCodeSet::empty().with(GrpcCode::Internal);
        let default = GrpcCodeSet::empty().with(GrpcCode::Unavailable);
        let methods = GrpcMethods::new(vec![
            Entry {
                service: "shop.Stock".into(),
                method: Some("Get".into()),
                codes: Some(internal),
            },
            Entry {
                service: "grpc.health.v1.Health".into(),
                method: None,
                codes: None,
            },
        ]);
        assert_eq!(methods.lookup("/shop.Stock/Get", default), Some(internal));
        assert_eq!(methods.lookup("/shop.Stock/Reserve", default), None);
        assert_eq!(
            methods.lookup("/grpc.health.v1.Health/Check", default),
            Some(default)
        );
        assert_eq!(methods.lookup("/grpc.health.v1.Health", default), None);
        assert_eq!(methods.lookup("grpc.health.v1.Health/Check", default), None);
    }
}
