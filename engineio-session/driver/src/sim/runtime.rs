//! A simulated host as the driver's [`Runtime`]: its clock, its timers, its tasks, its
//! sockets.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use super::net::{self, SimStream};
use super::world::{lock, HostId, TimerSlot, World};
use crate::{Listener, Runtime};

/// One simulated host, as a [`Runtime`] for the driver (and a handle for the application's
/// own tasks, timers and randomness). Cheap to clone; get one from
/// [`Sim::host`](super::Sim::host), or with `SimRuntime::default()` from inside a simulated
/// task (the host that task runs on).
///
/// Everything here follows the world's virtual clock: [`now`](Runtime::now) is the host's
/// clock (which a [clock jump](super::Faults::clock_jumps) moves ahead), a sleep resolves
/// when that clock reaches its deadline, and [`connect`](Runtime::connect) reaches another
/// host by its name.
#[derive(Clone)]
pub struct SimRuntime {
    pub(crate) world: Arc<World>,
    pub(crate) host: HostId,
}

impl std::fmt::Debug for SimRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimRuntime")
            .field("host", &self.name())
            .finish()
    }
}

impl Default for SimRuntime {
    /// The host of the simulated task being polled.
    ///
    /// # Panics
    /// Outside a simulated task, as `tokio::spawn` panics outside a Tokio runtime.
    fn default() -> Self {
        let (world, host) = super::world::current()
            .expect("SimRuntime::default() must be called from a task of a running Sim");
        SimRuntime { world, host }
    }
}

impl SimRuntime {
    /// This host's name.
    pub fn name(&self) -> String {
        self.world.state().hosts[self.host].name.clone()
    }

    /// This host's address as other hosts see its connections come from.
    pub fn ip(&self) -> std::net::IpAddr {
        net::host_ip(self.host).into()
    }

    /// Virtual time since the run started, on this host's clock.
    pub fn elapsed(&self) -> Duration {
        self.world.state().host_now(self.host)
    }

    /// Resolves after `duration` on this host's clock.
    pub fn sleep(&self, duration: Duration) -> SimSleep {
        self.sleep_until(self.now() + duration)
    }

    /// A number drawn from the run's seed (for the application's own random choices, so that
    /// they replay too).
    pub fn random(&self) -> u64 {
        self.world.state().rng.u64()
    }

    /// Adds an event to the run's trace (and so to its hash). Record what the application
    /// observes: a run that replays records the same events at the same virtual times.
    pub fn trace(&self, event: impl std::fmt::Display) {
        let mut st = self.world.state();
        let name = st.hosts[self.host].name.clone();
        st.trace(format_args!("{name}: {event}"));
    }

    /// Listens on `port` of this host.
    pub fn bind(&self, port: u16) -> io::Result<SimListener> {
        self.world.state().bind(self.host, port)?;
        Ok(SimListener {
            world: self.world.clone(),
            host: self.host,
            port,
        })
    }

    /// Cuts this host off from every other for `lasting` (a fault, logged as the random ones
    /// are): what it sends or is sent meanwhile arrives once the partition heals, and
    /// connection attempts across it time out.
    pub fn partition(&self, lasting: Duration) {
        let mut st = self.world.state();
        let fault = st.isolate(self.host, lasting);
        st.log_fault(fault);
    }

    /// Cuts this host and `other` off from each other for `lasting` (a fault); each still
    /// reaches every other host.
    pub fn partition_from(&self, other: &SimRuntime, lasting: Duration) {
        let mut st = self.world.state();
        let fault = st.split(self.host, other.host, lasting);
        st.log_fault(fault);
    }

    /// Resets every open connection of this host (a fault): both ends fail their reads
    /// and writes.
    pub fn reset_connections(&self) {
        let mut wake = Vec::new();
        {
            let mut st = self.world.state();
            for conn in st.net.open_connections(Some(self.host)) {
                if let Some(fault) = st.reset(conn, &mut wake) {
                    st.log_fault(fault);
                }
            }
        }
        wake.into_iter().for_each(std::task::Waker::wake);
    }

    /// Moves this host's clock ahead by `by` (a fault): its timers come due that much
    /// sooner than the other hosts'.
    pub fn jump_clock(&self, by: Duration) {
        let mut st = self.world.state();
        let fault = st.jump_clock(self.host, by);
        st.log_fault(fault);
    }

    /// Crashes this host (a fault): its connections are reset and every task it runs is
    /// dropped (but the caller's, when it runs here), listeners included. Its name, address
    /// and clock stay: start its software again by spawning on it.
    pub fn crash(&self) {
        self.reset_connections();
        let killed = self.world.kill_tasks(self.host);
        let mut st = self.world.state();
        let host = st.hosts[self.host].name.clone();
        st.log_fault(super::Fault::Crash {
            host,
            tasks: killed,
        });
    }

    /// Runs `future` on this host; the handle resolves to its output (`None` if the run
    /// ended first).
    pub fn spawn_task<T: Send + 'static>(
        &self,
        future: impl Future<Output = T> + Send + 'static,
    ) -> JoinHandle<T> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.spawn(async move {
            let _ = tx.send(future.await);
        });
        JoinHandle(rx)
    }
}

impl Runtime for SimRuntime {
    type Sleep = SimSleep;
    type TcpStream = SimStream;

    fn now(&self) -> Instant {
        self.world.base + self.world.state().host_now(self.host)
    }

    fn sleep_until(&self, deadline: Instant) -> SimSleep {
        SimSleep {
            world: self.world.clone(),
            host: Some(self.host),
            at: deadline.saturating_duration_since(self.world.base),
            slot: None,
        }
    }

    fn spawn<F>(&self, future: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.world.spawn(self.host, Box::pin(future));
    }

    async fn connect(&self, host: &str, port: u16) -> io::Result<SimStream> {
        net::connect(self.world.clone(), self.host, host, port).await
    }

    fn seed(&self) -> Option<u64> {
        Some(self.random())
    }
}

/// A sleep on a simulated host's clock (or, for the network's own waits, the world's).
pub struct SimSleep {
    world: Arc<World>,
    host: Option<HostId>,
    at: Duration,
    slot: Option<Arc<TimerSlot>>,
}

impl std::fmt::Debug for SimSleep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimSleep").field("at", &self.at).finish()
    }
}

impl Future for SimSleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        let mut st = this.world.state();
        let now = match this.host {
            Some(h) => st.host_now(h),
            None => st.now,
        };
        if now >= this.at {
            return Poll::Ready(());
        }
        match &this.slot {
            Some(slot) => *lock(slot) = Some(cx.waker().clone()),
            None => {
                let slot = Arc::new(TimerSlot::new(Some(cx.waker().clone())));
                st.add_timer(this.host, this.at, &slot);
                this.slot = Some(slot);
            }
        }
        Poll::Pending
    }
}

/// Resolves when the world's clock reaches `at`.
pub(crate) fn world_sleep(world: &Arc<World>, at: Duration) -> SimSleep {
    SimSleep {
        world: world.clone(),
        host: None,
        at,
        slot: None,
    }
}

/// A listening socket on a simulated host, for [`serve`](crate::serve).
pub struct SimListener {
    world: Arc<World>,
    host: HostId,
    port: u16,
}

impl std::fmt::Debug for SimListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimListener")
            .field("host", &self.host)
            .field("port", &self.port)
            .finish()
    }
}

impl Listener for SimListener {
    type Stream = SimStream;

    async fn accept(&mut self) -> io::Result<(SimStream, SocketAddr)> {
        std::future::poll_fn(|cx| net::poll_accept(&self.world, self.host, self.port, cx)).await
    }
}

impl Drop for SimListener {
    fn drop(&mut self) {
        net::unbind(&self.world, self.host, self.port);
    }
}

/// The output of a task started with [`SimRuntime::spawn_task`].
#[derive(Debug)]
pub struct JoinHandle<T>(tokio::sync::oneshot::Receiver<T>);

impl<T> Future for JoinHandle<T> {
    type Output = Option<T>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        Pin::new(&mut self.0).poll(cx).map(Result::ok)
    }
}
