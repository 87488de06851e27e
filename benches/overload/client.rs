//! The overload generator's connections: hyper 1 HTTP/1 client
//! connections, one per request in flight, sending the realistic request.

use std::net::SocketAddr;

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;

/// One keep-alive connection's sending half.
pub(crate) type Connection = SendRequest<Empty<Bytes>>;

/// Opens a connection to `addr`; its I/O runs on a task of the current
/// runtime, which ends when the returned half is dropped.
pub(crate) async fn connect(addr: SocketAddr) -> std::io::Result<Connection> {
    let stream = tokio::net::TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (sender, connection) = http1::handshake(TokioIo::new(stream))
        .await
        .map_err(std::io::Error::other)?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(sender)
}

/// The realistic request with its eight headers (host,
/// user-agent, accept, content-type, content-length, x-request-id,
/// traceparent, authorization), the same as the in-process benches use;
/// hyper writes them to the wire and the server parses them back.
pub(crate) fn realistic_request() -> Request<Empty<Bytes>> {
    buttress_benches::realistic_request().map(|()| Empty::new())
}

/// Sends `request` and reads the whole answer; the connection is ready
/// for the next request once this returns `Ok`.
pub(crate) async fn exchange(
    connection: &mut Connection,
    request: Request<Empty<Bytes>>,
) -> Result<StatusCode, hyper::Error> {
    connection.ready().await?;
    let response = connection.send_request(request).await?;
    let status = response.status();
    response.into_body().collect().await?;
    Ok(status)
}
