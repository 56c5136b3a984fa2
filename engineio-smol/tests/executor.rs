//! A server and a client on an executor of the application's (`Smol::with_executor`): the
//! tasks they spawn (connections, sessions, the client's driver) run there, not on smol's
//! global executor.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use engineio_smol::proto::Message;
use engineio_smol::session::ClientConfig;
use engineio_smol::{
    Builder, Client, ClientSocketEvent, EngineIo, ServerConfig, Smol, SocketEvent,
};

#[test]
fn server_and_client_run_on_the_given_executor() {
    let ex = Arc::new(smol::Executor::new());
    let (stop, shutdown) = smol::channel::unbounded::<()>();
    // Two threads run the executor until the test ends.
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let ex = ex.clone();
            let shutdown = shutdown.clone();
            std::thread::spawn(move || {
                let _ = smol::block_on(ex.run(shutdown.recv()));
            })
        })
        .collect();
    let rt = Smol::with_executor(ex.clone());
    let spawned = Arc::new(AtomicUsize::new(0));
    let result = smol::block_on(async {
        let builder: Builder = EngineIo::builder(ServerConfig::default()).runtime(rt.clone());
        let (engine, mut connections) = builder.build();
        let listener = smol::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        // The accept loops run on the global executor: whatever runs on `ex` was spawned by
        // the server or the client.
        smol::spawn(engineio_smol::serve(listener, engine.clone())).detach();
        let count = spawned.clone();
        smol::spawn(async move {
            while let Some(mut socket) = connections.accept().await {
                count.fetch_add(1, Ordering::Relaxed);
                while let Some(event) = socket.recv().await {
                    if let SocketEvent::Message(m) = event {
                        let _ = socket.send(m).await;
                    }
                }
            }
        })
        .detach();
        let config = ClientConfig::new(format!("http://{addr}").parse().unwrap());
        let mut client = Client::connect_on(rt.clone(), config).await.unwrap();
        assert!(
            !ex.is_empty(),
            "no task of the session or client on the executor"
        );
        client.send("on my executor").await.unwrap();
        let echoed = smol::future::or(
            async {
                loop {
                    match client.recv().await {
                        Some(
                            ClientSocketEvent::Upgrading
                            | ClientSocketEvent::Upgraded(_)
                            | ClientSocketEvent::UpgradeFailed(_)
                            | ClientSocketEvent::Heartbeat,
                        ) => continue,
                        other => break other,
                    }
                }
            },
            async {
                smol::Timer::after(Duration::from_secs(5)).await;
                None
            },
        )
        .await;
        client.close().await;
        let ended = engine.shutdown(Duration::from_secs(5)).await;
        // Then every task on `ex` ends.
        for _ in 0..100 {
            if ex.is_empty() {
                break;
            }
            smol::Timer::after(Duration::from_millis(50)).await;
        }
        assert!(ex.is_empty(), "tasks left on the executor after shutdown");
        (echoed, ended)
    });
    drop(stop);
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(
        result.0,
        Some(ClientSocketEvent::Message(Message::from("on my executor")))
    );
    assert!(result.1, "sessions did not end");
    assert_eq!(spawned.load(Ordering::Relaxed), 1);
}
