//! The gRPC health protocol (`grpc.health.v1.Health/Check`), through
//! `tonic-health`'s client.

use std::net::SocketAddr;

use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

/// Whether `addr` reports `service` as `SERVING`. A fresh connection per
/// check: a check must see whether the endpoint takes connections, and
/// the caller bounds the time.
pub(super) async fn check(addr: SocketAddr, service: &str) -> bool {
    let Ok(endpoint) = tonic::transport::Endpoint::from_shared(format!("http://{addr}")) else {
        return false;
    };
    let Ok(channel) = endpoint.connect().await else {
        return false;
    };
    let request = HealthCheckRequest {
        service: service.to_owned(),
    };
    match HealthClient::new(channel).check(request).await {
        Ok(answer) => answer.into_inner().status == ServingStatus::Serving as i32,
        Err(_) => false,
    }
}
