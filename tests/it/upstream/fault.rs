//! Injected faults: what a test can ask for ([`Fault`]), which request gets it ([`take_fault`]),
//! and how it reaches the wire: response bodies with the fault applied ([`BodyState`]) and
//! connections that can be cut at an exact byte ([`Cut`], [`CutListener`]).
//!
//! Faults are bounded in time and volume ([`MAX_HANG`], [`MAX_TRICKLE`]) so a test that gets its
//! scenario wrong fails or finishes instead of hanging the suite. Cuts happen at hyper's flush,
//! not after a timed pause, so the client sees exactly the promised prefix however loaded the
//! machine is.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use axum::extract::connect_info::Connected;
use axum::serve::{IncomingStream, Listener};
use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

use super::Inner;
use super::content::{CHUNK, Chunks};

/// A hanging request never waits longer than this, whatever the test asked for.
pub(super) const MAX_HANG: Duration = Duration::from_secs(120);
/// A body trickles for at most this long, then the rest goes at full speed.
const MAX_TRICKLE: Duration = Duration::from_secs(60);

/// A fault injected on one path. Body faults (`Truncate`, `WrongContent`, `Trickle`, `DropAfter`)
/// apply only to GETs of content: a HEAD neither sees nor consumes them. `Status` and `Hang`
/// apply to every request on the path, whether or not anything is served there.
#[derive(Clone, Debug)]
pub(crate) enum Fault {
    /// Answer this status with a short text body instead of the content.
    Status(u16),
    /// Promise the full `Content-Length`, send only `keep` body bytes, then close. On the wire
    /// this is `DropAfter`; the two names only tell the scenarios apart.
    Truncate { keep: u64 },
    /// Serve other bytes than the sums files were made from ("wrong digest"): the byte at offset
    /// `len / 2` is flipped; length, ETag and headers are unchanged.
    WrongContent,
    /// Send `bytes` per `every` (for at most [`MAX_TRICKLE`], then at full speed).
    Trickle { bytes: usize, every: Duration },
    /// Abort the connection after `bytes` body bytes of a response.
    DropAfter { bytes: u64 },
    /// Wait this long (capped at [`MAX_HANG`]) before sending any header, then answer normally.
    Hang(Duration),
    /// Send the body without `Content-Length` (chunked), like a generated page: with a huge
    /// generated file, a body without announced end.
    NoLength,
}

/// The fault for this request, if any, consuming one use of a
/// [`Upstream::fault_times`](super::Upstream::fault_times) fault.
pub(super) fn take_fault(inner: &mut Inner, path: &str, body_request: bool) -> Option<Fault> {
    let (fault, remaining) = inner.faults.get_mut(path)?;
    if !body_request && !matches!(fault, Fault::Status(_) | Fault::Hang(_)) {
        return None;
    }
    let fault = fault.clone();
    if let Some(n) = remaining {
        *n -= 1;
        if *n == 0 {
            inner.faults.remove(path);
        }
    }
    Some(fault)
}

/// Per-connection switch for truncate/drop faults. Once set, the connection fails at its next
/// flush, i.e. right after every byte handed to hyper reached the socket, so the client receives
/// exactly the promised prefix however loaded the machine is (a timed pause would not guarantee it).
#[derive(Clone, Default)]
pub(super) struct Cut(Arc<AtomicBool>);

impl Connected<IncomingStream<'_, CutListener>> for Cut {
    fn connect_info(stream: IncomingStream<'_, CutListener>) -> Cut {
        stream.io().1.clone()
    }
}

pub(super) struct CutListener(pub(super) TcpListener);

impl Listener for CutListener {
    type Io = CutIo;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (CutIo, SocketAddr) {
        loop {
            match self.0.accept().await {
                Ok((stream, addr)) => return (CutIo(stream, Cut::default()), addr),
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            }
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.0.local_addr()
    }
}

pub(super) struct CutIo(TcpStream, Cut);

impl AsyncRead for CutIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context,
        buf: &mut ReadBuf,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_read(cx, buf)
    }
}

impl AsyncWrite for CutIo {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().0).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(Pin::new(&mut this.0).poll_flush(cx))?;
        let cut = this.1.0.load(Ordering::SeqCst);
        let error = || io::Error::new(io::ErrorKind::ConnectionAborted, "injected cut");
        Poll::Ready(if cut { Err(error()) } else { Ok(()) })
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_shutdown(cx)
    }
}

/// A response body: content chunks with the body fault of this request applied.
pub(super) struct BodyState {
    chunks: Chunks,
    fault: Option<Fault>,
    sent: u64,
    cut: Cut,
    started: Instant,
    flip_at: u64,
    done: bool,
}

impl BodyState {
    /// The body for `chunks` of content `len` bytes long, under `fault`, on connection `cut`.
    pub(super) fn new(chunks: Chunks, len: u64, fault: Option<Fault>, cut: Cut) -> BodyState {
        BodyState {
            chunks,
            fault,
            sent: 0,
            cut,
            started: Instant::now(),
            flip_at: len / 2,
            done: false,
        }
    }

    pub(super) async fn next(&mut self) -> Option<io::Result<Bytes>> {
        let left = self.chunks.end - self.chunks.pos;
        if self.done || left == 0 {
            return None;
        }
        let mut n = CHUNK.min(left);
        match self.fault {
            Some(Fault::Truncate { keep: limit } | Fault::DropAfter { bytes: limit }) => {
                if self.sent >= limit {
                    // The connection fails at hyper's next flush, once every byte sent so far is
                    // in the socket, and hyper drops this body: the wait below is only a bound.
                    self.done = true;
                    self.cut.0.store(true, Ordering::SeqCst);
                    tokio::time::sleep(MAX_HANG).await;
                    let abort = matches!(self.fault, Some(Fault::DropAfter { .. }));
                    let dropped = io::Error::new(io::ErrorKind::ConnectionAborted, "injected");
                    return abort.then_some(Err(dropped));
                }
                n = n.min(limit - self.sent);
            }
            Some(Fault::Trickle { bytes, every }) if self.started.elapsed() < MAX_TRICKLE => {
                n = n.min(bytes.max(1) as u64);
                tokio::time::sleep(every).await;
            }
            _ => {}
        }
        let pos = self.chunks.pos;
        let chunk = self.chunks.read(n);
        self.done = chunk.is_err();
        self.sent += n;
        let flip = matches!(self.fault, Some(Fault::WrongContent));
        if flip && (pos..pos + n).contains(&self.flip_at) {
            let mut bytes = chunk.ok()?.to_vec();
            bytes[(self.flip_at - pos) as usize] ^= 0xff;
            return Some(Ok(bytes.into()));
        }
        Some(chunk)
    }
}
