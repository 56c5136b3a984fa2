//! What a run is configured with: its seed, clients, links, faults, inputs and server.

use std::time::Duration;

use super::{FaultRates, InputRates, Sabotage};
use crate::ServerConfig;

/// Latency of the simulated links.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Latency {
    /// Shortest one-way latency of a client's links.
    pub min: Duration,
    /// Longest one-way latency of a client's links (each client gets one in between).
    pub max: Duration,
    /// Extra delay drawn for every delivery, up to this (deliveries on a link stay in order).
    pub jitter: Duration,
}

/// What kinds of clients a run has: each is a probability that a client is of that kind.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ClientMix {
    /// Our own client machine ([`ClientSession`](crate::ClientSession)) under a small host,
    /// rather than a wire client. The other fields apply to both kinds where they make sense
    /// (our client speaks no JSONP and asks for no compression).
    pub ours: f64,
    /// Protocol v3 (needs [`ServerConfig::allow_eio3`]; ignored otherwise).
    pub v3: f64,
    /// Of v3 clients: JSONP polling.
    pub jsonp: f64,
    /// Of v3 XHR clients: `b64=1` (no binary bodies).
    pub b64: f64,
    /// Opens its session directly on WebSocket.
    pub websocket_only: f64,
    /// Of polling clients: upgrades to WebSocket.
    pub upgrade: f64,
    /// Asks for compressed responses.
    pub compression: f64,
    /// The client's application closes the session at some point.
    pub client_close: f64,
    /// The server's application closes the session at some point.
    pub server_close: f64,
}

impl Default for ClientMix {
    fn default() -> Self {
        ClientMix {
            ours: 0.5,
            v3: 0.3,
            jsonp: 0.25,
            b64: 0.3,
            websocket_only: 0.15,
            upgrade: 0.6,
            compression: 0.3,
            client_close: 0.2,
            server_close: 0.2,
        }
    }
}

/// A simulation run.
#[derive(Clone, Debug)]
pub struct Config {
    /// The one seed everything random comes from (the server's sids included, unless
    /// `server.seed` is set).
    pub seed: u64,
    /// How many clients connect (each starts in the first third of `duration`).
    pub clients: usize,
    /// How long clients and the server's application act (send, upgrade, inject faults). The
    /// run then goes on, quietly, long enough for every heartbeat bound to expire, and ends
    /// with the final checks.
    pub duration: Duration,
    /// The links.
    pub latency: Latency,
    /// Mean time between messages, per side and session.
    pub message_interval: Duration,
    /// What kinds of clients.
    pub mix: ClientMix,
    /// Fault probabilities.
    pub faults: FaultRates,
    /// Probabilities of the other inputs (the server's options per run, refusals,
    /// reconnects, stray requests, messages at the limit).
    pub inputs: InputRates,
    /// A deliberately wrong expectation, to test the checker (`None` but in such tests).
    pub sabotage: Option<Sabotage>,
    /// The server under test. The simulation wants short times (the heartbeat bound sets how
    /// long a run lasts) and must keep the latency well under pingTimeout.
    pub server: ServerConfig,
    /// The host fires each session's timer up to this late (as real timers are).
    pub timer_lateness: Duration,
    /// The probability, each time the host arms a timer, that it also wakes the session early
    /// (at a random time before the deadline), when `handle_timeout` must do nothing.
    pub spurious_wakeups: f64,
    /// The probability that the server shuts down when the clients stop acting.
    pub shutdown: f64,
    /// How many trace lines a [`Failure`](super::Failure) shows.
    pub trace_tail: usize,
}

impl Config {
    /// A small, fast run for `seed`: 3 clients for 3 virtual seconds, pingInterval 300 ms,
    /// pingTimeout 200 ms, upgradeTimeout 500 ms, closeTimeout 400 ms, maxPayload 100 kB (the
    /// reference's 1 MB scaled down: bodies and messages at and over it are built whole), v3
    /// allowed, links of 1 to 10 ms with 5 ms of jitter, timers up to 2 ms late, the default
    /// faults and inputs.
    pub fn new(seed: u64) -> Config {
        Config {
            seed,
            clients: 3,
            duration: Duration::from_secs(3),
            latency: Latency {
                min: Duration::from_millis(1),
                max: Duration::from_millis(10),
                jitter: Duration::from_millis(5),
            },
            message_interval: Duration::from_millis(150),
            mix: ClientMix::default(),
            faults: FaultRates::default(),
            inputs: InputRates::default(),
            sabotage: None,
            server: ServerConfig {
                ping_interval: Duration::from_millis(300),
                ping_timeout: Duration::from_millis(200),
                upgrade_timeout: Duration::from_millis(500),
                close_timeout: Duration::from_millis(400),
                max_payload: 100_000,
                allow_eio3: true,
                max_buffered_packets: 32,
                ..ServerConfig::default()
            },
            timer_lateness: Duration::from_millis(2),
            spurious_wakeups: 0.05,
            shutdown: 0.1,
            trace_tail: 60,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config::new(0)
    }
}
