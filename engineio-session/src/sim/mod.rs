//! Deterministic simulation: a server and many clients over a simulated network, all driven
//! by one seed.
//!
//! A [`Sim`] runs a [`Server`] and its [`Session`](crate::Session)s under a tiny host written
//! here (a map of sessions, request ids, the drain rule, one timer per session), with clients
//! of two kinds ([`ClientMix::ours`] says how many of each):
//!
//! - **wire clients**, written against the wire format only: they build `http` requests, route
//!   them through [`Server::route`], and read response bodies and WebSocket frames with
//!   engineio-proto's decoders, as `engine.io-client` v4 and v3 (XHR, `b64=1`, JSONP) would.
//!   They open sessions on polling or directly on WebSocket, upgrade (and retry failed
//!   upgrades), ping (v3) or answer pings (v4), and can misbehave on purpose (overlapping
//!   GETs and POSTs, garbage, bodies and messages over maxPayload);
//! - **our client machine**, [`ClientSession`](crate::ClientSession), v4 or v3 (`forceBase64`
//!   or binary), polling first with an upgrade, WebSocket only, or polling only, under a small
//!   host of its own that follows the drain rule and arms one timer at its `poll_timeout` (a
//!   little late, sometimes early). The host performs its transmits over the same links: a
//!   `HttpRequest` is routed through the server's host exactly as a wire client's request is,
//!   a `WsConnect` becomes a WebSocket upgrade request, `WsFrame` and `WsClose` travel on its
//!   link. It feeds back `HttpResponse` (status, headers, body), `WsOpened`, `WsFrame`,
//!   `WsClosed` (a refused WebSocket too), and `HttpFailed` or `WsClosed` when a connection is
//!   lost to a fault (the host notices a partition's dead connection within the heartbeat
//!   bound, an aborted GET or killed WebSocket at once).
//!
//! Both kinds' applications send text and binary messages (empty, multibyte, large enough to
//! be compressed, exactly maxPayload), and sometimes close; the server's application sends,
//! closes, and sometimes shuts the server down.
//!
//! # Time and network
//!
//! Time is virtual ([`Instant`]): [`Sim::step`] jumps to the earliest delivery, client action
//! or deadline and handles that one thing. Every HTTP request and every WebSocket is its own
//! in-order link with the client's latency plus jitter per delivery. The hosts fire timers a
//! little late ([`Config::timer_lateness`]) and sometimes early
//! ([`Config::spurious_wakeups`]), when `handle_timeout` must do nothing.
//!
//! # Faults
//!
//! [`FaultRates`] says how often each is injected. Each makes some close reasons legitimate
//! for the server's side of that client's session (and for our client machine); any other
//! reason fails the run.
//!
//! | fault | what happens | server may close with | for our client machine |
//! |---|---|---|---|
//! | `abort_get` | the client drops its held GET: `RequestAborted`, and it gives up | `transport error`, `ping timeout` | its host fails the GET (`HttpFailed`): `transport error` |
//! | `kill_ws_mid_probe` | the probe WebSocket dies after opening, after `3probe`, or after `5` (with or without the `5`) | nothing before `5`; after it `transport close`, `ping timeout` | the same; `WsClosed` fed at once: before `5` the upgrade fails and polling goes on, after it `transport close` |
//! | `delay_upgrade` | `5` comes up to 2 × upgradeTimeout late, polling meanwhile or not | `ping timeout`, `transport close` | its host writes the `5` (and all after it) late; it does not poll meanwhile: `ping timeout`, `transport close`, `transport error` |
//! | `stall_polling` | no GET for up to 2 × (pingInterval + pingTimeout) | `ping timeout`, `transport close` | its host holds its GETs that long: the same as `delay_upgrade` |
//! | `duplicate_get` | a second GET while one is pending | `transport error` | not applicable (it never overlaps GETs): not injected |
//! | `garbage` | an undecodable body or frame (on the probe WebSocket: only the upgrade fails; a v4 body sent as binary: 400) | `parse error` (`transport error` for the binary body) | not applicable: not injected |
//! | `partition` | all of a client's traffic is lost for a while; connections in use die silently | `ping timeout`, `transport close` | its host notices a dead connection (`HttpFailed`, `WsClosed`) within the heartbeat bound: `ping timeout`, `transport error`, `transport close` |
//! | `clock_jump` | the server's host freezes, then wakes with its clock leapt forward and every pending input and timer at once, timers first or inputs first | `ping timeout`, `transport close` | `ping timeout`, `transport error`, `transport close` |
//! | `overlapping_post` | a POST whose body uploads slowly, and a second POST behind it | `transport error` (exactly, at the second POST) | not applicable: not injected |
//! | `oversized` | a POST body, or a WebSocket message, over maxPayload | `transport error` (exactly, at that input) | not applicable: not injected |
//!
//! Scripted closes allow theirs: the client's (`transport close`, or `ping timeout` when its
//! `1` cannot get through), the application's (`forced close`), a shutdown (`server shutting
//! down`). Our client machine may close with `forced close` (`local`) only when its
//! application closed it, and with `transport close` or `transport error` (the close packet,
//! its WebSocket closing, or a 400 from a closed session) once its session has closed.
//!
//! # Inputs
//!
//! [`InputRates`] says how often each of the other inputs comes, each with the answer a model
//! of the protocol gives for it, written in the simulator independently of the machine's code
//! and checked exactly (status, body, headers, server-wide events, how the session ends;
//! [`Invariant::Answer`]):
//!
//! - per run, the server's options the configuration leaves open: CORS (an origin policy,
//!   credentials, exposed headers, preflight options), the sticky cookie (its attributes), and
//!   `allow_request`. Clients send an `Origin` (allowed or not); every response's CORS headers
//!   and cookie are checked, on every transport;
//! - per handshake under `allow_request`, the application's verdict: a refusal gets 403 with
//!   `{"code":4,"message":...}` and leaves no session; the client tries again (our client
//!   machine must close first, with the reason the model says);
//! - per closed client, a reconnect: a new client of the same kind opens a new session, and
//!   may send a request with its old sid (`Session ID unknown`, or `ok` for a POST of a polling
//!   session the server closed less than pingTimeout ago);
//! - per client, requests outside its session: unknown sids, preflights, WebSockets from an
//!   origin CORS does not allow (403 before any session sees them), and messages of exactly
//!   maxPayload (taken).
//!
//! Overlapping GETs and POSTs, bodies over maxPayload and WebSocket messages over it are
//! checked against the model too, whichever way they come (a v3 client is not told
//! maxPayload, and a JSONP body can be three times its messages). [`Report::inputs`] counts
//! the inputs sent, [`Report::checks`] the answers checked. [`Config::sabotage`] makes an
//! expectation wrong on purpose, to show that the checker catches it.
//!
//! # Invariants
//!
//! Checked after every step ([`Invariant`]), on both sides: messages received by each side
//! are an in-order, duplicate-free prefix of those the other sent, across upgrades; a session
//! and our client machine each emit exactly one `Closed`, as their last event, with a reason
//! the faults explain; at most one GET (and one POST) is held per session, and our client
//! has at most one GET and one POST in flight; no data frame travels on an upgrading
//! WebSocket before the client's `5` (only `3probe` from the server, only `2probe` then `5`
//! from our client); a partition longer than pingInterval + pingTimeout closes both sides
//! within that bound; after `handle_timeout(now)` the deadline is later than `now` (a
//! session's and our client's), and an open one always has one; `Flushed` only moves
//! forward; a closed session leaves no request unanswered and no WebSocket open, and our
//! closed client no WebSocket open; a graceful close delivers everything sent before it
//! (the server's to the client, our client's to the server); every answer the model knows is
//! the model's; the server holds exactly the sessions not closed (none left behind by a
//! refusal, a close or a reconnect) and never issues a sid twice. At the end, every client
//! and its session have either delivered everything both ways or both closed.
//!
//! # Replaying
//!
//! Everything random comes from one ChaCha stream seeded by [`Config::seed`] (the server's
//! sids too), collections are ordered, and every input, transmit, event and delivery goes
//! into a trace hashed with FNV-1a: the same seed and configuration give the same
//! [`Report::trace_hash`], and a failing seed replays exactly. A [`Failure`] shows the last
//! lines of the trace.
//!
//! ```
//! use std::time::Duration;
//! use engineio_session::sim::{Config, FaultRates, Sim};
//!
//! let config = Config {
//!     clients: 3,
//!     duration: Duration::from_secs(2),
//!     faults: FaultRates::all(0.2),
//!     ..Config::new(42)
//! };
//! let report = Sim::new(config.clone()).run().unwrap_or_else(|failure| panic!("{failure}"));
//! println!("{report}");
//!
//! // The same seed, the same run; here stepped by hand.
//! let mut sim = Sim::new(config);
//! while sim.step() {
//!     assert!(sim.now() <= sim.end());
//! }
//! assert!(sim.failure().is_none());
//! assert_eq!(sim.report().trace_hash, report.trace_hash);
//! ```

macro_rules! trace {
    ($sim:expr, $($arg:tt)*) => {
        $sim.trace.record($sim.now, format_args!($($arg)*))
    };
}

mod check;
mod client;
mod client_recv;
mod client_ws;
mod config;
mod expect;
mod faults;
mod host;
mod host_output;
mod inputs;
mod net;
mod ours;
mod ours_drain;
mod ours_transmit;
mod plan;
mod reconnect;
mod report;
mod requests;
mod rng;
mod routing;
mod trace;
mod wire;

use std::fmt;
use std::time::Duration;

pub use check::{Failure, Invariant};
pub use config::{ClientMix, Config, Latency};
pub use faults::FaultRates;
pub use inputs::{InputRates, Sabotage};
pub use report::Report;

use client::{Client, Plan};
use faults::FaultKind;
use host::Host;
use net::{AppAction, ClientAction, Ev, Link, LinkId, LinkKind, Queue};
use rng::SimRng;
use trace::Trace;

use crate::{Instant, Server};

/// A simulation in progress. See the [module docs](self).
pub struct Sim {
    config: Config,
    rng: SimRng,
    now: Instant,
    /// Clients and the application stop acting at this time.
    send_until: Instant,
    end: Instant,
    queue: Queue,
    links: Vec<Link>,
    host: Host,
    clients: Vec<Client>,
    trace: Trace,
    stats: Report,
    failure: Option<Failure>,
    done: bool,
    /// The server's host is frozen until then.
    stall_end: Instant,
    stall_urgent: bool,
    stalls: Vec<(Instant, Instant)>,
}

impl fmt::Debug for Sim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sim")
            .field("seed", &self.config.seed)
            .field("now", &self.now)
            .field("steps", &self.stats.steps)
            .field("failure", &self.failure.as_ref().map(|x| x.invariant))
            .finish_non_exhaustive()
    }
}

impl Sim {
    /// Plans a run: draws the server's options the configuration leaves open
    /// ([`InputRates`]), and every client's kind, script, faults and inputs, from the seed.
    pub fn new(mut config: Config) -> Sim {
        if config.server.seed.is_none() {
            config.server.seed = Some(config.seed);
        }
        let mut rng = SimRng::new(config.seed);
        let drawn = inputs::draw_server(&mut config, &mut rng);
        let send_until = Instant::ZERO + config.duration;
        let s = &config.server;
        let bound = s.ping_interval + s.ping_timeout;
        let longest_fault = 2 * bound.max(s.upgrade_timeout);
        let settle = longest_fault
            + 3 * bound
            + s.upgrade_timeout
            + s.close_timeout
            + 8 * (config.latency.max + config.latency.jitter);
        let end = send_until + settle;
        let plans: Vec<Plan> = (0..config.clients)
            .map(|_| plan::draw_plan(&config, &mut rng))
            .collect();
        let mut queue = Queue::default();
        if rng.chance(config.faults.clock_jump) {
            let at = Instant::ZERO + rng.duration(config.duration / 4, config.duration);
            let len = rng.duration(bound / 4, longest_fault);
            let urgent = rng.chance(0.5);
            queue.push(
                at,
                net::NORMAL,
                Ev::Stall {
                    until: at + len,
                    urgent,
                },
            );
        }
        if rng.chance(config.shutdown) {
            queue.push(send_until, net::NORMAL, Ev::Shutdown);
        }
        let server = Server::new(config.server.clone());
        let mut sim = Sim {
            rng,
            now: Instant::ZERO,
            send_until,
            end,
            queue,
            links: Vec::new(),
            host: Host::new(server),
            clients: Vec::with_capacity(config.clients),
            trace: Trace::new(config.trace_tail),
            stats: Report {
                seed: config.seed,
                ..Report::default()
            },
            failure: None,
            done: false,
            stall_end: Instant::ZERO,
            stall_urgent: false,
            stalls: Vec::new(),
            config,
        };
        if !drawn.is_empty() {
            trace!(sim, "server: {drawn}");
        }
        for plan in plans {
            sim.add_client(plan);
        }
        sim
    }

    /// Adds a client and schedules its script; returns its index.
    fn add_client(&mut self, plan: Plan) -> usize {
        let c = self.clients.len();
        let q = &mut self.queue;
        let mut at = |t: Instant, ev: Ev| q.push(t, net::NORMAL, ev);
        let client = |action| Ev::Client { client: c, action };
        at(plan.start, client(ClientAction::Start));
        if let Some(t) = plan.close_at {
            at(t, client(ClientAction::Close));
        }
        if let Some(t) = plan.app_close_at {
            at(
                t,
                Ev::App {
                    client: c,
                    action: AppAction::Close,
                },
            );
        }
        for (i, &(t, _)) in plan.faults.iter().enumerate() {
            at(t, client(ClientAction::Fault(i)));
        }
        let mut client = Client::new(plan);
        // A client that starts while the server is frozen (a reconnect) may time out.
        if self
            .stalls
            .iter()
            .any(|&(_, until)| client.plan.start < until)
        {
            client.allowed.add(faults::SILENCE);
            client.machine_allowed.add(faults::MACHINE_SILENCE);
        }
        self.clients.push(client);
        c
    }

    /// The virtual time.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// When the run ends.
    pub fn end(&self) -> Instant {
        self.end
    }

    /// The configuration (with the server's seed filled in).
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The hash of the trace so far.
    pub fn trace_hash(&self) -> u64 {
        self.trace.hash()
    }

    /// The last trace lines (as many as [`Config::trace_tail`]).
    pub fn trace_tail(&self) -> Vec<String> {
        self.trace.tail()
    }

    /// The broken invariant, once one broke.
    pub fn failure(&self) -> Option<&Failure> {
        self.failure.as_ref()
    }

    /// The counters so far.
    pub fn report(&self) -> Report {
        Report {
            trace_hash: self.trace.hash(),
            trace_lines: self.trace.lines(),
            end: self.now,
            ..self.stats.clone()
        }
    }

    /// Advances the clock to the earliest delivery, action or session deadline and handles it,
    /// then checks the invariants. Returns `false` once the run is over (its end reached and
    /// the final checks done, or an invariant broken).
    pub fn step(&mut self) -> bool {
        if self.done {
            return false;
        }
        let queued = self.queue.peek();
        let timer = self
            .host
            .next_deadline()
            .map(|(d, sid)| (d.max(self.stall_end), sid));
        let timer_first = match (queued, timer) {
            (None, None) => None,
            (Some(_), None) => Some(false),
            (None, Some(_)) => Some(true),
            (Some((t, class)), Some((d, _))) => {
                Some(d < t || (d == t && class >= net::AFTER_TIMERS))
            }
        };
        let at = match timer_first {
            None => self.end + Duration::from_millis(1),
            Some(true) => timer.map_or(self.end, |(d, _)| d),
            Some(false) => queued.map_or(self.end, |(t, _)| t),
        };
        if at > self.end {
            self.now = self.now.max(self.end);
            trace!(self, "end of run");
            self.final_check();
            self.done = true;
            return false;
        }
        self.now = self.now.max(at);
        self.stats.steps += 1;
        if timer_first == Some(true) {
            if let Some((_, sid)) = timer {
                self.host_timeout(sid);
            }
        } else if let Some((_, ev)) = self.queue.pop() {
            self.dispatch(ev, false);
        }
        self.check_session_count();
        if self.failure.is_some() {
            self.done = true;
        }
        !self.done
    }

    /// Runs to the end. A panic in the code under test is reported as [`Invariant::Panic`].
    pub fn run(mut self) -> Result<Report, Box<Failure>> {
        loop {
            match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.step())) {
                Ok(true) => {}
                Ok(false) => break,
                Err(panic) => {
                    let msg = panic
                        .downcast_ref::<&str>()
                        .map(|s| s.to_string())
                        .or_else(|| panic.downcast_ref::<String>().cloned())
                        .unwrap_or_default();
                    self.fail(Invariant::Panic, msg);
                    break;
                }
            }
        }
        match self.failure.take() {
            Some(f) => Err(Box::new(f)),
            None => Ok(self.report()),
        }
    }

    fn fail(&mut self, invariant: Invariant, detail: String) {
        if self.failure.is_some() {
            return;
        }
        trace!(self, "FAILED {invariant}: {detail}");
        self.failure = Some(Failure {
            seed: self.config.seed,
            invariant,
            detail,
            at: self.now,
            step: self.stats.steps,
            trace_hash: self.trace.hash(),
            trace_tail: self.trace.tail(),
        });
    }

    fn dispatch(&mut self, ev: Ev, arrived: bool) {
        // Deliveries that find their link dead, or their client partitioned, are lost.
        let link = match &ev {
            Ev::Request { link, .. }
            | Ev::Abort { link }
            | Ev::FrameUp { link, .. }
            | Ev::CloseUp { link } => Some((*link, true)),
            Ev::Response { link, .. }
            | Ev::WsOpen { link, .. }
            | Ev::FrameDown { link, .. }
            | Ev::CloseDown { link } => Some((*link, false)),
            _ => None,
        };
        if let (Some((link, up)), false) = (link, arrived) {
            if !self.arrive(link, up) {
                return;
            }
        }
        if ev.to_server() && self.now < self.stall_end {
            let class = if self.stall_urgent {
                net::URGENT
            } else {
                net::AFTER_TIMERS
            };
            let wake = self.stall_end;
            self.queue.push(wake, class, Ev::Deferred(Box::new(ev)));
            return;
        }
        match ev {
            Ev::Deferred(ev) => self.dispatch(*ev, true),
            Ev::Request { link, req } => self.host_request(link, *req),
            Ev::Body { link } => self.host_body(link),
            Ev::Abort { link } => self.host_abort(link),
            Ev::FrameUp { link, frame } => self.host_frame(link, frame),
            Ev::CloseUp { link } => self.host_ws_closed(link),
            Ev::App { client, action } => self.host_app(client, action),
            Ev::Wakeup { client } => self.host_wakeup(client),
            Ev::Shutdown => self.host_shutdown(),
            Ev::Stall { until, urgent } => {
                trace!(
                    self,
                    "fault: the server freezes until {}ms (wakes {})",
                    until.as_millis(),
                    if urgent {
                        "inputs first"
                    } else {
                        "timers first"
                    }
                );
                self.stall_end = until;
                self.stall_urgent = urgent;
                self.stalls.push((self.now, until));
                *self
                    .stats
                    .faults
                    .entry(FaultKind::ClockJump.name())
                    .or_default() += 1;
                for cl in &mut self.clients {
                    if cl.plan.start < until {
                        cl.allowed.add(faults::SILENCE);
                        cl.machine_allowed.add(faults::MACHINE_SILENCE);
                    }
                }
            }
            Ev::Response { link, resp } if self.ours(link) => self.machine_on_response(link, *resp),
            Ev::WsOpen { link, headers } if self.ours(link) => {
                self.machine_on_ws_open(link, *headers)
            }
            Ev::FrameDown { link, frame } if self.ours(link) => self.machine_on_frame(link, frame),
            Ev::CloseDown { link } if self.ours(link) => self.machine_on_ws_closed(link),
            Ev::Client { client, action } if self.clients[client].plan.ours => {
                self.machine_action(client, action)
            }
            Ev::Response { link, resp } => self.client_on_response(link, *resp),
            Ev::WsOpen { link, .. } => self.client_on_ws_open(link),
            Ev::FrameDown { link, frame } => self.client_on_frame(link, frame),
            Ev::CloseDown { link } => self.client_on_ws_closed(link),
            Ev::Client { client, action } => self.client_action(client, action),
            Ev::Lost { link } => self.machine_on_lost(link),
            Ev::PartitionCheck { client, since } => self.check_partition(client, since),
        }
    }

    // ---- the network --------------------------------------------------------------------------

    /// Whether `link` is one of our client machine's.
    fn ours(&self, link: LinkId) -> bool {
        self.clients[self.links[link].client].plan.ours
    }

    fn new_link(&mut self, c: usize, kind: LinkKind) -> LinkId {
        self.links.push(Link {
            client: c,
            kind,
            latency: self.clients[c].plan.latency,
            last_up: Instant::ZERO,
            last_down: Instant::ZERO,
            dead_up: false,
            dead_down: false,
            req: None,
            body_delay: Duration::ZERO,
        });
        self.links.len() - 1
    }

    fn jitter(&mut self) -> Duration {
        self.rng
            .duration(Duration::ZERO, self.config.latency.jitter)
    }

    fn send_up(&mut self, link: LinkId, ev: Ev) {
        let jitter = self.jitter();
        let l = &mut self.links[link];
        if l.dead_up || self.clients[l.client].partitioned(self.now) {
            return self.link_lost(link, "lost on the way up");
        }
        let at = (self.now + l.latency + jitter).max(l.last_up);
        l.last_up = at;
        self.queue.push(at, net::NORMAL, ev);
    }

    fn send_down(&mut self, link: LinkId, ev: Ev) {
        let jitter = self.jitter();
        let l = &mut self.links[link];
        if l.dead_down || self.clients[l.client].partitioned(self.now) {
            return self.link_lost(link, "lost on the way down");
        }
        let at = (self.now + l.latency + jitter).max(l.last_down);
        l.last_down = at;
        self.queue.push(at, net::NORMAL, ev);
    }

    /// Whether a delivery on `link` gets through now.
    fn arrive(&mut self, link: LinkId, up: bool) -> bool {
        let l = &mut self.links[link];
        let dead = if up { l.dead_up } else { l.dead_down };
        if dead {
            return false;
        }
        if self.clients[l.client].partitioned(self.now) {
            self.link_lost(link, "dies in a partition");
            return false;
        }
        true
    }

    /// A delivery on `link` is lost, and the link with it (both ways).
    fn link_lost(&mut self, link: LinkId, how: &str) {
        let l = &mut self.links[link];
        let died = !(l.dead_up && l.dead_down);
        l.dead_up = true;
        l.dead_down = true;
        trace!(self, "net L{link} {how}");
        if died {
            self.link_died(link);
        }
    }
}
