//! One session of the load: open, send at jittered intervals while checking every echo, then
//! wait for the last echoes and close.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use engineio_tokio::proto::{Message, Transport};
use engineio_tokio::{Client, ClientConfig, ClientSocketEvent, SendError};
use tokio::sync::watch;
use tokio::time::{sleep_until, timeout, Instant};

use crate::args::Mode;
use crate::stats::{Counters, Errors, Histogram};
use crate::wire::{self, Rng};

/// How long a handshake may take (beyond the client's own `connect_timeout`).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a session waits for its last echoes once it stops sending.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(20);
/// How long an upgrading session with a life waits for its upgrade before its life starts
/// anyway (it then ends without having upgraded, an error).
pub const UPGRADE_WAIT: Duration = Duration::from_secs(30);
/// How long a close may take.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(30);

/// What every session shares.
#[derive(Debug)]
pub struct Ctx {
    /// The client configuration every session starts from.
    pub base: ClientConfig,
    /// Mean time between two messages.
    pub interval: Duration,
    /// Usual largest message.
    pub max_size: usize,
    /// The counters.
    pub counters: Counters,
    /// The errors.
    pub errors: Errors,
    /// Round trips of the echoes.
    pub latency: Histogram,
    /// The same by mode (polling, websocket, upgrade).
    pub latency_by_mode: [Histogram; 3],
    /// Times from the start of a connect to the handshake.
    pub connect: Histogram,
}

/// When a session stops sending: when `stop` turns true, or after `life` if given.
pub struct Plan {
    /// The whole load's stop.
    pub stop: watch::Receiver<bool>,
    /// This session's life, counted from its handshake, or from its upgrade for a session
    /// that upgrades (which must come within [`UPGRADE_WAIT`]): a short life must not end
    /// an upgrade that a busy machine made slow.
    pub life: Option<Duration>,
}

/// A message sent whose echo has not come yet.
struct InFlight {
    seq: u64,
    sent: Instant,
}

/// Runs session `index` in `mode` to its end, counting everything in `ctx`. False if it
/// could not open.
pub async fn run(ctx: Arc<Ctx>, index: u32, mode: Mode, mut plan: Plan) -> bool {
    let what = |s: &str| format!("session {index} ({mode}): {s}");
    let started = Instant::now();
    let mut client = match timeout(CONNECT_TIMEOUT, Client::connect(mode.config(&ctx.base))).await {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => {
            ctx.counters.connect_failed.inc();
            ctx.errors.add("connect failed", what(&e.to_string()));
            return false;
        }
        Err(_) => {
            ctx.counters.connect_failed.inc();
            ctx.errors.add("connect timed out", what("no handshake"));
            return false;
        }
    };
    let connected = Instant::now();
    ctx.connect.record(connected - started);
    ctx.counters.opened.inc();
    ctx.counters.alive.inc();
    let mut s = Session {
        ctx: &ctx,
        index,
        mode,
        rng: Rng::new(u64::from(index)),
        seq: 0,
        in_flight: VecDeque::new(),
        heartbeats: 0,
        upgraded: false,
    };
    let hs = client.handshake();
    // The longest a heartbeat may take without the session closing for it: the server pings
    // `ping_interval` after the last pong and closes if no pong comes within `ping_timeout`.
    let cycle = Duration::from_millis((hs.ping_interval + hs.ping_timeout).max(1));
    let closed_early = s.traffic(&mut client, &mut plan, connected).await;
    let lived = connected.elapsed();
    ctx.counters.lost.add(s.in_flight.len() as u64);
    if !s.in_flight.is_empty() {
        let n = s.in_flight.len();
        ctx.errors
            .add("lost", what(&format!("{n} echoes never came")));
    }
    if !closed_early {
        s.check_transport(&client);
        // At least one heartbeat per cycle lived, less one for the timers' phase: fewer means
        // the heartbeat stopped without closing the session. (Load only makes pings later,
        // never later than the cycle.)
        let expected = (lived.as_millis() / cycle.as_millis()) as u64;
        if s.heartbeats + 1 < expected {
            let got = format!("{} heartbeats in {lived:?} (cycle {cycle:?})", s.heartbeats);
            ctx.errors.add("missing heartbeats", what(&got));
        }
        close(&ctx, &mut client, &what).await;
    }
    ctx.counters.alive.dec();
    true
}

/// Closes the session and waits for its `Closed`.
async fn close(ctx: &Ctx, client: &mut Client, what: &impl Fn(&str) -> String) {
    client.close().await;
    let closed = timeout(CLOSE_TIMEOUT, async {
        loop {
            match client.recv().await {
                Some(ClientSocketEvent::Closed { local: true, .. }) | None => return Ok(()),
                Some(ClientSocketEvent::Closed { reason, .. }) => return Err(reason.to_string()),
                Some(ClientSocketEvent::Message(_)) => {
                    ctx.counters.duplicated.inc();
                    ctx.errors.add("echo after the last", what("while closing"));
                }
                Some(_) => {}
            }
        }
    })
    .await;
    match closed {
        Ok(Ok(())) => ctx.counters.closed_clean.inc(),
        Ok(Err(reason)) => {
            ctx.counters.unexpected_closes.inc();
            ctx.errors.add(
                "closed by the server while closing",
                what(&format!("reason {reason}")),
            );
        }
        Err(_) => ctx.errors.add("close timed out", what("no Closed event")),
    }
}

/// A session's state between its handshake and its close.
struct Session<'a> {
    ctx: &'a Ctx,
    index: u32,
    mode: Mode,
    rng: Rng,
    seq: u64,
    in_flight: VecDeque<InFlight>,
    heartbeats: u64,
    upgraded: bool,
}

impl Session<'_> {
    fn error(&self, kind: &'static str, detail: &str) {
        let d = format!("session {} ({}): {detail}", self.index, self.mode);
        self.ctx.errors.add(kind, d);
    }

    /// A pause between two messages: the interval, jittered by +-50%.
    fn pause(&mut self) -> Duration {
        self.ctx.interval.mul_f64(0.5 + self.rng.unit())
    }

    /// Sends and checks until the plan says stop and the last echoes came (or did not come
    /// in time). True if the session closed without us.
    async fn traffic(&mut self, client: &mut Client, plan: &mut Plan, since: Instant) -> bool {
        let (mut life_end, mut life_after_upgrade) = match plan.life {
            Some(l) if self.mode == Mode::Upgrade => (Some(since + UPGRADE_WAIT), Some(l)),
            life => (life.map(|l| since + l), None),
        };
        // The first message within one interval, so sessions opened together do not align.
        let mut next = since + self.ctx.interval.mul_f64(self.rng.unit());
        let mut drain: Option<Instant> = None;
        let mut stopped = false;
        let far = since + Duration::from_secs(86_400 * 365);
        loop {
            if drain.is_some() && self.in_flight.is_empty() {
                return false;
            }
            let stop = &mut plan.stop;
            tokio::select! {
                event = client.recv() => match event {
                    Some(ClientSocketEvent::Message(m)) => self.echo(&m),
                    Some(ClientSocketEvent::Heartbeat) => {
                        self.heartbeats += 1;
                        self.ctx.counters.heartbeats.inc();
                    }
                    Some(ClientSocketEvent::Upgraded(_)) => {
                        self.upgraded = true;
                        self.ctx.counters.upgraded.inc();
                        if let Some(l) = life_after_upgrade.take() {
                            life_end = Some(Instant::now() + l);
                        }
                    }
                    Some(ClientSocketEvent::UpgradeFailed(why)) => self.error("upgrade failed", why),
                    Some(ClientSocketEvent::Closed { reason, local }) => {
                        self.ctx.counters.unexpected_closes.inc();
                        let how = format!("closed ({reason}, local: {local}) after {:?}", since.elapsed());
                        self.error("unexpected close", &how);
                        return true;
                    }
                    Some(_) => {}
                    None => {
                        self.ctx.counters.unexpected_closes.inc();
                        self.error("unexpected close", "events ended without Closed");
                        return true;
                    }
                },
                () = sleep_until(next), if drain.is_none() => {
                    self.send(client);
                    next += self.pause();
                }
                _ = stop.wait_for(|&s| s), if drain.is_none() && !stopped => {
                    stopped = true;
                    if self.mode == Mode::Upgrade && !self.upgraded {
                        // An upgrade under way ends first (within UPGRADE_WAIT of the
                        // handshake): the stop must not cut it short.
                        life_end = Some(since + UPGRADE_WAIT);
                        life_after_upgrade = Some(Duration::ZERO);
                    } else {
                        drain = Some(Instant::now() + DRAIN_TIMEOUT);
                    }
                }
                () = sleep_until(life_end.unwrap_or(far)), if drain.is_none() => {
                    drain = Some(Instant::now() + DRAIN_TIMEOUT);
                }
                () = sleep_until(drain.unwrap_or(far)), if drain.is_some() => return false,
            }
        }
    }

    fn send(&mut self, client: &Client) {
        let m = wire::make(self.index, self.seq, &mut self.rng, self.ctx.max_size);
        let (len, binary) = (m.len() as u64, matches!(m, Message::Binary(_)));
        match client.try_send(m) {
            Ok(_) => {
                self.in_flight.push_back(InFlight {
                    seq: self.seq,
                    sent: Instant::now(),
                });
                self.seq += 1;
                let c = &self.ctx.counters;
                if binary { &c.sent_binary } else { &c.sent_text }.inc();
                c.sent_bytes.add(len);
            }
            // The close follows as an event.
            Err(SendError::Closed) => {}
            Err(e) => self.error("send failed", &e.to_string()),
        }
    }

    fn echo(&mut self, m: &Message) {
        let c = &self.ctx.counters;
        let seq = match wire::check(self.index, m) {
            Ok(seq) => seq,
            Err(why) => {
                c.bad.inc();
                return self.error("bad echo", &why);
            }
        };
        match self.in_flight.iter().position(|f| f.seq == seq) {
            Some(0) => {
                let f = self.in_flight.pop_front().expect("a first");
                self.record(f.sent.elapsed());
                c.echoed.inc();
            }
            Some(at) => {
                let f = self.in_flight.remove(at).expect("in range");
                self.record(f.sent.elapsed());
                c.echoed.inc();
                c.reordered.inc();
                let first = self.in_flight.front().map_or(0, |f| f.seq);
                self.error("reordered echo", &format!("{seq} before {first}"));
            }
            None => {
                c.duplicated.inc();
                self.error("duplicated echo", &format!("{seq} again (or never sent)"));
            }
        }
    }

    fn record(&self, round_trip: Duration) {
        self.ctx.latency.record(round_trip);
        self.ctx.latency_by_mode[self.mode.index()].record(round_trip);
    }

    /// The transport must be the mode's at the end.
    fn check_transport(&self, client: &Client) {
        let want = match self.mode {
            Mode::Polling => Transport::Polling,
            Mode::Websocket | Mode::Upgrade => Transport::Websocket,
        };
        if client.transport() != want {
            let got = format!("on {:?} at the end, not {want:?}", client.transport());
            self.error("wrong transport", &got);
        }
        if self.mode == Mode::Upgrade && !self.upgraded {
            self.error("not upgraded", "no Upgraded event");
        }
    }
}
