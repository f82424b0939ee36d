//! Accepting client connections, and the accepted connection as a stream
//! that meets the event loop only once it has to wait.
//!
//! tokio registers every socket it accepts with its epoll instance and
//! removes it again before closing it — two `epoll_ctl` calls per
//! connection — and a freshly registered socket is not known to be
//! readable until epoll has said so, so even a request that arrived
//! before the accept costs a round through the event loop (and the head
//! deadline's timer is armed meanwhile). A client that sent its request
//! before it was accepted and takes its answer in one go — most
//! connections with `Connection: close`, every health check — never has
//! to wait at all. So a connection is accepted non-blocking and
//! unregistered, read and written directly, and registered only when an
//! operation would block; HAProxy does the same ("speculative I/O").
//!
//! Direct operations take part in tokio's cooperative budget like any
//! tokio socket, so a client that keeps its socket full cannot keep its
//! worker from the other connections.

use crate::spec::kinds::loadbalancer::Protocol;
use socket2::SockRef;
use std::io::{self, IoSlice, Read};
use std::net::{Shutdown, SocketAddr};
use std::os::fd::AsFd;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncRead, AsyncWrite, Interest, ReadBuf};

/// A listening socket of one worker.
///
/// Its connections start with delayed acknowledgements (`TCP_QUICKACK`
/// off on the listening socket, which they inherit), as HAProxy's HTTP
/// listeners do: a request that came whole is acknowledged by the answer
/// instead of by a segment of its own. The first time a read would have
/// to wait, the connection acknowledges at once again.
pub struct Listener {
    socket: AsyncFd<mio::net::TcpListener>,
}

impl Listener {
    /// Takes a non-blocking listening socket over; registers it with the
    /// current worker's event loop.
    pub fn new(listener: std::net::TcpListener) -> io::Result<Self> {
        SockRef::from(&listener).set_tcp_quickack(false)?;
        // Deprecated because a type that does not own its descriptor could
        // close it while registered (tokio#8587); here the registration
        // owns the listener, which owns its descriptor, and the safe
        // replacement is `unsafe fn register` (this crate has no unsafe).
        #[allow(deprecated)]
        let socket = AsyncFd::with_interest(
            mio::net::TcpListener::from_std(listener),
            Interest::READABLE,
        )?;
        Ok(Self { socket })
    }

    /// The next connection, non-blocking and not registered (`accept4`
    /// with `SOCK_NONBLOCK`: one system call per connection).
    pub async fn accept(&self) -> io::Result<(ClientStream, SocketAddr)> {
        loop {
            let mut ready = self.socket.readable().await?;
            if let Ok(accepted) = ready.try_io(|socket| socket.get_ref().accept()) {
                let (stream, client) = accepted?;
                return Ok((ClientStream::new(stream.into()), client));
            }
        }
    }
}

/// How long the kernel holds a connection whose client has sent nothing
/// before handing it over anyway (then the request-head deadline runs):
/// the second HAProxy's `defer-accept` and nginx's `deferred` use too.
pub const DEFER_ACCEPT_SECONDS: u32 = 1;

/// Sets whether a listening socket's connections wait in the kernel until
/// their client has sent something (`TCP_DEFER_ACCEPT`): yes for
/// listeners whose clients speak first — HTTP, and TLS of any kind (the
/// ClientHello) — so a connection comes to `accept` with its request
/// already there and is served without a read that would block, without
/// being registered with the event loop (two `epoll_ctl`) and without a
/// wake-up to learn that it became readable; a connection that never
/// sends costs no descriptor and no task. No for `tcp` listeners, where
/// the server may speak first.
pub fn defer_accept(listener: &impl AsFd, protocol: Protocol) -> io::Result<()> {
    let seconds = match protocol {
        Protocol::Http | Protocol::Https | Protocol::Tls => DEFER_ACCEPT_SECONDS,
        Protocol::Tcp => 0,
    };
    lbops_sockopt::set_tcp_defer_accept(listener, seconds)
}

/// A client connection that can be told it is about to be closed.
pub trait Closing {
    /// What is written from now on is the last the client gets before the
    /// connection is closed: a partial last segment is held back
    /// (`MSG_MORE`) and leaves with the FIN, one packet instead of two.
    /// Only for the final write of an answer, right before the close: a
    /// segment held back waits for the close.
    fn will_close(&mut self);
}

/// What a connection about to read a request head expects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expecting {
    /// Its first request: usually there already (accepting is deferred
    /// until the client has sent something), so a read is tried at once.
    FirstRequest,
    /// The next request on a kept-alive connection: usually not there
    /// yet, so it waits for the event loop to say it came.
    NextRequest,
}

/// Whether a client may have sent something, known without reading: a
/// connection waiting for its next request then holds no buffers.
pub trait ReadReady {
    /// Ready when a read may find bytes (or the end). A stream that can
    /// tell only by reading is ready at once for its
    /// [`Expecting::FirstRequest`]; for the next, a socket that is not
    /// registered with the event loop yet registers to wait.
    fn poll_read_ready(
        &mut self,
        cx: &mut Context<'_>,
        expecting: Expecting,
    ) -> Poll<io::Result<()>>;
}

/// The most a direct (unregistered) read takes at once.
const DIRECT_READ_BYTES: usize = 2048;

/// An accepted client connection.
pub struct ClientStream {
    socket: Socket,
    /// Writes hold back partial segments for the FIN (`Closing`).
    closing: bool,
    /// Whether the kernel acknowledges what the client sends at once
    /// again; see [`Listener`] on why it does not at first.
    acks_at_once: bool,
}

enum Socket {
    /// Not known to the event loop: read and written directly.
    Direct(std::net::TcpStream),
    /// Registered, since an operation would have blocked.
    Registered(tokio::net::TcpStream),
    /// Registering failed; the error was returned and the socket closed.
    Lost,
}

impl ClientStream {
    /// `stream` must be non-blocking.
    fn new(stream: std::net::TcpStream) -> Self {
        Self {
            socket: Socket::Direct(stream),
            closing: false,
            acks_at_once: false,
        }
    }

    /// Whether the event loop knows this connection (it had to wait).
    #[cfg(test)]
    fn is_registered(&self) -> bool {
        matches!(self.socket, Socket::Registered(_))
    }

    /// The registered socket, registering it first if it is not yet.
    fn registered(&mut self) -> io::Result<&mut tokio::net::TcpStream> {
        self.socket = match std::mem::replace(&mut self.socket, Socket::Lost) {
            Socket::Direct(stream) => Socket::Registered(tokio::net::TcpStream::from_std(stream)?),
            registered_or_lost => registered_or_lost,
        };
        match &mut self.socket {
            Socket::Registered(stream) => Ok(stream),
            Socket::Direct(_) | Socket::Lost => Err(lost()),
        }
    }

    /// The registered socket, for a connection about to wait for the
    /// client: the first time, it acknowledges what the client sent now
    /// (and from here on at once), so that a client whose Nagle algorithm
    /// holds its next small segment until the last is acknowledged does
    /// not wait for the delayed ACK (40 ms).
    fn registered_to_wait(&mut self) -> io::Result<&mut tokio::net::TcpStream> {
        let first_wait = !self.acks_at_once;
        self.acks_at_once = true;
        let stream = self.registered()?;
        if first_wait {
            let _ = SockRef::from(&*stream).set_tcp_quickack(true);
        }
        Ok(stream)
    }

    /// Runs `direct` on the unregistered socket within the task's budget;
    /// `Ok(None)` when it would block (the caller then registers and
    /// waits).
    fn try_direct<T>(
        &mut self,
        cx: &mut Context<'_>,
        mut direct: impl FnMut(&std::net::TcpStream) -> io::Result<T>,
    ) -> Poll<io::Result<Option<T>>> {
        let Socket::Direct(stream) = &self.socket else {
            return Poll::Ready(Ok(None));
        };
        let budget = ready!(tokio::task::coop::poll_proceed(cx));
        loop {
            match direct(stream) {
                Ok(done) => {
                    budget.made_progress();
                    return Poll::Ready(Ok(Some(done)));
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Poll::Ready(Ok(None)),
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }

    /// Sends with `send` directly, or registered once it would block.
    fn poll_send(
        &mut self,
        cx: &mut Context<'_>,
        send: impl Fn(SockRef<'_>) -> io::Result<usize>,
    ) -> Poll<io::Result<usize>> {
        if let Some(n) = ready!(self.try_direct(cx, |stream| send(SockRef::from(stream))))? {
            return Poll::Ready(Ok(n));
        }
        let stream = self.registered()?;
        loop {
            ready!(stream.poll_write_ready(cx))?;
            match stream.try_io(Interest::WRITABLE, || send(SockRef::from(&*stream))) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                sent => return Poll::Ready(sent),
            }
        }
    }

    fn send_flags(&self) -> libc::c_int {
        if self.closing {
            libc::MSG_MORE
        } else {
            0
        }
    }
}

impl Closing for ClientStream {
    fn will_close(&mut self) {
        self.closing = true;
    }
}

impl<S: Closing> Closing for tokio_rustls::server::TlsStream<S> {
    fn will_close(&mut self) {
        self.get_mut().0.will_close();
    }
}

impl ReadReady for ClientStream {
    fn poll_read_ready(
        &mut self,
        cx: &mut Context<'_>,
        expecting: Expecting,
    ) -> Poll<io::Result<()>> {
        match (&self.socket, expecting) {
            // Not registered: only a read can tell, and it is cheaper than
            // registering to find out when a request is usually there.
            (Socket::Direct(_), Expecting::FirstRequest) => Poll::Ready(Ok(())),
            // A fresh registration is readable once epoll says so, which
            // it does at once if the bytes are there already.
            (Socket::Direct(_), Expecting::NextRequest) => {
                self.registered_to_wait()?.poll_read_ready(cx)
            }
            (Socket::Registered(stream), _) => stream.poll_read_ready(cx),
            (Socket::Lost, _) => Poll::Ready(Err(lost())),
        }
    }
}

impl<S> ReadReady for tokio_rustls::server::TlsStream<S> {
    /// TLS may hold decrypted bytes already read from the socket: only a
    /// read can tell.
    fn poll_read_ready(&mut self, _: &mut Context<'_>, _: Expecting) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

fn lost() -> io::Error {
    io::Error::new(
        io::ErrorKind::NotConnected,
        "the connection could not be registered with the event loop",
    )
}

impl AsyncRead for ClientStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        // Safe code must zero what it reads into; tokio's registered read
        // does not. A direct read (a connection's first, mostly) zeroes
        // at most what a request head usually takes, not the whole
        // buffer: a larger head is read on in the next call.
        let room = buf.remaining().min(DIRECT_READ_BYTES);
        let read = ready!(this.try_direct(cx, |mut stream| stream
            .read(buf.initialize_unfilled_to(room))))?;
        if let Some(n) = read {
            buf.advance(n);
            return Poll::Ready(Ok(()));
        }
        let read = Pin::new(this.registered()?).poll_read(cx, buf);
        if read.is_pending() && !this.acks_at_once {
            // Waiting for more from the client.
            this.registered_to_wait()?;
        }
        read
    }
}

impl AsyncWrite for ClientStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let flags = this.send_flags();
        this.poll_send(cx, |socket| socket.send_with_flags(buf, flags))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let flags = this.send_flags();
        this.poll_send(cx, |socket| socket.send_vectored_with_flags(bufs, flags))
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().socket {
            // Written straight into the socket: nothing is buffered here.
            Socket::Direct(_) => Poll::Ready(Ok(())),
            Socket::Registered(stream) => Pin::new(stream).poll_flush(cx),
            Socket::Lost => Poll::Ready(Err(lost())),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().socket {
            Socket::Direct(stream) => Poll::Ready(stream.shutdown(Shutdown::Write)),
            Socket::Registered(stream) => Pin::new(stream).poll_shutdown(cx),
            Socket::Lost => Poll::Ready(Err(lost())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn pair() -> (ClientStream, tokio::net::TcpStream) {
        let std_listener = crate::dataplane::workers::reuseport_listener(
            "127.0.0.1:0".parse().expect("an address"),
        )
        .expect("a listener");
        let address = std_listener.local_addr().expect("its address");
        let listener = Listener::new(std_listener).expect("registered");
        let (accepted, peer) =
            tokio::join!(listener.accept(), tokio::net::TcpStream::connect(address));
        let (server, client) = accepted.expect("accepted");
        let peer = peer.expect("connected");
        assert_eq!(client, peer.local_addr().expect("its address"));
        (server, peer)
    }

    #[tokio::test]
    async fn a_head_longer_than_a_direct_read_is_read_whole_without_registering() {
        let (mut server, mut peer) = pair().await;
        let head: Vec<u8> = (0..3 * DIRECT_READ_BYTES + 100)
            .map(|i| b'a' + (i % 26) as u8)
            .collect();
        peer.write_all(&head).await.expect("sent");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let mut there = vec![0; head.len()];
        while !matches!(&server.socket, Socket::Direct(s) if s.peek(&mut there).unwrap_or(0) == head.len())
        {
            assert!(
                std::time::Instant::now() < deadline,
                "the bytes never arrived"
            );
            tokio::task::yield_now().await;
        }
        let mut buf = bytes::BytesMut::with_capacity(16 * 1024);
        let first = server.read_buf(&mut buf).await.expect("read");
        assert_eq!(
            first, DIRECT_READ_BYTES,
            "one direct read takes at most its share"
        );
        while buf.len() < head.len() {
            assert!(server.read_buf(&mut buf).await.expect("read") > 0);
        }
        assert_eq!(&buf[..], &head[..]);
        assert!(!server.is_registered());
    }

    #[tokio::test]
    async fn a_request_already_there_is_read_and_answered_without_registering() {
        let (mut server, mut peer) = pair().await;
        peer.write_all(b"hello").await.expect("sent");
        // Wait until the bytes are there, as they are for a client that
        // sent its request before it was accepted.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let mut there = [0; 5];
        while !matches!(&server.socket, Socket::Direct(s) if s.peek(&mut there).unwrap_or(0) == 5) {
            assert!(
                std::time::Instant::now() < deadline,
                "the bytes never arrived"
            );
            tokio::task::yield_now().await;
        }
        let mut got = [0; 5];
        server.read_exact(&mut got).await.expect("read");
        assert_eq!(&got, b"hello");
        server.write_all(b"world").await.expect("written");
        server.shutdown().await.expect("shut down");
        assert!(!server.is_registered());
        let mut answer = Vec::new();
        peer.read_to_end(&mut answer).await.expect("answer");
        assert_eq!(answer, b"world");
    }

    #[tokio::test]
    async fn a_read_that_would_block_registers_and_then_waits_for_the_bytes() {
        let (mut server, mut peer) = pair().await;
        let mut got = [0; 5];
        let (read, ()) = tokio::join!(server.read_exact(&mut got), async {
            tokio::task::yield_now().await;
            peer.write_all(b"later").await.expect("sent");
        });
        read.expect("read");
        assert_eq!(&got, b"later");
        assert!(server.is_registered());
        // Registered, it goes on working both ways, and sees the close.
        server.write_all(b"ok").await.expect("written");
        let mut answer = [0; 2];
        peer.read_exact(&mut answer).await.expect("answer");
        assert_eq!(&answer, b"ok");
        drop(peer);
        let mut rest = Vec::new();
        server.read_to_end(&mut rest).await.expect("end");
        assert!(rest.is_empty());
    }

    #[tokio::test]
    async fn a_write_that_would_block_registers_and_finishes_once_the_peer_reads() {
        let (mut server, mut peer) = pair().await;
        // Far more than loopback socket buffers hold.
        let sent = vec![7u8; 16 * 1024 * 1024];
        let (written, received) = tokio::join!(
            async {
                server.write_all(&sent).await?;
                server.shutdown().await
            },
            async {
                let mut all = Vec::new();
                peer.read_to_end(&mut all).await.map(|_| all)
            }
        );
        written.expect("written");
        assert_eq!(received.expect("received").len(), sent.len());
        assert!(server.is_registered());
    }

    #[tokio::test]
    async fn what_is_written_before_a_close_arrives_whole_with_the_close() {
        for size in [2, 200 * 1024] {
            let (mut server, mut peer) = pair().await;
            let answer: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
            server.will_close();
            let (written, received) = tokio::join!(
                async {
                    server.write_all(&answer).await?;
                    server.flush().await?;
                    drop(server);
                    io::Result::Ok(())
                },
                async {
                    let mut all = Vec::new();
                    peer.read_to_end(&mut all).await.map(|_| all)
                }
            );
            written.expect("written");
            assert_eq!(received.expect("received"), answer, "{size} bytes");
        }
    }

    #[tokio::test]
    async fn acknowledgements_are_delayed_until_a_read_has_to_wait() {
        let (mut server, mut peer) = pair().await;
        // Inherited from the listener: a request that comes whole is
        // acknowledged by its answer.
        assert!(!acks_at_once(&server));
        let mut got = [0; 4];
        let (read, ()) = tokio::join!(server.read_exact(&mut got), async {
            tokio::task::yield_now().await;
            peer.write_all(b"more").await.expect("sent");
        });
        read.expect("read");
        // It had to wait: what the client sent is acknowledged at once, so
        // that a client holding a small segment back (Nagle) sends it.
        assert!(acks_at_once(&server));
    }

    /// Whether the connection acknowledges at once (`TCP_QUICKACK`).
    fn acks_at_once(server: &ClientStream) -> bool {
        match &server.socket {
            Socket::Direct(s) => SockRef::from(s).tcp_quickack().expect("readable option"),
            Socket::Registered(s) => SockRef::from(s).tcp_quickack().expect("readable option"),
            Socket::Lost => panic!("lost"),
        }
    }

    fn poll_ready_once(server: &mut ClientStream, expecting: Expecting) -> Poll<io::Result<()>> {
        let waker = std::task::Waker::noop();
        server.poll_read_ready(&mut Context::from_waker(waker), expecting)
    }

    #[tokio::test]
    async fn a_first_request_is_read_at_once_and_the_next_awaited_registered() {
        let (mut server, mut peer) = pair().await;
        // Its first request is usually there (accepting is deferred until
        // it is): a direct read tells, unregistered.
        assert!(matches!(
            poll_ready_once(&mut server, Expecting::FirstRequest),
            Poll::Ready(Ok(()))
        ));
        assert!(!server.is_registered());
        // The next one is awaited: registered (so the connection can wait
        // holding no buffers), not ready while nothing came, acknowledging
        // at once from now on.
        assert!(poll_ready_once(&mut server, Expecting::NextRequest).is_pending());
        assert!(server.is_registered());
        assert!(acks_at_once(&server));
        peer.write_all(b"next").await.expect("sent");
        let ready = std::future::poll_fn(|cx| server.poll_read_ready(cx, Expecting::NextRequest));
        tokio::time::timeout(std::time::Duration::from_secs(10), ready)
            .await
            .expect("ready once the bytes came")
            .expect("no error");
        let mut got = [0; 4];
        server.read_exact(&mut got).await.expect("read");
        assert_eq!(&got, b"next");
    }

    #[tokio::test]
    async fn accepted_connections_inherit_no_delay_from_the_listener() {
        let (server, _peer) = pair().await;
        let Socket::Direct(stream) = &server.socket else {
            panic!("registered before any operation");
        };
        assert!(stream.nodelay().expect("readable option"));
    }
}
