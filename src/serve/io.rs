//! Protocol detection under a deadline, and the stream that replays the
//! bytes it read.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// What every HTTP/2 prior-knowledge connection sends first.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// The protocol a connection speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Version {
    Http1,
    Http2,
}

/// Reads until the bytes leave HTTP/2's preface (HTTP/1, usually after
/// the first byte) or complete it (HTTP/2). The caller bounds it with the
/// header-read deadline: hyper-util's auto builder runs no timer here.
/// `Ok(None)`: the peer closed first.
pub(super) async fn detect(stream: &mut TcpStream) -> io::Result<Option<(Vec<u8>, Version)>> {
    let mut read = Vec::with_capacity(H2_PREFACE.len());
    let mut buf = [0u8; 24];
    loop {
        let n = stream
            .read(&mut buf[..H2_PREFACE.len() - read.len()])
            .await?;
        if n == 0 {
            return Ok(None);
        }
        read.extend_from_slice(&buf[..n]);
        if !H2_PREFACE.starts_with(&read) {
            return Ok(Some((read, Version::Http1)));
        }
        if read.len() == H2_PREFACE.len() {
            return Ok(Some((read, Version::Http2)));
        }
    }
}

/// A TCP stream that first yields the bytes detection read.
#[derive(Debug)]
pub(super) struct Rewound {
    prefix: Vec<u8>,
    at: usize,
    inner: TcpStream,
}

impl Rewound {
    pub(super) fn new(prefix: Vec<u8>, inner: TcpStream) -> Self {
        Rewound {
            prefix,
            at: 0,
            inner,
        }
    }
}

impl AsyncRead for Rewound {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.at < this.prefix.len() {
            let n = buf.remaining().min(this.prefix.len() - this.at);
            buf.put_slice(&this.prefix[this.at..this.at + n]);
            this.at += n;
            if this.at == this.prefix.len() {
                this.prefix = Vec::new();
                this.at = 0;
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Rewound {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}
