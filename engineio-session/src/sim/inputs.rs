//! Inputs besides faults: the server's options drawn per run (CORS, the sticky cookie,
//! `allow_request`), the application's verdict on each handshake, clients that reconnect,
//! requests no session may serve (stale and unknown sids, preflights), and messages of exactly
//! maxPayload bytes. Each has an answer the model of the protocol ([`expect`](super::expect))
//! says exactly, checked when the machine gives it.

use std::time::Duration;

use super::rng::SimRng;
use super::Config;
use crate::{
    CookieConfig, CookiePriority, CorsConfig, CorsOrigin, OriginPredicate, SameSite, ServerConfig,
};

/// How often each input besides faults comes: per run for the server's options, per
/// handshake for the verdict, per client (or per closed client) for the rest. `0.0` turns an
/// input off.
///
/// ```
/// use engineio_session::sim::InputRates;
/// let rates = InputRates { reconnect: 1.0, ..InputRates::NONE };
/// assert_eq!(rates.cors, 0.0);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct InputRates {
    /// That a run's server has CORS (when its `server.cors` is `None`): an origin policy (any,
    /// mirror, a list, a predicate), credentials, exposed headers and preflight options, all
    /// drawn from the seed. Every response's CORS headers are checked against the model.
    pub cors: f64,
    /// That a run's server sets the sticky cookie (when `server.cookie` is `None`), with
    /// attributes drawn from the seed: checked on every handshake, on both transports, and
    /// absent from every other response; our client machine must send it back.
    pub cookie: f64,
    /// That a run's server asks the application about each handshake (`allow_request`).
    pub allow_request: f64,
    /// Under `allow_request`, that the application refuses a handshake (with its own message or
    /// none). A refused client tries again; the application refuses one client at most twice in
    /// a row.
    pub refuse: f64,
    /// That a client sends an `Origin` header (one the run's CORS policy allows, or not).
    pub origin: f64,
    /// That a client whose session closed opens a new one (while clients still act), as
    /// socket.io's reconnection does: same kind of client, a new session, new script.
    pub reconnect: f64,
    /// That a client sends a request with a sid no session has: its old session's after a
    /// reconnect (as soon as that session is gone), or one never issued.
    pub stale_sid: f64,
    /// That a client sends a CORS preflight (`OPTIONS`), with or without its sid.
    pub preflight: f64,
    /// That a client sends a WebSocket request from an origin the run's CORS policy does not
    /// allow (when the policy lists its origins, or is a predicate): for its own session, or
    /// a new one. Refused with 403 (code 4) before any session sees it (cross-site WebSocket
    /// hijacking); the client's session goes on. Clients' own `Origin`s are ones their
    /// WebSockets may use.
    pub cross_site: f64,
    /// That a client sends a message of exactly maxPayload bytes: a POST body of that size (a
    /// wire client polling), a WebSocket message of that size, or a message our client
    /// machine must fit in a POST of at most that size. It must be taken.
    pub at_limit: f64,
}

impl InputRates {
    /// None of these inputs: the server's options are the configuration's, every handshake is
    /// allowed, nobody reconnects or strays.
    pub const NONE: InputRates = InputRates {
        cors: 0.0,
        cookie: 0.0,
        allow_request: 0.0,
        refuse: 0.0,
        origin: 0.0,
        reconnect: 0.0,
        stale_sid: 0.0,
        preflight: 0.0,
        cross_site: 0.0,
        at_limit: 0.0,
    };

    /// Every input with probability `p`.
    pub const fn all(p: f64) -> InputRates {
        InputRates {
            cors: p,
            cookie: p,
            allow_request: p,
            refuse: p,
            origin: p,
            reconnect: p,
            stale_sid: p,
            preflight: p,
            cross_site: p,
            at_limit: p,
        }
    }
}

impl Default for InputRates {
    /// CORS, the cookie and `allow_request` in 3 runs out of 10, a third of handshakes refused
    /// under it, most clients with an `Origin`, 3 closed clients out of 10 reconnecting, and
    /// the stray requests and messages at the limit now and then.
    fn default() -> Self {
        InputRates {
            cors: 0.3,
            cookie: 0.3,
            allow_request: 0.3,
            refuse: 0.3,
            origin: 0.7,
            reconnect: 0.3,
            stale_sid: 0.4,
            preflight: 0.2,
            cross_site: 0.2,
            at_limit: 0.1,
        }
    }
}

/// A deliberately wrong expectation, to show that the checker catches a machine that answers
/// otherwise than the model says: with it set, every run that checks such an answer must fail
/// with [`Invariant::Answer`](super::Invariant::Answer). For testing the simulator only.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Sabotage {
    /// Every exact status the model expects (refusals, overlaps, oversized bodies, stale sids,
    /// preflights) is off by one.
    Status,
    /// An `Origin` the CORS policy allows is expected not to be echoed.
    Cors,
    /// The expected sticky cookie has `HttpOnly` the other way round.
    Cookie,
    /// A session the model says must close with `transport error` (an overlap, an oversized
    /// body or message) is expected to close with `parse error`.
    CloseReason,
}

/// Origins clients send: two the run's list and predicate allow, two they do not.
pub(crate) const ORIGINS: [&str; 4] = [
    "https://app.good.test",
    "http://sub.good.test",
    "https://evil.test",
    "null",
];

/// The origins of the list policy.
pub(crate) const LISTED: [&str; 2] = ["https://app.good.test", "http://sub.good.test"];

/// What the predicate policy allows (the model's own copy of the rule).
pub(crate) fn predicate_allows(origin: &str) -> bool {
    origin.ends_with(".good.test")
}

/// Whether a CORS policy allows `origin`, as the model reads the policy.
pub(crate) fn cors_allows(policy: &CorsOrigin, origin: &str) -> bool {
    match policy {
        CorsOrigin::Any | CorsOrigin::Mirror => true,
        CorsOrigin::List(list) => list.iter().any(|l| l == origin),
        CorsOrigin::Predicate(_) => predicate_allows(origin),
    }
}

/// Whether the server refuses a WebSocket request from `origin`: where CORS names the
/// allowed origins, one from any other origin is refused (403, code 4).
pub(crate) fn refuses_websocket(cors: Option<&CorsConfig>, origin: Option<&str>) -> bool {
    match (cors, origin) {
        (Some(cors), Some(o)) => !cors_allows(&cors.origin, o),
        _ => false,
    }
}

/// The application's refusals: its message (`None`: the standard `Forbidden`) and that message
/// as a JSON string, written here by hand.
pub(crate) const REFUSALS: [(Option<&str>, &str); 6] = [
    (None, r#""Forbidden""#),
    (Some("not today"), r#""not today""#),
    (Some("token \"expired\""), r#""token \"expired\"""#),
    (Some("bad\\path"), r#""bad\\path""#),
    (Some("naïve ünïcode ✓"), r#""naïve ünïcode ✓""#),
    (Some("tab\there"), r#""tab\there""#),
];

/// Draws the run's server options that the configuration leaves open, and says what was drawn
/// (for the trace).
pub(crate) fn draw_server(config: &mut Config, rng: &mut SimRng) -> String {
    let rates = config.inputs;
    let s: &mut ServerConfig = &mut config.server;
    let mut drawn = Vec::new();
    if s.cors.is_none() && rng.chance(rates.cors) {
        let origin = match rng.below(4) {
            0 => CorsOrigin::Any,
            1 => CorsOrigin::Mirror,
            2 => CorsOrigin::List(LISTED.iter().map(|o| (*o).to_owned()).collect()),
            _ => CorsOrigin::Predicate(OriginPredicate::new(predicate_allows)),
        };
        let cors = CorsConfig {
            origin,
            credentials: rng.chance(0.5),
            methods: if rng.chance(0.5) {
                CorsConfig::default().methods
            } else {
                "GET,POST".to_owned()
            },
            allowed_headers: rng.chance(0.3).then(|| "content-type".to_owned()),
            exposed_headers: rng.chance(0.3).then(|| "x-sim-trace".to_owned()),
            max_age: rng.chance(0.3).then_some(600),
        };
        drawn.push(format!("cors {cors:?}"));
        s.cors = Some(cors);
    }
    if s.cookie.is_none() && rng.chance(rates.cookie) {
        let cookie = CookieConfig {
            name: (*rng.pick(&["io", "sticky"])).to_owned(),
            path: rng
                .pick(&[Some("/"), None, Some("/engine.io")])
                .map(str::to_owned),
            domain: rng.chance(0.3).then(|| "sim.test".to_owned()),
            http_only: rng.chance(0.7),
            secure: rng.chance(0.3),
            same_site: *rng.pick(&[
                Some(SameSite::Lax),
                Some(SameSite::Strict),
                Some(SameSite::None),
                None,
            ]),
            max_age: rng.chance(0.3).then_some(86_400),
            expires: rng
                .chance(0.2)
                .then(|| "Wed, 21 Oct 2026 07:28:00 GMT".to_owned()),
            partitioned: rng.chance(0.2),
            priority: *rng.pick(&[
                None,
                Some(CookiePriority::Low),
                Some(CookiePriority::Medium),
                Some(CookiePriority::High),
            ]),
        };
        drawn.push(format!("cookie {cookie:?}"));
        s.cookie = Some(cookie);
    }
    if !s.allow_request && rng.chance(rates.allow_request) {
        s.allow_request = true;
        drawn.push("allow_request".to_owned());
    }
    drawn.join(", ")
}

/// How long a refused client waits before trying again, at most.
pub(crate) const RETRY_AFTER: Duration = Duration::from_millis(100);

/// How many handshakes of one client in a row the application may refuse.
pub(crate) const MAX_REFUSALS_IN_ROW: u8 = 2;
