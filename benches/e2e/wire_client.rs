//! A minimal HTTP/1.1 client for the closed-loop load: it writes the same
//! request bytes every time and reads the answer with as little work as
//! possible.
//!
//! The generator shares the two cores with the server. hyper's client
//! spends several times the server's CPU per request (a task and a channel
//! per connection, building and encoding the request), which left the
//! server thread idle most of the time; the kernel's tick-sampled split
//! of CPU time into user and system then rests on few samples. A cheaper
//! client keeps the server busier and its CPU figures steadier. The server
//! still parses every header from the wire, as it would from any client.

use std::io::ErrorKind;
use std::net::SocketAddr;

use tokio::net::TcpStream;

/// The wire bytes of the realistic request: the one the in-process
/// benches use (`realistic_request`), with its eight headers.
pub(crate) fn realistic_request_bytes() -> Vec<u8> {
    let request = buttress_benches::realistic_request();
    let mut bytes = format!("{} {} HTTP/1.1\r\n", request.method(), request.uri()).into_bytes();
    for (name, value) in request.headers() {
        bytes.extend_from_slice(name.as_str().as_bytes());
        bytes.extend_from_slice(b": ");
        bytes.extend_from_slice(value.as_bytes());
        bytes.extend_from_slice(b"\r\n");
    }
    bytes.extend_from_slice(b"\r\n");
    bytes
}

/// One keep-alive connection.
pub(crate) struct WireConnection {
    stream: TcpStream,
    /// Bytes read and not yet consumed.
    buffer: Vec<u8>,
}

impl WireConnection {
    pub(crate) async fn open(addr: SocketAddr) -> std::io::Result<WireConnection> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(WireConnection {
            stream,
            buffer: Vec::with_capacity(4096),
        })
    }

    /// Sends `request` and reads the whole answer; returns its status code.
    pub(crate) async fn exchange(&mut self, request: &[u8]) -> std::io::Result<u16> {
        // Readiness and `try_` calls rather than tokio's `io-util`
        // extension traits: one feature less, and the same syscalls.
        let mut written = 0;
        while written < request.len() {
            self.stream.writable().await?;
            match self.stream.try_write(&request[written..]) {
                Ok(n) => written += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
        }
        let mut chunk = [0; 4096];
        loop {
            if let Some((status, length)) = parse_answer(&self.buffer)? {
                self.buffer.drain(..length);
                return Ok(status);
            }
            self.stream.readable().await?;
            match self.stream.try_read(&mut chunk) {
                Ok(0) => return Err(ErrorKind::UnexpectedEof.into()),
                Ok(n) => self.buffer.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
        }
    }
}

fn invalid(what: &str) -> std::io::Error {
    std::io::Error::new(ErrorKind::InvalidData, what.to_owned())
}

/// The status and whole length of the answer at the start of `bytes`, or
/// `None` if it is not all there yet. Understands what a hyper server
/// sends: a `content-length` body, or a chunked one without trailers.
fn parse_answer(bytes: &[u8]) -> std::io::Result<Option<(u16, usize)>> {
    let Some(head_end) = find(bytes, b"\r\n\r\n").map(|at| at + 4) else {
        return Ok(None);
    };
    let head = std::str::from_utf8(&bytes[..head_end]).map_err(|_| invalid("head"))?;
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| invalid("status line"))?;
    let mut content_length = None;
    let mut chunked = false;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            content_length = Some(value.parse().map_err(|_| invalid("content-length"))?);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value.eq_ignore_ascii_case("chunked");
        }
    }
    let body = &bytes[head_end..];
    let body_length = if chunked {
        chunked_length(body)?
    } else {
        let length = content_length.unwrap_or(0);
        (body.len() >= length).then_some(length)
    };
    Ok(body_length.map(|length| (status, head_end + length)))
}

/// The length of a complete chunked body at the start of `body`.
fn chunked_length(body: &[u8]) -> std::io::Result<Option<usize>> {
    let mut at = 0;
    loop {
        let Some(line_end) = find(&body[at..], b"\r\n") else {
            return Ok(None);
        };
        let size_text =
            std::str::from_utf8(&body[at..at + line_end]).map_err(|_| invalid("chunk"))?;
        let size_text = size_text.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16).map_err(|_| invalid("chunk size"))?;
        // The size line, the chunk and its CRLF (for the last chunk: the
        // empty trailer section's CRLF).
        at += line_end + 2 + size + 2;
        if body.len() < at {
            return Ok(None);
        }
        if size == 0 {
            return Ok(Some(at));
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}
