//! Whole-stack deterministic simulation: your application, our server and our client, one
//! thread, one seed (feature `sim`).
//!
//! A [`Sim`] is a world of named hosts on a virtual clock and an in-memory network. Each host
//! is a [`SimRuntime`], the driver's [`Runtime`](crate::Runtime): the server you build with
//! [`EngineIo`](crate::EngineIo) and [`serve`](crate::serve), and the clients you open with
//! [`Client::connect_on`](crate::Client::connect_on), run on it unchanged, with their real
//! HTTP (hyper), WebSocket (tungstenite), upgrades and heartbeats. Everything random comes
//! from the seed: which ready task runs next, each segment's latency, when and where a
//! [fault](Faults) strikes (partitions, reset connections, clock jumps), the server's
//! session ids. When nothing can run, the clock jumps to the next timer, so minutes of
//! heartbeats take milliseconds.
//!
//! The same seed gives the same run: [`Report::trace_hash`] hashes every segment, connection,
//! fault and [traced](SimRuntime::trace) application event with its virtual time. Test many
//! seeds with [`check_seeds`], which names the failing seed and how to replay it alone
//! (`ENGINEIO_SIM_SEED=<seed>`).
//!
//! ```
//! use std::time::Duration;
//! use engineio_driver::sim::{Faults, Sim, SimRuntime};
//! use engineio_driver::{serve, Client, ClientConfig, ClientSocketEvent, EngineIo, SocketEvent};
//!
//! let sim = Sim::new(7).faults(Faults::default());
//! let server = sim.host("server");
//! let client = sim.host("client");
//! let (echoed, report) = sim
//!     .run(Duration::from_secs(60), async move {
//!         // The server: the application's usual code, on the simulated host.
//!         let (engine, mut connections) =
//!             EngineIo::<SimRuntime>::builder(Default::default()).runtime(server.clone()).build();
//!         server.spawn_task(serve(server.bind(80).unwrap(), engine));
//!         server.spawn_task(async move {
//!             while let Some(mut socket) = connections.accept().await {
//!                 while let Some(event) = socket.recv().await {
//!                     if let SocketEvent::Message(m) = event {
//!                         let _ = socket.send(m).await;
//!                     }
//!                 }
//!             }
//!         });
//!         // A client on another host.
//!         let config = ClientConfig::new("http://server:80".parse().unwrap());
//!         let mut c = Client::connect_on(client, config).await.unwrap();
//!         c.send("hello").await.unwrap();
//!         loop {
//!             match c.recv().await {
//!                 Some(ClientSocketEvent::Message(m)) => break m,
//!                 Some(_) => continue,
//!                 None => panic!("closed"),
//!             }
//!         }
//!     })
//!     .unwrap();
//! assert_eq!(echoed, "hello".into());
//! println!("trace {:016x} after {:?}", report.trace_hash, report.elapsed);
//! ```

mod faults;
mod net;
mod rng;
mod runtime;
mod seeds;
mod trace;
mod world;

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use faults::{Fault, Faults};
pub use net::SimStream;
pub use runtime::{JoinHandle, SimListener, SimRuntime, SimSleep};
pub use seeds::{check_seeds, SEED_VAR, TRACE_VAR};

use world::{lock, Stop, World};

/// An Engine.IO server on a simulated host (build it with
/// [`Builder::runtime`](crate::Builder::runtime) set to the host).
pub type EngineIo = crate::EngineIo<SimRuntime>;
/// Builds an [`EngineIo`] on a simulated host.
pub type Builder = crate::Builder<SimRuntime>;
/// An Engine.IO client on a simulated host (open it with
/// [`Client::connect_on`](crate::Client::connect_on)).
pub type Client = crate::Client<SimRuntime>;

/// One simulated run: hosts on a virtual clock and an in-memory network, from one seed.
pub struct Sim {
    world: Arc<World>,
    seed: u64,
}

impl std::fmt::Debug for Sim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sim").field("seed", &self.seed).finish()
    }
}

impl Sim {
    /// A world with LAN latency ([`Faults::default`]) and no host yet but the main task's
    /// (named `main`).
    pub fn new(seed: u64) -> Sim {
        let world = World::new(seed, Faults::default());
        world.host("main");
        Sim { world, seed }
    }

    /// Sets the faults the run injects.
    pub fn faults(self, faults: Faults) -> Sim {
        self.world.state().faults = faults;
        self
    }

    /// The host named `name` (added on first use). Other hosts reach it by this name.
    pub fn host(&self, name: &str) -> SimRuntime {
        SimRuntime {
            host: self.world.host(name),
            world: self.world.clone(),
        }
    }

    /// Runs `main` (on the host `main`, which faults never touch) and every task it starts,
    /// until `main` returns; then drops every task left. Fails if virtual time passes `limit`
    /// first, or if nothing can happen any more while `main` waits.
    ///
    /// A panic in any task ends the run by unwinding out of this call.
    pub fn run<T, F>(self, limit: Duration, main: F) -> Result<(T, Report), SimError>
    where
        T: Send + 'static,
        F: Future<Output = T> + Send + 'static,
    {
        let out = Arc::new(Mutex::new(None));
        let slot = out.clone();
        let id = self.world.spawn(
            0,
            Box::pin(async move {
                let value = main.await;
                *lock(&slot) = Some(value);
            }),
        );
        // A panicking task unwinds out of here: tear the world down first (its tasks hold
        // it), so that a failing seed among many leaks nothing.
        let world = self.world.clone();
        let stop = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| world.run(id, limit)))
            .unwrap_or_else(|panic| {
                self.world.teardown();
                std::panic::resume_unwind(panic)
            });
        let report = self.report();
        self.world.teardown();
        let value = lock(&out).take();
        match (stop, value) {
            (Stop::Done, Some(value)) => Ok((value, report)),
            (Stop::TimeLimit, _) => Err(SimError::TimeLimit(Box::new(report))),
            _ => Err(SimError::Stalled(Box::new(report))),
        }
    }

    fn report(&self) -> Report {
        let st = self.world.state();
        Report {
            seed: self.seed,
            trace_hash: st.trace.hash(),
            events: st.trace.events(),
            elapsed: st.now,
            faults: st.fault_log.injected.clone(),
            tasks_left: self.world.live_tasks(),
            tail: st.trace.tail(),
        }
    }
}

/// What a run did.
#[derive(Clone, Debug)]
pub struct Report {
    /// The seed.
    pub seed: u64,
    /// A hash of the whole trace: the same seed (and the same code) gives the same hash.
    pub trace_hash: u64,
    /// How many events the trace holds.
    pub events: u64,
    /// Virtual time the run took.
    pub elapsed: Duration,
    /// Every fault injected, with its virtual time.
    pub faults: Vec<(Duration, Fault)>,
    /// Tasks still running when `main` returned (dropped then).
    pub tasks_left: usize,
    /// The last events of the trace, as text.
    pub tail: Vec<String>,
}

impl Report {
    /// Whether any fault touched host `name`.
    pub fn touched(&self, name: &str) -> bool {
        self.faults.iter().any(|(_, f)| f.touches(name))
    }
}

/// A run that did not finish.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// Virtual time reached the limit before `main` returned.
    #[error("seed {}: main had not returned after {:?} of virtual time; last events:\n{}", .0.seed, .0.elapsed, .0.tail.join("\n"))]
    TimeLimit(Box<Report>),
    /// Nothing could run and no timer was set, yet `main` had not returned.
    #[error("seed {}: stalled at {:?} (every task waits for what cannot happen); last events:\n{}", .0.seed, .0.elapsed, .0.tail.join("\n"))]
    Stalled(Box<Report>),
}
