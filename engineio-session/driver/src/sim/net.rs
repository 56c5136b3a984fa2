//! The simulated network: listeners, and connections made of two ordered, delayed pipes.

use std::collections::{BTreeMap, VecDeque};
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::{Buf, Bytes};
use futures_io::{AsyncRead, AsyncWrite};

use super::world::{lock, HostId, State, TimerSlot, World};

/// How many bytes a pipe holds unread (in flight or arrived) before its writer waits: the
/// network's buffers are bounded, like a TCP window.
const WINDOW: usize = 256 * 1024;
/// How many accepted connections a listener queues before refusing more.
const BACKLOG: usize = 1024;
/// How long a connection attempt across a partition takes to fail.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// Every listener and open connection.
#[derive(Default)]
pub(crate) struct Net {
    conns: Vec<Option<Conn>>,
    free: Vec<usize>,
    listeners: BTreeMap<(HostId, u16), Backlog>,
    /// Hosts cut off from another (or, with `None`, from every other), until when.
    cuts: Vec<(HostId, Option<HostId>, Duration)>,
    next_port: u16,
    next_serial: u64,
}

/// A connection: end 0 connected, end 1 accepted; `pipes[e]` carries what end `e` writes.
struct Conn {
    serial: u64,
    hosts: [HostId; 2],
    pipes: [Pipe; 2],
    reset: bool,
    open_ends: u8,
}

#[derive(Default)]
struct Pipe {
    /// Segments with the virtual time each arrives, in order.
    segs: VecDeque<(Duration, Bytes)>,
    unread: usize,
    last_due: Duration,
    /// When the writer's end-of-stream arrives, once it closed.
    eof: Option<Duration>,
    reader_gone: bool,
    reader: Option<Waker>,
    writer: Option<Waker>,
    /// The reader's timer for the next arrival.
    timer: Option<(Duration, Arc<TimerSlot>)>,
}

impl Pipe {
    fn wake_all(&mut self, out: &mut Vec<Waker>) {
        out.extend(self.reader.take());
        out.extend(self.writer.take());
        self.timer = None;
    }
}

/// A listener's queue of accepted connections.
#[derive(Default)]
struct Backlog {
    queue: VecDeque<(usize, SocketAddr)>,
    waker: Option<Waker>,
}

/// The address a host's connections come from.
pub(crate) fn host_ip(host: HostId) -> Ipv4Addr {
    Ipv4Addr::new(10, (host >> 16) as u8, (host >> 8) as u8, host as u8)
}

impl Net {
    /// Cuts `host` off from `other` (from every other host if `None`) until `until`.
    pub(crate) fn cut(&mut self, host: HostId, other: Option<HostId>, until: Duration) {
        self.cuts.push((host, other, until));
    }

    /// Until when `a` and `b` cannot reach each other, if they cannot now.
    fn cut_until(&mut self, a: HostId, b: HostId, now: Duration) -> Option<Duration> {
        self.cuts.retain(|(_, _, until)| *until > now);
        let between = |h: HostId, other: Option<HostId>| {
            (h == a && other.is_none_or(|o| o == b)) || (h == b && other.is_none_or(|o| o == a))
        };
        (self.cuts.iter())
            .filter(|(h, other, _)| between(*h, *other))
            .map(|(_, _, until)| *until)
            .max()
    }

    /// The connections open at both ends and not reset (only `host`'s, if given), in a
    /// fixed order.
    pub(crate) fn open_connections(&self, host: Option<HostId>) -> Vec<usize> {
        let wanted =
            |c: &Conn| !c.reset && c.open_ends == 2 && host.is_none_or(|h| c.hosts.contains(&h));
        (self.conns.iter().enumerate())
            .filter(|(_, c)| c.as_ref().is_some_and(wanted))
            .map(|(i, _)| i)
            .collect()
    }

    /// Resets connection `id`; its hosts (connecting end first).
    pub(crate) fn reset(&mut self, id: usize, wake: &mut Vec<Waker>) -> Option<(HostId, HostId)> {
        let c = self.conns.get_mut(id)?.as_mut()?;
        c.reset = true;
        for p in &mut c.pipes {
            p.segs.clear();
            p.unread = 0;
            p.wake_all(wake);
        }
        Some((c.hosts[0], c.hosts[1]))
    }

    /// Connection `id`, unless the world was torn down under its streams.
    fn conn(&mut self, id: usize) -> Option<&mut Conn> {
        self.conns.get_mut(id).and_then(Option::as_mut)
    }
}

impl State {
    /// Listens on `host:port`.
    pub(crate) fn bind(&mut self, host: HostId, port: u16) -> io::Result<()> {
        if self.net.listeners.contains_key(&(host, port)) {
            return Err(io::ErrorKind::AddrInUse.into());
        }
        self.net.listeners.insert((host, port), Backlog::default());
        let name = self.hosts[host].name.clone();
        self.trace(format_args!("listen {name}:{port}"));
        Ok(())
    }

    /// One way of a segment sent now from `from` to `to`: when it arrives.
    fn arrival(&mut self, from: HostId, to: HostId) -> Duration {
        let (lo, hi) = self.faults.latency;
        let latency = self.rng.duration(lo, hi);
        let now = self.now;
        self.net.cut_until(from, to, now).unwrap_or(now) + latency
    }

    /// Resolves a host name.
    pub(crate) fn resolve(&self, name: &str) -> Option<HostId> {
        self.hosts.iter().position(|h| h.name == name)
    }
}

/// Connects `from` to `name:port`, taking a round trip (and failing as TCP would).
pub(crate) async fn connect(
    world: Arc<World>,
    from: HostId,
    name: &str,
    port: u16,
) -> io::Result<SimStream> {
    let reachable = {
        let mut st = world.state();
        let Some(to) = st.resolve(name) else {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("no simulated host is named {name:?}"),
            ));
        };
        let now = st.now;
        match st.net.cut_until(from, to, now) {
            Some(_) => None,
            None => Some((to, st.arrival(from, to))),
        }
    };
    let Some((to, syn_at)) = reachable else {
        let at = world.state().now + CONNECT_TIMEOUT;
        super::runtime::world_sleep(&world, at).await;
        world
            .state()
            .trace(format_args!("connect h{from} -> {name}:{port} timed out"));
        return Err(io::ErrorKind::TimedOut.into());
    };
    super::runtime::world_sleep(&world, syn_at).await;
    let (stream, ack_at) = {
        let mut st = world.state();
        let listening = st.net.listeners.get(&(to, port)).map(|b| b.queue.len());
        if listening.is_none_or(|queued| queued >= BACKLOG) {
            st.trace(format_args!("connect h{from} -> {name}:{port} refused"));
            return Err(io::ErrorKind::ConnectionRefused.into());
        }
        st.net.next_port = st.net.next_port.wrapping_add(1);
        let peer = SocketAddr::from((host_ip(from), 32768 + st.net.next_port % 28000));
        st.net.next_serial += 1;
        let serial = st.net.next_serial;
        let conn = Conn {
            serial,
            hosts: [from, to],
            pipes: Default::default(),
            reset: false,
            open_ends: 2,
        };
        let id = match st.net.free.pop() {
            Some(id) => {
                st.net.conns[id] = Some(conn);
                id
            }
            None => {
                st.net.conns.push(Some(conn));
                st.net.conns.len() - 1
            }
        };
        let backlog = st.net.listeners.get_mut(&(to, port)).expect("checked");
        backlog.queue.push_back((id, peer));
        if let Some(w) = backlog.waker.take() {
            w.wake();
        }
        st.trace(format_args!("c{serial} open h{from} -> {name}:{port}"));
        let ack_at = st.arrival(to, from);
        let stream = SimStream {
            world: world.clone(),
            conn: id,
            end: 0,
        };
        (stream, ack_at)
    };
    // Dropped from here on (a timeout around the connect), the stream closes its end.
    super::runtime::world_sleep(&world, ack_at).await;
    Ok(stream)
}

/// Takes the next connection queued on `host:port`.
pub(crate) fn poll_accept(
    world: &Arc<World>,
    host: HostId,
    port: u16,
    cx: &mut Context<'_>,
) -> Poll<io::Result<(SimStream, SocketAddr)>> {
    let mut st = world.state();
    let Some(backlog) = st.net.listeners.get_mut(&(host, port)) else {
        return Poll::Ready(Err(io::ErrorKind::NotConnected.into()));
    };
    match backlog.queue.pop_front() {
        Some((conn, peer)) => {
            let stream = SimStream {
                world: world.clone(),
                conn,
                end: 1,
            };
            Poll::Ready(Ok((stream, peer)))
        }
        None => {
            backlog.waker = Some(cx.waker().clone());
            Poll::Pending
        }
    }
}

/// Stops listening on `host:port`; what was queued is closed.
pub(crate) fn unbind(world: &Arc<World>, host: HostId, port: u16) {
    let queued = {
        let mut st = world.state();
        st.trace(format_args!("unlisten h{host}:{port}"));
        st.net.listeners.remove(&(host, port))
    };
    for (conn, _) in queued.map(|b| b.queue).unwrap_or_default() {
        drop(SimStream {
            world: world.clone(),
            conn,
            end: 1,
        });
    }
}

/// One end of a simulated TCP connection.
pub struct SimStream {
    world: Arc<World>,
    conn: usize,
    end: usize,
}

impl std::fmt::Debug for SimStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimStream")
            .field("conn", &self.conn)
            .field("end", &self.end)
            .finish()
    }
}

fn reset_error() -> io::Error {
    io::Error::new(io::ErrorKind::ConnectionReset, "simulated connection reset")
}

impl AsyncRead for SimStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let mut guard = self.world.state();
        let st = &mut *guard;
        let now = st.now;
        let Some(c) = st.net.conn(self.conn).filter(|c| !c.reset) else {
            return Poll::Ready(Err(reset_error()));
        };
        let serial = c.serial;
        let p = &mut c.pipes[1 - self.end];
        let mut n = 0;
        while n < buf.len() {
            let Some((due, seg)) = p.segs.front_mut() else {
                break;
            };
            if *due > now {
                break;
            }
            let k = seg.len().min(buf.len() - n);
            buf[n..n + k].copy_from_slice(&seg[..k]);
            seg.advance(k);
            n += k;
            if seg.is_empty() {
                p.segs.pop_front();
            }
        }
        if n > 0 || buf.is_empty() {
            p.unread -= n;
            if let Some(w) = p.writer.take() {
                w.wake();
            }
            return Poll::Ready(Ok(n));
        }
        if p.segs.is_empty() && p.eof.is_some_and(|at| at <= now) {
            st.trace(format_args!("c{serial} end {} read eof", self.end));
            return Poll::Ready(Ok(0));
        }
        p.reader = Some(cx.waker().clone());
        let next = p.segs.front().map(|s| s.0).or(p.eof);
        let Some(at) = next else {
            p.timer = None;
            return Poll::Pending;
        };
        let slot = match &p.timer {
            Some((t, slot)) if *t == at => {
                *lock(slot) = Some(cx.waker().clone());
                return Poll::Pending;
            }
            _ => Arc::new(TimerSlot::new(Some(cx.waker().clone()))),
        };
        p.timer = Some((at, slot.clone()));
        st.add_timer(None, at, &slot);
        Poll::Pending
    }
}

impl AsyncWrite for SimStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let mut st = self.world.state();
        let Some(c) = st.net.conn(self.conn).filter(|c| !c.reset) else {
            return Poll::Ready(Err(reset_error()));
        };
        let p = &mut c.pipes[self.end];
        if p.eof.is_some() || p.reader_gone {
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        }
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        if p.unread >= WINDOW {
            p.writer = Some(cx.waker().clone());
            return Poll::Pending;
        }
        let n = buf.len().min(WINDOW - p.unread);
        transmit(
            &mut st,
            self.conn,
            self.end,
            Some(Bytes::copy_from_slice(&buf[..n])),
        );
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut st = self.world.state();
        shut_write(&mut st, self.conn, self.end);
        Poll::Ready(Ok(()))
    }
}

/// Ends what `end` of `conn` writes: the peer reads end-of-stream after what is in flight.
fn shut_write(st: &mut State, conn: usize, end: usize) {
    let open = st.net.conn(conn);
    if open.is_some_and(|c| !c.reset && c.pipes[end].eof.is_none()) {
        transmit(st, conn, end, None);
    }
}

/// Puts `segment` (or, with `None`, the end of the stream) on the pipe `end` of `conn`
/// writes: it arrives after its latency and after what is already in flight. Wakes the
/// reader, which arms a timer for the arrival.
fn transmit(st: &mut State, conn: usize, end: usize, segment: Option<Bytes>) {
    let Some(c) = st.net.conn(conn) else { return };
    let (serial, from, to) = (c.serial, c.hosts[end], c.hosts[1 - end]);
    let arrival = st.arrival(from, to);
    let Some(c) = st.net.conn(conn) else { return };
    let p = &mut c.pipes[end];
    let due = arrival.max(p.last_due);
    p.last_due = due;
    let sent = segment.as_ref().map(Bytes::len);
    match segment {
        Some(bytes) => {
            p.unread += bytes.len();
            p.segs.push_back((due, bytes));
        }
        None => p.eof = Some(due),
    }
    if let Some(w) = p.reader.take() {
        w.wake();
    }
    match sent {
        Some(n) => st.trace(format_args!("c{serial} end {end} sent {n}")),
        None => st.trace(format_args!("c{serial} end {end} shut")),
    }
}

impl Drop for SimStream {
    fn drop(&mut self) {
        let mut wake = Vec::new();
        {
            let mut st = self.world.state();
            shut_write(&mut st, self.conn, self.end);
            let Some(c) = st.net.conn(self.conn) else {
                return;
            };
            // What the peer writes from now on fails (as a reset would tell it).
            let incoming = &mut c.pipes[1 - self.end];
            incoming.reader_gone = true;
            incoming.segs.clear();
            incoming.unread = 0;
            incoming.timer = None;
            wake.extend(incoming.writer.take());
            c.open_ends -= 1;
            if c.open_ends == 0 {
                st.net.conns[self.conn] = None;
                st.net.free.push(self.conn);
            }
        }
        for w in wake {
            w.wake();
        }
    }
}
