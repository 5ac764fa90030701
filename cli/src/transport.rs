//! The connections of `rulekit serve`, so that every error it answers is problem+json.
//!
//! hyper answers a request it cannot parse (a URI over 64 KiB: 414; headers too large: 431;
//! a malformed request line: 400) by itself, before the router sees anything, with an empty
//! body. Those answers are recognisable on the way out (a 4xx head with `content-length: 0`:
//! the router's own errors always carry a problem body) and are rewritten here into the same
//! problem+json the router writes. (Behind API Gateway the gateway answers these itself.)

use axum::serve::Listener;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

/// A TCP listener whose connections rewrite hyper's bodiless error answers.
pub struct ProblemListener(pub TcpListener);

impl Listener for ProblemListener {
    type Io = ProblemIo;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.0.accept().await {
                Ok((stream, addr)) => return (ProblemIo::new(stream), addr),
                // Out of file descriptors and the like: wait, rather than spin.
                Err(e) => {
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.0.local_addr()
    }
}

pub struct ProblemIo {
    inner: TcpStream,
    /// A rewritten answer not yet written out in full.
    pending: Vec<u8>,
}

impl ProblemIo {
    fn new(inner: TcpStream) -> Self {
        Self {
            inner,
            pending: Vec::new(),
        }
    }

    fn write_pending(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while !self.pending.is_empty() {
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &self.pending))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.pending.drain(..n);
        }
        Poll::Ready(Ok(()))
    }
}

/// hyper's own answer to a request it could not parse, as problem+json; `None` for anything
/// else.
fn rewrite(head: &[u8]) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(head).ok()?;
    let status_line = text.strip_prefix("HTTP/1.1 ")?;
    let (code, rest) = status_line.split_once(' ')?;
    let status: u16 = code.parse().ok()?;
    let (title, _) = rest.split_once("\r\n")?;
    let bodiless = text
        .to_ascii_lowercase()
        .contains("\r\ncontent-length: 0\r\n");
    if !(400..500).contains(&status) || !bodiless || !text.ends_with("\r\n\r\n") {
        return None;
    }
    let detail = match status {
        414 => "the request's URI is too long",
        431 => "the request's headers are too large",
        _ => "the request could not be parsed as HTTP",
    };
    let body = serde_json::json!({
        "type": "about:blank",
        "title": title,
        "status": status,
        "detail": detail,
    })
    .to_string();
    Some(
        format!(
            "HTTP/1.1 {status} {title}\r\ncontent-type: application/problem+json\r\n\
             content-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        )
        .into_bytes(),
    )
}

impl AsyncRead for ProblemIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for ProblemIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        ready!(self.write_pending(cx))?;
        match rewrite(buf) {
            Some(answer) => {
                self.pending = answer;
                // The original is taken whole; the rewrite goes out now or on flush.
                match self.write_pending(cx) {
                    Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
                    _ => Poll::Ready(Ok(buf.len())),
                }
            }
            None => Pin::new(&mut self.inner).poll_write(cx, buf),
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.write_pending(cx))?;
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.write_pending(cx))?;
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    // Writes stay whole buffers (hyper then flattens a response into one), so a head is
    // always seen in one piece by `poll_write`.
    fn is_write_vectored(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::rewrite;

    #[test]
    fn when_hyper_answers_a_bad_request_by_itself_should_become_problem_json() {
        let head = b"HTTP/1.1 414 URI Too Long\r\ncontent-length: 0\r\ndate: x\r\n\r\n";
        let answer = String::from_utf8(rewrite(head).unwrap()).unwrap();
        assert!(
            answer.starts_with("HTTP/1.1 414 URI Too Long\r\n"),
            "{answer}"
        );
        assert!(answer.contains("content-type: application/problem+json"));
        let body: serde_json::Value =
            serde_json::from_str(answer.split("\r\n\r\n").nth(1).unwrap()).unwrap();
        assert_eq!(body["status"], 414);
        assert_eq!(body["detail"], "the request's URI is too long");
        // The router's own answers are left alone: they have bodies, or are not errors.
        assert_eq!(
            rewrite(b"HTTP/1.1 404 Not Found\r\ncontent-length: 75\r\n\r\n"),
            None
        );
        assert_eq!(
            rewrite(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n"),
            None
        );
    }
}
