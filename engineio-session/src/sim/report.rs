//! What a run did: the counts a [`Sim`](super::Sim) reports.

use std::collections::BTreeMap;
use std::fmt;

use crate::Instant;

/// What a run did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// The seed.
    pub seed: u64,
    /// FNV-1a hash of the whole trace: equal for equal seeds and configurations.
    pub trace_hash: u64,
    /// Trace lines written.
    pub trace_lines: u64,
    /// Steps taken.
    pub steps: u64,
    /// Virtual time at the end.
    pub end: Instant,
    /// Sessions opened.
    pub sessions: u64,
    /// Clients that were our client machine, by protocol and transports (`"v4 polling+upgrade"`,
    /// `"v3-b64 websocket"`, ...).
    pub our_clients: BTreeMap<&'static str, u64>,
    /// Messages the sessions delivered to the server's application.
    pub messages_to_server: u64,
    /// Messages the clients received.
    pub messages_to_client: u64,
    /// Upgrades completed (`Event::Upgraded`).
    pub upgrades: u64,
    /// Upgrades given up (`Event::UpgradeAborted`).
    pub upgrades_aborted: u64,
    /// Server-side closes, by reason.
    pub server_closes: BTreeMap<&'static str, u64>,
    /// Client-side closes, by reason.
    pub client_closes: BTreeMap<&'static str, u64>,
    /// Faults injected, by name.
    pub faults: BTreeMap<&'static str, u64>,
    /// Partitions long enough to be checked against the heartbeat bound.
    pub partition_checks: u64,
    /// Inputs besides faults ([`InputRates`](super::InputRates)), by name: `reconnect`, `refused` (handshakes
    /// the application refused), `unknown_sid`, `stale_sid`, `preflight`, `cross_site`,
    /// `at_limit`.
    pub inputs: BTreeMap<&'static str, u64>,
    /// Answers checked exactly against the model of the protocol, by what was checked:
    /// `overlapping_get`, `overlapping_post`, `closed_poll` (a parked GET answered with the
    /// close packet alone), `closed_post` (a POST being read answered `Session ID unknown`),
    /// `oversized_post`, `oversized_frame`, `at_limit_post`, `at_limit_frame`, `refused`,
    /// `unavailable` (a handshake during shutdown), `unknown_sid`, `stale_sid`,
    /// `late_post_ok`, `preflight`, `bad_method`, `cross_site_ws`, `cors` (responses whose
    /// CORS headers were checked against a CORS configuration), `cookie` (handshakes whose
    /// `Set-Cookie` was checked), `cookie_sent_back` (requests of our client machine carrying
    /// it).
    pub checks: BTreeMap<&'static str, u64>,
}

impl Report {
    /// Adds `other`'s counters to these (for totals over many seeds).
    pub fn merge(&mut self, other: &Report) {
        self.trace_lines += other.trace_lines;
        self.steps += other.steps;
        self.sessions += other.sessions;
        self.messages_to_server += other.messages_to_server;
        self.messages_to_client += other.messages_to_client;
        self.upgrades += other.upgrades;
        self.upgrades_aborted += other.upgrades_aborted;
        self.partition_checks += other.partition_checks;
        for (into, from) in [
            (&mut self.server_closes, &other.server_closes),
            (&mut self.client_closes, &other.client_closes),
            (&mut self.faults, &other.faults),
            (&mut self.our_clients, &other.our_clients),
            (&mut self.inputs, &other.inputs),
            (&mut self.checks, &other.checks),
        ] {
            for (k, v) in from {
                *into.entry(k).or_default() += v;
            }
        }
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "seed {} trace {:016x}: {} steps, {} sessions ({} of our client), {} messages to \
             the server, {} to clients, {} upgrades ({} aborted), {} partition checks",
            self.seed,
            self.trace_hash,
            self.steps,
            self.sessions,
            self.our_clients.values().sum::<u64>(),
            self.messages_to_server,
            self.messages_to_client,
            self.upgrades,
            self.upgrades_aborted,
            self.partition_checks,
        )?;
        writeln!(f, "  server closes: {:?}", self.server_closes)?;
        writeln!(f, "  client closes: {:?}", self.client_closes)?;
        writeln!(f, "  our clients: {:?}", self.our_clients)?;
        writeln!(f, "  faults: {:?}", self.faults)?;
        writeln!(f, "  inputs: {:?}", self.inputs)?;
        write!(f, "  checks: {:?}", self.checks)
    }
}
