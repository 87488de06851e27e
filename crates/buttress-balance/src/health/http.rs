//! `GET path` over HTTP/1.1, by hand: a health check needs a status line,
//! not a client with a connection pool, and writing one request keeps
//! this crate free of an HTTP client dependency.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// At most this much of the answer is read: the status line is in it.
const MAX_HEAD: usize = 1_024;

/// Whether `GET path` on `addr` answers 2xx. The caller bounds the time.
pub(super) async fn check(addr: SocketAddr, path: &str) -> bool {
    let Ok(mut stream) = TcpStream::connect(addr).await else {
        return false;
    };
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: buttress-health-check\r\nConnection: close\r\n\r\n"
    );
    if stream.write_all(request.as_bytes()).await.is_err() {
        return false;
    }
    let mut head = [0u8; MAX_HEAD];
    let mut len = 0;
    while len < MAX_HEAD {
        match stream.read(&mut head[len..]).await {
            Ok(0) | Err(_) => break,
            Ok(n) => len += n,
        }
        if head[..len].windows(2).any(|w| w == b"\r\n") {
            break;
        }
    }
    is_success(&head[..len])
}

/// Whether a response head starts with an `HTTP/1.x 2xx` status line.
fn is_success(head: &[u8]) -> bool {
    let Some(rest) = head
        .strip_prefix(b"HTTP/1.1 ")
        .or_else(|| head.strip_prefix(b"HTTP/1.0 "))
    else {
        return false;
    };
    matches!(rest, [b'2', a, b, ..] if a.is_ascii_digit() && b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::is_success;

    #[test]
    fn reads_the_status_line() {
        assert!(is_success(b"HTTP/1.1 200 OK\r\n"));
        assert!(is_success(b"HTTP/1.0 204 No Content\r\n"));
        assert!(!is_success(b"HTTP/1.1 503 Service Unavailable\r\n"));
        assert!(!is_success(b"HTTP/1.1 2"));
        assert!(!is_success(b"SSH-2.0-OpenSSH\r\n"));
    }
}
