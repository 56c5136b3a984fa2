//! What each client will do, drawn from the seed when the run starts (and when a client
//! reconnects).

use std::time::Duration;

use engineio_proto::Transport;

use super::client::Plan;
use super::faults::{KillPhase, Planned};
use super::inputs;
use super::rng::SimRng;
use super::wire::ClientFormat;
use super::Config;
use crate::Instant;

/// What kind of client: kept across its reconnects.
struct Kind {
    ours: bool,
    format: ClientFormat,
    open_on: Transport,
    upgrades: bool,
    latency: Duration,
    accept_encoding: Option<&'static str>,
    origin: Option<&'static str>,
}

/// Draws what a client will do.
pub(crate) fn draw_plan(config: &Config, rng: &mut SimRng) -> Plan {
    let s = &config.server;
    let mix = &config.mix;
    let d = config.duration;
    let ours = rng.chance(mix.ours);
    let v3 = s.allow_eio3 && rng.chance(mix.v3);
    let format = if !v3 {
        ClientFormat::V4
    } else if !ours && rng.chance(mix.jsonp) {
        ClientFormat::V3Jsonp(rng.range(0, 9) as u32)
    } else if rng.chance(mix.b64) {
        ClientFormat::V3Base64
    } else {
        ClientFormat::V3Binary
    };
    let websocket =
        s.transports.websocket && (!s.transports.polling || rng.chance(mix.websocket_only));
    let open_on = if websocket {
        Transport::Websocket
    } else {
        Transport::Polling
    };
    let start = Instant::ZERO + rng.duration(Duration::ZERO, d / 3);
    let latency = rng.duration(config.latency.min, config.latency.max);
    let upgrades = open_on == Transport::Polling && rng.chance(mix.upgrade);
    let accept_encoding = (!ours && cfg!(feature = "compression") && rng.chance(mix.compression))
        .then(|| *rng.pick(&["gzip", "deflate", "gzip, deflate", "br;q=1, gzip;q=0.5"]));
    let mut origin = rng
        .chance(config.inputs.origin)
        .then(|| *rng.pick(&inputs::ORIGINS));
    // A client whose WebSockets the server would refuse for their origin never gets one:
    // those refusals are the `cross_site` input's.
    let websockets = open_on == Transport::Websocket || upgrades;
    if websockets && inputs::refuses_websocket(s.cors.as_ref(), origin) {
        origin = Some(inputs::LISTED[0]);
    }
    let kind = Kind {
        ours,
        format,
        open_on,
        upgrades,
        latency,
        accept_encoding,
        origin,
    };
    draw_script(config, rng, kind, start, false)
}

/// Draws the plan of a client that reconnects at `start`, after a session planned by `old`:
/// the same kind of client, a new script.
pub(crate) fn draw_reconnect(
    config: &Config,
    rng: &mut SimRng,
    old: &Plan,
    start: Instant,
) -> Plan {
    let kind = Kind {
        ours: old.ours,
        format: old.format,
        open_on: old.open_on,
        upgrades: old.upgrade_after.is_some(),
        latency: old.latency,
        accept_encoding: old.accept_encoding,
        origin: old.origin,
    };
    draw_script(config, rng, kind, start, true)
}

/// Draws a client's script from `start`: its sends, closes, faults and inputs.
fn draw_script(
    config: &Config,
    rng: &mut SimRng,
    kind: Kind,
    start: Instant,
    reconnect: bool,
) -> Plan {
    let s = &config.server;
    let mix = &config.mix;
    let d = config.duration;
    let ours = kind.ours;
    // Closes, faults and inputs come within `span` of the start: `duration` for the clients
    // that start in its first third, less for a reconnect, so that every client's script
    // ends when the first clients' may (the run's end leaves room for what follows).
    let horizon = Instant::ZERO + d + d / 3;
    let span = if reconnect {
        (horizon - start).min(d)
    } else {
        d
    };
    let upgrade_after = kind.upgrades.then(|| rng.duration(Duration::ZERO, d / 3));
    let interval = config.message_interval;
    let send_mean = rng.duration(interval / 2, interval * 2);
    let app_send_mean = rng.duration(interval / 2, interval * 2);
    let later = |rng: &mut SimRng| start + rng.duration(span / 10, span);
    let close_at = rng.chance(mix.client_close).then(|| later(rng));
    let app_close_at = rng.chance(mix.server_close).then(|| later(rng));
    let bound = s.ping_interval + s.ping_timeout;
    let f = &config.faults;
    let inputs = &config.inputs;
    let mut faults = Vec::new();
    let mut fault = |rng: &mut SimRng, p: f64, planned: &dyn Fn(&mut SimRng) -> Planned| {
        if rng.chance(p) {
            let at = start + rng.duration(Duration::ZERO, span);
            let x = planned(rng);
            faults.push((at, x));
        }
    };
    fault(rng, f.abort_get, &|_| Planned::AbortGet);
    fault(rng, f.stall_polling, &|rng| Planned::StallPolling {
        len: rng.duration(bound / 4, 2 * bound),
    });
    // Overlapping requests, garbage and oversized bodies need a scripted wire client: our
    // machine does none of them.
    let wire_only = |p: f64| if ours { 0.0 } else { p };
    fault(rng, wire_only(f.duplicate_get), &|_| Planned::DuplicateGet);
    fault(rng, wire_only(f.garbage), &|_| Planned::Garbage);
    fault(rng, f.partition, &|rng| Planned::Partition {
        len: rng.duration(bound / 4, 2 * bound),
    });
    fault(rng, wire_only(f.overlapping_post), &|rng| {
        Planned::OverlappingPost {
            body_delay: rng.duration(Duration::from_millis(20), Duration::from_millis(120)),
        }
    });
    fault(rng, wire_only(f.oversized), &|_| Planned::Oversized);
    fault(rng, inputs.at_limit, &|_| Planned::AtLimit);
    fault(rng, inputs.stale_sid, &|_| Planned::UnknownSid);
    fault(rng, inputs.preflight, &|_| Planned::Preflight);
    fault(rng, inputs.cross_site, &|_| Planned::CrossSite);
    if reconnect && rng.chance(inputs.stale_sid) {
        // Soon, sometimes while the old session lingers (a POST of it is then taken).
        let at = start + rng.duration(Duration::ZERO, 2 * s.ping_timeout);
        faults.push((at, Planned::StaleSid));
    }
    faults.sort_by_key(|&(t, _)| t);
    let kill_ws =
        (upgrade_after.is_some() && rng.chance(f.kill_ws_mid_probe)).then(|| match rng.below(4) {
            0 => KillPhase::AfterOpen,
            1 => KillPhase::AfterProbe,
            2 => KillPhase::After5 { lose_5: false },
            _ => KillPhase::After5 { lose_5: true },
        });
    let delay5 = (upgrade_after.is_some() && rng.chance(f.delay_upgrade)).then(|| {
        let delay = rng.duration(Duration::ZERO, 2 * s.upgrade_timeout);
        (delay, rng.chance(0.5))
    });
    Plan {
        ours,
        format: kind.format,
        open_on: kind.open_on,
        start,
        latency: kind.latency,
        upgrade_after,
        accept_encoding: kind.accept_encoding,
        origin: kind.origin,
        send_mean,
        app_send_mean,
        close_at,
        app_close_at,
        faults,
        kill_ws,
        delay5,
        close_frame: rng.chance(0.5),
    }
}
