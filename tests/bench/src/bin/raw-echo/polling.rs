//! The polling half of `raw-echo`, naive: a map of sessions, each a queue of packets and a
//! `Notify`; a GET waits until its session's queue is not empty.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::{Method, Request, StatusCode};
use tokio::sync::Notify;

use crate::{param, respond, Resp};

/// One polling session.
#[derive(Default)]
struct Session {
    queue: Mutex<Vec<Bytes>>,
    ready: Notify,
}

/// The polling sessions by id.
#[derive(Default)]
pub struct Sessions {
    map: Mutex<HashMap<String, Arc<Session>>>,
    next: AtomicU64,
}

/// Handles a polling request.
pub async fn handle(req: Request<Incoming>, query: &str, sessions: &Sessions) -> Resp {
    let Some(sid) = param(query, "sid") else {
        if req.method() != Method::GET {
            return respond(StatusCode::BAD_REQUEST, "no sid");
        }
        let sid = format!("p{}", sessions.next.fetch_add(1, Ordering::Relaxed));
        sessions
            .map
            .lock()
            .expect("lock")
            .insert(sid.clone(), Arc::default());
        let open = format!(
            r#"0{{"sid":"{sid}","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}}"#
        );
        return respond(StatusCode::OK, open);
    };
    let Some(session) = sessions.map.lock().expect("lock").get(sid).cloned() else {
        return respond(StatusCode::BAD_REQUEST, "unknown sid");
    };
    if req.method() == Method::POST {
        let Ok(body) = req.into_body().collect().await.map(|b| b.to_bytes()) else {
            return respond(StatusCode::BAD_REQUEST, "body");
        };
        let mut closing = false;
        for packet in body.split(|&b| b == 0x1e) {
            match packet.first() {
                Some(b'4') => session
                    .queue
                    .lock()
                    .expect("lock")
                    .push(body.slice_ref(packet)),
                Some(b'1') => closing = true,
                _ => {}
            }
        }
        if closing {
            sessions.map.lock().expect("lock").remove(sid);
            session
                .queue
                .lock()
                .expect("lock")
                .push(Bytes::from_static(b"6"));
        }
        session.ready.notify_one();
        return respond(StatusCode::OK, "ok");
    }
    loop {
        let packets = std::mem::take(&mut *session.queue.lock().expect("lock"));
        if !packets.is_empty() {
            return respond(StatusCode::OK, packets.join(&b"\x1e"[..]));
        }
        session.ready.notified().await;
    }
}
