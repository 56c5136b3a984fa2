//! The simulation runtime itself: virtual time, the network's latency, order, bounds and
//! failures, each fault, replay, and what a run that cannot finish reports.

use std::io;
use std::time::Duration;

use engineio_driver::sim::{check_seeds, Fault, Faults, Sim, SimError, SimRuntime};
use engineio_driver::{
    serve, Client, ClientConfig, ClientSocketEvent, CloseReason, EngineIo, Runtime, ServerConfig,
    SocketEvent,
};
use futures_util::io::{AsyncReadExt, AsyncWriteExt};

fn ms(m: u64) -> Duration {
    Duration::from_millis(m)
}

/// A world whose every segment takes exactly 10 ms.
fn fixed_latency(seed: u64) -> Sim {
    Sim::new(seed).faults(Faults::none().latency(ms(10)..=ms(10)))
}

#[test]
fn an_hour_of_sleep_is_virtual() {
    let sim = Sim::new(1);
    let host = sim.host("a");
    let (elapsed, report) = sim
        .run(Duration::from_secs(7200), async move {
            host.sleep(Duration::from_secs(3600)).await;
            host.elapsed()
        })
        .unwrap();
    assert_eq!(elapsed, Duration::from_secs(3600));
    assert_eq!(report.elapsed, Duration::from_secs(3600));
}

#[test]
fn segments_take_their_latency_and_keep_their_order() {
    let sim = fixed_latency(2);
    let (a, b) = (sim.host("a"), sim.host("b"));
    let ((read, at), _) = sim
        .run(Duration::from_secs(10), async move {
            let mut listener = b.bind(9).unwrap();
            let b2 = b.clone();
            let server = b.spawn_task(async move {
                let (mut s, peer) = engineio_driver::Listener::accept(&mut listener)
                    .await
                    .unwrap();
                assert_eq!(peer.ip(), a_ip());
                let mut got = Vec::new();
                s.read_to_end(&mut got).await.unwrap();
                (got, b2.elapsed())
            });
            let mut c = a.connect("b", 9).await.unwrap();
            // Connecting took one round trip.
            assert_eq!(a.elapsed(), ms(20));
            for chunk in [&b"one "[..], b"two ", b"three"] {
                c.write_all(chunk).await.unwrap();
            }
            c.close().await.unwrap();
            server.await.unwrap()
        })
        .unwrap();
    assert_eq!(read, b"one two three");
    // Everything was written at 20 ms and arrives 10 ms later, end-of-stream included.
    assert_eq!(at, ms(30));
}

fn a_ip() -> std::net::IpAddr {
    // Hosts are numbered in the order they are named, after `main` (0): `a` is 1.
    std::net::Ipv4Addr::new(10, 0, 0, 1).into()
}

#[test]
fn connecting_fails_as_tcp_does() {
    let sim = fixed_latency(3);
    let (a, b) = (sim.host("a"), sim.host("b"));
    let (kinds, _) = sim
        .run(Duration::from_secs(60), async move {
            let unknown = a.connect("nowhere", 80).await.unwrap_err().kind();
            let refused = a.connect("b", 80).await.unwrap_err().kind();
            let _listener = b.bind(80).unwrap();
            let taken = b.bind(80).unwrap_err().kind();
            b.partition(Duration::from_secs(10));
            let before = a.elapsed();
            let cut = a.connect("b", 80).await.unwrap_err().kind();
            let waited = a.elapsed() - before;
            b.sleep(Duration::from_secs(10)).await;
            let healed = a.connect("b", 80).await.map(|_| ()).map_err(|e| e.kind());
            (unknown, refused, taken, cut, waited, healed)
        })
        .unwrap();
    assert_eq!(
        kinds,
        (
            io::ErrorKind::NotFound,
            io::ErrorKind::ConnectionRefused,
            io::ErrorKind::AddrInUse,
            io::ErrorKind::TimedOut,
            Duration::from_secs(3),
            Ok(())
        )
    );
}

#[test]
fn a_split_cuts_two_hosts_apart_and_no_other() {
    let sim = fixed_latency(9);
    let (a, b, c) = (sim.host("a"), sim.host("b"), sim.host("c"));
    let (kinds, report) = sim
        .run(Duration::from_secs(60), async move {
            let (_lb, _lc) = (b.bind(80).unwrap(), c.bind(80).unwrap());
            a.partition_from(&b, Duration::from_secs(10));
            let kind = |r: io::Result<_>| r.map(|_| ()).map_err(|e| e.kind());
            let a_b = kind(a.connect("b", 80).await);
            let a_c = kind(a.connect("c", 80).await);
            let c_b = kind(c.connect("b", 80).await);
            a.sleep(Duration::from_secs(10)).await;
            let healed = kind(a.connect("b", 80).await);
            (a_b, a_c, c_b, healed)
        })
        .unwrap();
    assert_eq!(
        kinds,
        (Err(io::ErrorKind::TimedOut), Ok(()), Ok(()), Ok(()))
    );
    assert!(report.touched("a") && report.touched("b") && !report.touched("c"));
}

#[test]
fn a_writer_waits_while_the_window_is_full() {
    let sim = fixed_latency(4);
    let (a, b) = (sim.host("a"), sim.host("b"));
    let (progress, _) = sim
        .run(Duration::from_secs(60), async move {
            let mut listener = b.bind(9).unwrap();
            let b2 = b.clone();
            let reader = b.spawn_task(async move {
                let (mut s, _) = engineio_driver::Listener::accept(&mut listener)
                    .await
                    .unwrap();
                // Read nothing for a second, then everything.
                b2.sleep(Duration::from_secs(1)).await;
                let mut got = Vec::new();
                s.read_to_end(&mut got).await.unwrap();
                got.len()
            });
            let mut c = a.connect("b", 9).await.unwrap();
            let (tx, rx) = std::sync::mpsc::channel();
            let a2 = a.clone();
            let writer = a.spawn_task(async move {
                let chunk = vec![7u8; 64 * 1024];
                for _ in 0..16 {
                    c.write_all(&chunk).await.unwrap();
                    let _ = tx.send(a2.elapsed());
                }
                c.close().await.unwrap();
            });
            writer.await;
            let times: Vec<Duration> = rx.try_iter().collect();
            (times, reader.await.unwrap())
        })
        .unwrap();
    let (times, read) = progress;
    assert_eq!(read, 16 * 64 * 1024);
    // Four chunks (256 KiB) fit at once; the fifth waits for the reader, a second later.
    assert!(times[..4].iter().all(|t| *t == ms(20)), "{times:?}");
    assert!(times[4] >= Duration::from_secs(1), "{times:?}");
}

#[test]
fn a_reset_fails_both_ends() {
    let sim = fixed_latency(5);
    let (a, b) = (sim.host("a"), sim.host("b"));
    let ((read, write), report) = sim
        .run(Duration::from_secs(60), async move {
            let mut listener = b.bind(9).unwrap();
            let server = b.spawn_task(async move {
                let (mut s, _) = engineio_driver::Listener::accept(&mut listener)
                    .await
                    .unwrap();
                let mut buf = [0u8; 16];
                s.read(&mut buf).await.map_err(|e| e.kind())
            });
            let mut c = a.connect("b", 9).await.unwrap();
            a.sleep(ms(100)).await;
            a.reset_connections();
            let write = c.write_all(b"late").await.map_err(|e| e.kind());
            (server.await.unwrap(), write)
        })
        .unwrap();
    assert_eq!(read, Err(io::ErrorKind::ConnectionReset));
    assert_eq!(write, Err(io::ErrorKind::ConnectionReset));
    assert_eq!(report.faults.len(), 1);
    assert!(report.touched("a") && report.touched("b") && !report.touched("main"));
}

#[test]
fn a_clock_jump_brings_that_hosts_timers_forward() {
    let sim = Sim::new(6);
    let (a, b) = (sim.host("a"), sim.host("b"));
    let ((a_woke, b_woke), report) = sim
        .run(Duration::from_secs(60), async move {
            let (a2, b2) = (a.clone(), b.clone());
            let world = |rt: &SimRuntime| rt.elapsed();
            let ta = a.spawn_task(async move {
                a2.sleep(Duration::from_secs(10)).await;
            });
            let tb = b.spawn_task(async move {
                b2.sleep(Duration::from_secs(10)).await;
            });
            a.sleep(Duration::from_secs(1)).await;
            a.jump_clock(Duration::from_secs(6));
            ta.await;
            // `b` kept the world's time: read the world's clock through it.
            let a_woke = world(&b);
            tb.await;
            (a_woke, world(&b))
        })
        .unwrap();
    // `a` slept 10 s on its own clock, which ran 6 s ahead from the first second.
    assert_eq!(a_woke, Duration::from_secs(4));
    assert_eq!(b_woke, Duration::from_secs(10));
    assert_eq!(
        report.faults[0].1,
        Fault::ClockJump {
            host: "a".into(),
            by: Duration::from_secs(6)
        }
    );
}

#[test]
fn a_run_that_cannot_finish_says_so() {
    let stalled = Sim::new(7)
        .run(Duration::from_secs(60), std::future::pending::<()>())
        .unwrap_err();
    assert!(matches!(stalled, SimError::Stalled(_)), "{stalled}");
    let sim = Sim::new(8);
    let a = sim.host("a");
    let late = sim
        .run(Duration::from_secs(60), async move {
            a.sleep(Duration::from_secs(61)).await;
        })
        .unwrap_err();
    match late {
        SimError::TimeLimit(r) => assert_eq!(r.elapsed, Duration::from_secs(60)),
        other => panic!("{other}"),
    }
}

#[test]
fn check_seeds_names_the_first_failing_seed_and_its_replay() {
    if std::env::var(engineio_driver::sim::SEED_VAR).is_ok() {
        return;
    }
    let failed = std::panic::catch_unwind(|| {
        check_seeds(0..20, |seed| match seed {
            7 | 12 => Err(format!("bad {seed}")),
            15 => panic!("boom"),
            _ => Ok(()),
        })
    })
    .unwrap_err();
    let message = failed.downcast_ref::<String>().unwrap();
    assert!(
        message.starts_with("3 of 20 seeds failed; the first, seed 7:\nbad 7"),
        "{message}"
    );
    let exe = std::env::current_exe().unwrap();
    let replay = format!(
        "replay it alone: ENGINEIO_SIM_SEED=7 {} check_seeds_names_the_first_failing_seed_and_its_replay --exact",
        exe.display()
    );
    assert!(message.contains(&replay), "{message}");
}

/// An echo server and one client over `transports`; the client's close reason and the run's
/// trace hash. The server is cut off for `partition` after the first echo.
fn echo_run(seed: u64, partition: Option<Duration>) -> (Vec<String>, u64) {
    let sim = Sim::new(seed).faults(Faults::default().latency(ms(1)..=ms(30)));
    let (server, client) = (sim.host("server"), sim.host("client"));
    let (events, report) = sim
        .run(Duration::from_secs(120), async move {
            let config = ServerConfig {
                ping_interval: Duration::from_secs(5),
                ping_timeout: Duration::from_secs(3),
                ..ServerConfig::default()
            };
            let (engine, mut connections) =
                EngineIo::builder(config).runtime(server.clone()).build();
            server.spawn_task(serve(server.bind(80).unwrap(), engine));
            let seen = server.spawn_task(async move {
                let mut socket = connections.accept().await.unwrap();
                loop {
                    match socket.recv().await {
                        Some(SocketEvent::Message(m)) => {
                            let _ = socket.send(m).await;
                        }
                        Some(SocketEvent::Closed(reason)) => return Some(reason),
                        Some(_) => {}
                        None => return None,
                    }
                }
            });
            let config = ClientConfig::new("http://server:80".parse().unwrap());
            let mut c = Client::connect_on(client, config).await.unwrap();
            c.send("ping me").await.unwrap();
            let mut events = Vec::new();
            loop {
                match c.recv().await {
                    Some(ClientSocketEvent::Message(m)) => {
                        events.push(format!("{m:?}"));
                        match partition {
                            Some(d) => server.partition(d),
                            None => c.close().await,
                        }
                    }
                    Some(ClientSocketEvent::Closed { reason, local }) => {
                        events.push(format!("client closed: {reason}, local {local}"));
                        break;
                    }
                    Some(_) => {}
                    None => break,
                }
            }
            let server_saw = seen.await.flatten();
            events.push(format!("server closed: {server_saw:?}"));
            events
        })
        .unwrap();
    (events, report.trace_hash)
}

#[test]
fn a_seed_replays_the_whole_stack_exactly() {
    let (e1, h1) = echo_run(11, None);
    let (e2, h2) = echo_run(11, None);
    let (_, h3) = echo_run(12, None);
    assert_eq!((&e1, h1), (&e2, h2));
    assert_ne!(h1, h3);
    assert_eq!(
        e1.last().unwrap(),
        &format!("server closed: {:?}", Some(CloseReason::TransportClose))
    );
}

#[test]
fn a_partition_longer_than_the_heartbeat_times_both_sides_out() {
    let (events, _) = echo_run(13, Some(Duration::from_secs(30)));
    assert_eq!(events.len(), 3, "{events:?}");
    assert_eq!(events[1], "client closed: ping timeout, local false");
    assert_eq!(
        events[2],
        format!("server closed: {:?}", Some(CloseReason::PingTimeout))
    );
}

#[test]
fn a_partition_shorter_than_the_heartbeat_loses_nothing() {
    let sim = Sim::new(14).faults(Faults::default());
    let (server, client) = (sim.host("server"), sim.host("client"));
    let (got, _) = sim
        .run(Duration::from_secs(120), async move {
            let (engine, mut connections) = EngineIo::builder(ServerConfig::default())
                .runtime(server.clone())
                .build();
            server.spawn_task(serve(server.bind(80).unwrap(), engine));
            let s2 = server.clone();
            server.spawn_task(async move {
                let socket = connections.accept().await.unwrap();
                for i in 0..10 {
                    let _ = socket.send(i.to_string()).await;
                    if i == 4 {
                        s2.partition(Duration::from_secs(10));
                    }
                    s2.sleep(ms(500)).await;
                }
                // Hold the socket until the client is done.
                s2.sleep(Duration::from_secs(60)).await;
                drop(socket);
            });
            let config = ClientConfig::new("http://server:80".parse().unwrap());
            let mut c = Client::connect_on(client, config).await.unwrap();
            let mut got = Vec::new();
            while got.len() < 10 {
                match c.recv().await {
                    Some(ClientSocketEvent::Message(m)) => got.push(format!("{m:?}")),
                    Some(ClientSocketEvent::Closed { reason, .. }) => panic!("closed: {reason}"),
                    Some(_) => {}
                    None => panic!("ended"),
                }
            }
            got
        })
        .unwrap();
    let want: Vec<String> = (0..10)
        .map(|i| format!("{:?}", engineio_driver::proto::Message::from(i.to_string())))
        .collect();
    assert_eq!(got, want);
}

#[test]
fn default_is_the_host_of_the_running_task() {
    let sim = Sim::new(15);
    let a = sim.host("a");
    let (name, _) = sim
        .run(Duration::from_secs(1), async move {
            a.spawn_task(async { SimRuntime::default().name() }).await
        })
        .unwrap();
    assert_eq!(name.as_deref(), Some("a"));
    // The driver's clock is the host's.
    let sim = Sim::new(16);
    let a = sim.host("a");
    let (d, _) = sim
        .run(Duration::from_secs(5), async move {
            let t0 = a.now();
            a.sleep(Duration::from_secs(2)).await;
            a.now() - t0
        })
        .unwrap();
    assert_eq!(d, Duration::from_secs(2));
}

/// A server that answers each message by sending it to every session it lists with
/// `clients()`, and 20 clients that each send one; the run's trace hash.
fn broadcast_run(seed: u64) -> u64 {
    let sim = Sim::new(seed);
    let server = sim.host("server");
    let clients: Vec<SimRuntime> = (0..20).map(|i| sim.host(&format!("c{i}"))).collect();
    let (_, report) = sim
        .run(Duration::from_secs(120), async move {
            let (engine, mut connections) = EngineIo::builder(ServerConfig::default())
                .runtime(server.clone())
                .build();
            server.spawn_task(serve(server.bind(80).unwrap(), engine.clone()));
            let rt = server.clone();
            server.spawn_task(async move {
                while let Some(mut socket) = connections.accept().await {
                    let engine = engine.clone();
                    rt.spawn(async move {
                        // (The socket is kept until its session closes: dropping it would
                        // close the session.)
                        while let Some(event) = socket.recv().await {
                            if let SocketEvent::Message(m) = event {
                                for c in engine.clients() {
                                    let _ = c.try_send(m.clone());
                                }
                            }
                        }
                    });
                }
            });
            let mut done = Vec::new();
            for (i, rt) in clients.into_iter().enumerate() {
                done.push(rt.clone().spawn_task(async move {
                    let config = ClientConfig::new("http://server:80".parse().unwrap());
                    let mut c = Client::connect_on(rt.clone(), config).await.unwrap();
                    rt.sleep(Duration::from_secs(1)).await;
                    c.send(format!("from c{i}")).await.unwrap();
                    let mut n = 0;
                    while n < 20 {
                        if let Some(ClientSocketEvent::Message(m)) = c.recv().await {
                            rt.trace(format_args!("{m:?}"));
                            n += 1;
                        }
                    }
                }));
            }
            for d in done {
                d.await;
            }
        })
        .unwrap();
    report.trace_hash
}

/// The order `clients()` lists sessions in depends only on the seed (the server's maps do
/// not take a per-process random hash key), so a broadcast replays too.
#[test]
fn a_broadcast_over_clients_replays_exactly() {
    assert_eq!(broadcast_run(21), broadcast_run(21));
}

/// One session on `server`, which crashes and is started again; a second client.
#[test]
fn a_crashed_server_loses_its_sessions_and_serves_again() {
    let sim = Sim::new(22);
    let (server, client) = (sim.host("server"), sim.host("client"));
    let start = |rt: &SimRuntime| {
        let (engine, mut connections) = EngineIo::builder(ServerConfig::default())
            .runtime(rt.clone())
            .build();
        rt.spawn_task(serve(rt.bind(80).unwrap(), engine));
        let keep = rt.clone();
        rt.spawn_task(async move {
            while let Some(socket) = connections.accept().await {
                // Sessions stay open until they close.
                keep.spawn(async move {
                    let mut socket = socket;
                    while socket.recv().await.is_some() {}
                });
            }
        });
    };
    let ((first, second), report) = sim
        .run(Duration::from_secs(60), async move {
            start(&server);
            let config = ClientConfig::new("http://server:80".parse().unwrap());
            let mut c = Client::connect_on(client.clone(), config.clone())
                .await
                .unwrap();
            client.sleep(Duration::from_secs(1)).await;
            server.crash();
            let first = loop {
                match c.recv().await {
                    Some(ClientSocketEvent::Closed { reason, .. }) => break Some(reason),
                    Some(_) => {}
                    None => break None,
                }
            };
            let refused = Client::connect_on(client.clone(), config.clone())
                .await
                .is_err();
            start(&server);
            let again = Client::connect_on(client.clone(), config).await.is_ok();
            (first, (refused, again))
        })
        .unwrap();
    // The WebSocket (after the upgrade) was reset: the client saw its transport close.
    assert_eq!(first, Some(CloseReason::TransportClose));
    assert_eq!(second, (true, true));
    assert!(report.faults.iter().any(
        |(_, f)| matches!(f, Fault::Crash { host, tasks } if host == "server" && *tasks >= 3)
    ));
}

/// Sets its flag when dropped.
struct DropFlag(std::sync::Arc<std::sync::atomic::AtomicBool>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

#[test]
fn a_panicking_task_fails_the_run_and_leaves_nothing_behind() {
    let dropped = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = DropFlag(dropped.clone());
    let sim = Sim::new(23);
    let a = sim.host("a");
    let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
        sim.run(Duration::from_secs(10), async move {
            // A task that outlives the panic, holding the flag (and the world).
            let a2 = a.clone();
            a.spawn_task(async move {
                let _flag = flag;
                a2.sleep(Duration::from_secs(5)).await;
            });
            a.sleep(Duration::from_secs(1)).await;
            panic!("boom");
        })
    }));
    let panic = run.unwrap_err();
    assert_eq!(panic.downcast_ref::<&str>(), Some(&"boom"));
    // The world was torn down: its other task was dropped, and this thread is no longer
    // inside a simulation.
    assert!(dropped.load(std::sync::atomic::Ordering::SeqCst));
    assert!(std::panic::catch_unwind(SimRuntime::default).is_err());
}
