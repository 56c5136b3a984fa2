//! Deterministic simulation of the server machine, with wire clients and our own client
//! machine, under many seeds.
//!
//! A million seeds (takes a while; `--release` matters):
//!
//! ```text
//! SIM_SEEDS=1000000 cargo test --release -p engineio-session --features sim --test sim many_seeds -- --nocapture
//! ```
//!
//! `SIM_SEEDS` (default 2000) is how many seeds `many_seeds` runs, from `SIM_SEED_START`
//! (default 0). A failing seed prints its replay command; `SIM_TRACE_TAIL` sets how many trace
//! lines a failure shows (default 60).

use std::time::{Duration, Instant};

use engineio_session::proto::Message;
use engineio_session::sim::{
    ClientMix, Config, FaultRates, InputRates, Invariant, Report, Sabotage, Sim,
};

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

/// The configuration every seed of this file runs with: `Config::new`, with a few server
/// variations chosen by the seed.
fn config(seed: u64) -> Config {
    let mut c = Config {
        trace_tail: env("SIM_TRACE_TAIL", 60) as usize,
        ..Config::new(seed)
    };
    match seed % 8 {
        // Small limits: POSTs split by maxPayload (413 for v3 clients, who do not know it),
        // `SendError::Full` on the server.
        5 => {
            c.server.max_payload = 4000;
            c.server.max_buffered_packets = 4;
        }
        6 => c.server.initial_packet = Some(Message::from("welcome")),
        7 => c.server.allow_upgrades = false,
        _ => {}
    }
    c
}

fn replay(seed: u64) -> String {
    format!(
        "replay: SIM_SEED_START={seed} SIM_SEEDS=1 SIM_TRACE_TAIL=400 \
         cargo test -p engineio-session --features sim --test sim many_seeds -- --nocapture"
    )
}

#[test]
fn many_seeds() {
    let start = env("SIM_SEED_START", 0);
    let count = env("SIM_SEEDS", 2000);
    let threads = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .min(count.max(1) as usize) as u64;
    let began = Instant::now();
    let results: Vec<(Report, Vec<String>)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                s.spawn(move || {
                    let mut total = Report::default();
                    let mut failures = Vec::new();
                    let mut seed = start + t;
                    while seed < start + count {
                        match Sim::new(config(seed)).run() {
                            Ok(report) => total.merge(&report),
                            Err(failure) => {
                                failures.push(format!("{failure}{}", replay(seed)));
                                if failures.len() >= 3 {
                                    break;
                                }
                            }
                        }
                        seed += threads;
                    }
                    (total, failures)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut total = Report::default();
    let mut failures = Vec::new();
    for (r, f) in results {
        total.merge(&r);
        failures.extend(f);
    }
    println!(
        "{count} seeds from {start} in {:.1?} on {threads} threads",
        began.elapsed()
    );
    println!("{total}");
    if !failures.is_empty() {
        for f in &failures {
            eprintln!("{f}");
        }
        panic!("{} seed(s) failed; first:\n{}", failures.len(), failures[0]);
    }
}

#[test]
fn a_seed_replays_exactly() {
    for seed in [1, 77, 4242] {
        let a = Sim::new(config(seed)).run().map_err(|f| f.to_string());
        let b = Sim::new(config(seed)).run().map_err(|f| f.to_string());
        assert_eq!(a, b, "seed {seed}");
    }
}

#[test]
fn stepping_by_hand_matches_run() {
    let mut sim = Sim::new(config(9));
    let mut steps = 0;
    while sim.step() {
        steps += 1;
        assert!(sim.now() <= sim.end());
    }
    assert!(sim.failure().is_none(), "{}", sim.failure().unwrap());
    let report = sim.report();
    assert_eq!(report.steps, steps);
    assert_eq!(
        Sim::new(config(9)).run().unwrap().trace_hash,
        report.trace_hash
    );
}

#[test]
fn different_seeds_differ() {
    let hashes: std::collections::BTreeSet<u64> = (0..50)
        .map(|seed| {
            Sim::new(config(seed))
                .run()
                .map(|r| r.trace_hash)
                .unwrap_or(seed)
        })
        .collect();
    assert_eq!(hashes.len(), 50);
}

#[test]
fn without_faults_or_closes_everything_arrives() {
    for seed in 0..100 {
        let mut cfg = Config {
            faults: FaultRates::NONE,
            ..config(seed)
        };
        cfg.mix.client_close = 0.0;
        cfg.mix.server_close = 0.0;
        cfg.shutdown = 0.0;
        let report = Sim::new(cfg).run().unwrap_or_else(|f| panic!("{f}"));
        // The final check found every message delivered; and nothing closed.
        assert!(report.server_closes.is_empty(), "{report}");
        assert!(report.client_closes.is_empty(), "{report}");
        assert!(report.faults.is_empty(), "{report}");
    }
}

#[test]
fn each_fault_alone() {
    let one = |f: fn(&mut FaultRates)| {
        let mut rates = FaultRates::NONE;
        f(&mut rates);
        rates
    };
    let cases: [(&str, FaultRates); 10] = [
        ("abort_get", one(|r| r.abort_get = 1.0)),
        ("kill_ws_mid_probe", one(|r| r.kill_ws_mid_probe = 1.0)),
        ("delay_upgrade", one(|r| r.delay_upgrade = 1.0)),
        ("stall_polling", one(|r| r.stall_polling = 1.0)),
        ("duplicate_get", one(|r| r.duplicate_get = 1.0)),
        ("garbage", one(|r| r.garbage = 1.0)),
        ("partition", one(|r| r.partition = 1.0)),
        ("clock_jump", one(|r| r.clock_jump = 1.0)),
        ("overlapping_post", one(|r| r.overlapping_post = 1.0)),
        ("oversized", one(|r| r.oversized = 1.0)),
    ];
    for (name, rates) in cases {
        let mut total = Report::default();
        for seed in 0..40 {
            let cfg = Config {
                faults: rates,
                ..config(seed)
            };
            match Sim::new(cfg).run() {
                Ok(r) => total.merge(&r),
                Err(f) => panic!("{name}: {f}"),
            }
        }
        assert!(
            total.faults.get(name).copied().unwrap_or(0) > 0,
            "{name} never injected: {total}"
        );
    }
}

#[test]
fn a_long_busy_run() {
    let cfg = Config {
        clients: 12,
        duration: Duration::from_secs(10),
        ..config(123)
    };
    let report = Sim::new(cfg).run().unwrap_or_else(|f| panic!("{f}"));
    assert!(report.sessions >= 12, "{report}");
    assert!(
        report.messages_to_server > 100 && report.messages_to_client > 100,
        "{report}"
    );
}

/// Runs one seed (`SIM_SEED`, default 0) and prints its whole trace, for reading a failure in
/// full: `SIM_SEED=1234 cargo test -p engineio-session --features sim --test sim one_seed_trace -- --nocapture`
#[test]
fn one_seed_trace() {
    let seed = env("SIM_SEED", 0);
    let mut sim = Sim::new(Config {
        trace_tail: usize::MAX >> 1,
        ..config(seed)
    });
    while sim.step() {}
    for line in sim.trace_tail() {
        println!("{line}");
    }
    if let Some(f) = sim.failure() {
        panic!("seed {seed} FAILED: {} {}", f.invariant, f.detail);
    }
    println!("{}", sim.report());
}

/// Regression: with `ServerConfig::initial_packet` set, `Server::accept` once panicked (the
/// initial message was queued without being counted), and `Flushed` came after `Closed` when
/// a closing poll carried the last messages; the simulator now fails on any event after
/// `Closed`.
#[test]
fn initial_packet_sessions_run_clean() {
    let mut cfg = config(6);
    cfg.server.initial_packet = Some(Message::from("welcome"));
    if let Err(f) = Sim::new(cfg).run() {
        panic!("{f}");
    }
}

/// Only our client machine, nobody closing, no shutdown.
fn ours_only(seed: u64, faults: FaultRates) -> Config {
    let mut c = Config {
        faults,
        ..Config::new(seed)
    };
    c.mix.ours = 1.0;
    c.mix.client_close = 0.0;
    c.mix.server_close = 0.0;
    c.shutdown = 0.0;
    c
}

#[test]
fn our_client_without_faults_delivers_everything_in_every_mode() {
    // (v3, force base64, websocket only, upgrade, the name in reports)
    let modes = [
        (false, false, false, true, "v4 polling+upgrade"),
        (false, false, true, false, "v4 websocket"),
        (false, false, false, false, "v4 polling"),
        (true, false, false, true, "v3 polling+upgrade"),
        (true, false, true, false, "v3 websocket"),
        (true, false, false, false, "v3 polling"),
        (true, true, false, true, "v3-b64 polling+upgrade"),
        (true, true, false, false, "v3-b64 polling"),
    ];
    for (v3, b64, websocket_only, upgrade, name) in modes {
        let mut total = Report::default();
        for seed in 0..12 {
            let mut cfg = ours_only(seed, FaultRates::NONE);
            cfg.mix = ClientMix {
                v3: f64::from(u8::from(v3)),
                b64: f64::from(u8::from(b64)),
                websocket_only: f64::from(u8::from(websocket_only)),
                upgrade: f64::from(u8::from(upgrade)),
                ..cfg.mix
            };
            // Every seed's server variations but the one without upgrades.
            if seed % 8 == 7 {
                cfg.server.initial_packet = Some(Message::from("welcome"));
            }
            let report = Sim::new(cfg)
                .run()
                .unwrap_or_else(|f| panic!("{name}: {f}"));
            total.merge(&report);
        }
        // The final check found every message delivered both ways; nothing closed.
        assert!(total.server_closes.is_empty(), "{name}: {total}");
        assert!(total.client_closes.is_empty(), "{name}: {total}");
        assert_eq!(
            total.our_clients.get(name),
            Some(&total.sessions),
            "{total}"
        );
        assert_eq!(total.sessions, 36, "{name}: {total}");
        assert!(
            total.messages_to_server > 100 && total.messages_to_client > 100,
            "{name}: {total}"
        );
        assert_eq!(total.upgrades > 0, upgrade, "{name}: {total}");
        assert_eq!(
            total.upgrades,
            if upgrade { 36 } else { 0 },
            "{name}: {total}"
        );
    }
}

#[test]
fn each_fault_alone_with_our_clients() {
    let one = |f: fn(&mut FaultRates)| {
        let mut rates = FaultRates::NONE;
        f(&mut rates);
        rates
    };
    let cases: [(&str, FaultRates); 6] = [
        ("abort_get", one(|r| r.abort_get = 1.0)),
        ("kill_ws_mid_probe", one(|r| r.kill_ws_mid_probe = 1.0)),
        ("delay_upgrade", one(|r| r.delay_upgrade = 1.0)),
        ("stall_polling", one(|r| r.stall_polling = 1.0)),
        ("partition", one(|r| r.partition = 1.0)),
        ("clock_jump", one(|r| r.clock_jump = 1.0)),
    ];
    for (name, rates) in cases {
        let mut total = Report::default();
        for seed in 0..40 {
            let mut cfg = ours_only(seed, rates);
            cfg.mix.client_close = 0.2;
            cfg.mix.server_close = 0.2;
            match Sim::new(cfg).run() {
                Ok(r) => total.merge(&r),
                Err(f) => panic!("{name}: {f}"),
            }
        }
        assert_eq!(total.our_clients.values().sum::<u64>(), 120, "{total}");
        assert!(
            total.faults.get(name).copied().unwrap_or(0) > 0,
            "{name} never injected: {total}"
        );
    }
    // Overlapping GETs and garbage need a scripted wire client: never injected for ours.
    let mut total = Report::default();
    for seed in 0..20 {
        let rates = FaultRates {
            duplicate_get: 1.0,
            garbage: 1.0,
            ..FaultRates::NONE
        };
        total.merge(
            &Sim::new(ours_only(seed, rates))
                .run()
                .unwrap_or_else(|f| panic!("{f}")),
        );
    }
    assert!(total.faults.is_empty(), "{total}");
    assert!(total.client_closes.is_empty(), "{total}");
}

#[test]
fn our_client_same_seed_same_trace() {
    for seed in [3, 58, 901] {
        let cfg = || {
            let mut c = ours_only(seed, FaultRates::all(0.3));
            c.mix.client_close = 0.3;
            c.mix.server_close = 0.3;
            c
        };
        let a = Sim::new(cfg()).run().unwrap_or_else(|f| panic!("{f}"));
        let b = Sim::new(cfg()).run().unwrap_or_else(|f| panic!("{f}"));
        assert_eq!(a, b, "seed {seed}");
        let mut sim = Sim::new(cfg());
        while sim.step() {}
        assert_eq!(sim.report(), a, "seed {seed}: stepped by hand");
    }
    let hashes: std::collections::BTreeSet<u64> = (0..30)
        .map(|seed| {
            Sim::new(ours_only(seed, FaultRates::NONE))
                .run()
                .map_or(seed, |r| r.trace_hash)
        })
        .collect();
    assert_eq!(hashes.len(), 30);
}

/// Runs `seeds` seeds of `config` and sums their reports (panicking on a failure).
fn total(seeds: std::ops::Range<u64>, config: impl Fn(u64) -> Config) -> Report {
    let mut total = Report::default();
    for seed in seeds {
        match Sim::new(config(seed)).run() {
            Ok(r) => total.merge(&r),
            Err(f) => panic!("{f}"),
        }
    }
    total
}

fn count(map: &std::collections::BTreeMap<&'static str, u64>, name: &str) -> u64 {
    map.get(name).copied().unwrap_or(0)
}

#[test]
fn overlaps_and_oversized_input_get_the_exact_answer() {
    let rates = FaultRates {
        duplicate_get: 1.0,
        overlapping_post: 1.0,
        oversized: 1.0,
        ..FaultRates::NONE
    };
    let t = total(0..40, |seed| Config {
        faults: rates,
        inputs: InputRates::NONE,
        ..config(seed)
    });
    // The second GET or POST: an empty 400; a POST being read: `Session ID unknown`; a
    // parked GET: the close packet alone; a body over maxPayload: an empty 413; a message
    // over it on WebSocket: the session closes with `transport error` (checked with each).
    for name in [
        "overlapping_get",
        "overlapping_post",
        "closed_post",
        "closed_poll",
        "oversized_post",
        "oversized_frame",
    ] {
        assert!(count(&t.checks, name) > 0, "{name} never checked: {t}");
    }
    assert!(count(&t.server_closes, "transport error") > 0, "{t}");
}

#[test]
fn each_input_happens_and_is_answered_as_the_model_says() {
    let quiet = |seed: u64, inputs: InputRates| {
        let mut c = Config {
            faults: FaultRates::NONE,
            inputs,
            ..config(seed)
        };
        c.shutdown = 0.0;
        c.mix.client_close = 0.0;
        c.mix.server_close = 0.0;
        c
    };
    // (the inputs, what the report must count under `inputs`, and under `checks`)
    let cases: [(InputRates, &[&str], &[&str]); 7] = [
        (
            InputRates {
                cors: 1.0,
                origin: 1.0,
                preflight: 1.0,
                cross_site: 1.0,
                ..InputRates::NONE
            },
            &["preflight", "cross_site"],
            &["cors", "preflight", "cross_site_ws"],
        ),
        (
            InputRates {
                preflight: 1.0,
                ..InputRates::NONE
            },
            &["preflight"],
            &["bad_method"],
        ),
        (
            InputRates {
                cookie: 1.0,
                ..InputRates::NONE
            },
            &[],
            &["cookie", "cookie_sent_back"],
        ),
        (
            InputRates {
                allow_request: 1.0,
                refuse: 0.7,
                ..InputRates::NONE
            },
            &["refused"],
            &["refused"],
        ),
        (
            InputRates {
                at_limit: 1.0,
                ..InputRates::NONE
            },
            &["at_limit"],
            &["at_limit_post", "at_limit_frame"],
        ),
        (
            InputRates {
                stale_sid: 1.0,
                ..InputRates::NONE
            },
            &["unknown_sid"],
            &["unknown_sid"],
        ),
        (
            InputRates {
                reconnect: 1.0,
                stale_sid: 1.0,
                ..InputRates::NONE
            },
            &["reconnect", "stale_sid"],
            &["stale_sid", "late_post_ok"],
        ),
    ];
    for (rates, inputs, checks) in cases {
        let t = total(0..40, |seed| {
            let mut c = quiet(seed, rates);
            if rates.reconnect > 0.0 {
                c.mix.client_close = 0.5;
                c.mix.server_close = 0.5;
            }
            c
        });
        for name in inputs {
            assert!(count(&t.inputs, name) > 0, "input {name} never sent: {t}");
        }
        for name in checks {
            assert!(count(&t.checks, name) > 0, "{name} never checked: {t}");
        }
        if rates.reconnect == 0.0 {
            // Nobody closed (but v3 clients whose batch went over the small maxPayload of
            // some seeds, which they are not told): every client got its session, refused or
            // not, and everything arrived (the final check).
            assert_eq!(t.sessions, 120, "{t}");
            let closes: u64 = t.client_closes.values().sum();
            assert_eq!(closes, count(&t.checks, "oversized_post"), "{t}");
        } else {
            // A reconnect is a session more; every session closed or delivered everything.
            assert!(t.sessions > 120 + count(&t.inputs, "reconnect") / 2, "{t}");
        }
    }
}

#[test]
fn handshakes_during_shutdown_get_503() {
    let t = total(0..60, |seed| {
        let mut c = Config {
            faults: FaultRates::NONE,
            inputs: InputRates {
                allow_request: 1.0,
                refuse: 1.0,
                reconnect: 1.0,
                ..InputRates::NONE
            },
            ..config(seed)
        };
        c.shutdown = 1.0;
        c.mix.client_close = 1.0;
        c
    });
    assert!(count(&t.checks, "unavailable") > 0, "{t}");
}

/// The checker can fail: with an expectation deliberately wrong, runs that check such an
/// answer fail with `Invariant::Answer`, and the same seeds pass without it.
#[test]
fn a_wrong_expectation_is_caught() {
    let cases = [
        (
            Sabotage::Status,
            InputRates {
                stale_sid: 1.0,
                ..InputRates::NONE
            },
            FaultRates::NONE,
        ),
        (
            Sabotage::Cors,
            InputRates {
                cors: 1.0,
                origin: 1.0,
                ..InputRates::NONE
            },
            FaultRates::NONE,
        ),
        (
            Sabotage::Cookie,
            InputRates {
                cookie: 1.0,
                ..InputRates::NONE
            },
            FaultRates::NONE,
        ),
        (
            Sabotage::CloseReason,
            InputRates::NONE,
            FaultRates {
                oversized: 1.0,
                ..FaultRates::NONE
            },
        ),
    ];
    for (sabotage, inputs, faults) in cases {
        let cfg = |seed: u64| Config {
            faults,
            inputs,
            ..config(seed)
        };
        let mut caught = 0;
        for seed in 0..20 {
            let sabotaged = Config {
                sabotage: Some(sabotage),
                ..cfg(seed)
            };
            if let Err(f) = Sim::new(sabotaged).run() {
                assert_eq!(f.invariant, Invariant::Answer, "{sabotage:?}: {f}");
                caught += 1;
                if let Err(f) = Sim::new(cfg(seed)).run() {
                    panic!("{sabotage:?}: seed {seed} fails without the sabotage too: {f}");
                }
            }
        }
        assert!(
            caught >= 10,
            "{sabotage:?}: only {caught} of 20 runs caught it"
        );
    }
}

#[test]
fn reconnects_replay_exactly() {
    for seed in [5, 31] {
        let cfg = || {
            let mut c = Config {
                inputs: InputRates::all(0.5),
                ..config(seed)
            };
            c.mix.client_close = 0.5;
            c
        };
        let a = Sim::new(cfg()).run().map_err(|f| f.to_string());
        let b = Sim::new(cfg()).run().map_err(|f| f.to_string());
        assert_eq!(a, b, "seed {seed}");
    }
}
