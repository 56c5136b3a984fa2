//! An Engine.IO echo server with no async runtime: `std::net`, threads and one lock, driving
//! the sans-IO machines by hand (HTTP long-polling, protocol 4; WebSocket needs a WebSocket
//! codec and is left out). Every message a client sends comes back to it.
//!
//! ```text
//! cargo run -p engineio-session --example std_echo -- [--addr 127.0.0.1:3000]
//!     [--ping-interval MS] [--ping-timeout MS]
//! ```
//!
//! How the machines are driven, which any event loop does the same way:
//! - each HTTP request goes to [`Server::route`]; a handshake to [`Server::accept`], a session's
//!   request to its [`Session`] as [`Input::Request`];
//! - after every input, the session is drained: [`Session::poll_transmit`] (answer a request,
//!   read a POST body) and [`Session::poll_event`] (messages: echoed with [`Session::send`]);
//! - one thread sleeps until the earliest [`Session::poll_timeout`] and calls
//!   [`Session::handle_timeout`] (heartbeats, timeouts).
//!
//! A connection thread reads its request (with `httparse`), hands it over under the lock, and
//! waits on a channel for the answer, which may come later (a long-poll GET is answered when
//! there is something to send).

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use engineio_session::{
    Event, Input, Instant, ReqId, Route, Server, ServerConfig, Session, Sid, Transmit, Transports,
    Verdict,
};
use http::{Request, Response, StatusCode};

/// Largest request head read.
const MAX_HEAD: usize = 16 * 1024;

/// A session, and the requests of it waiting for their answer.
struct Entry {
    session: Session,
    /// Answers go to the connection thread that waits for them.
    waiting: HashMap<ReqId, mpsc::Sender<Response<Bytes>>>,
    /// POST bodies, read with the request, until the session asks for them.
    bodies: HashMap<ReqId, Bytes>,
}

/// Everything, behind one lock.
struct State {
    server: Server,
    sessions: HashMap<Sid, Entry>,
    next_req: u64,
}

struct Shared {
    state: Mutex<State>,
    /// Wakes the timer thread: a deadline may have moved.
    deadlines: Condvar,
    epoch: std::time::Instant,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Now, as the machines count time.
    fn now(&self) -> Instant {
        Instant::from_epoch(self.epoch.elapsed())
    }
}

fn main() -> std::io::Result<()> {
    let mut addr = "127.0.0.1:3000".to_owned();
    let mut config = ServerConfig {
        transports: Transports {
            polling: true,
            websocket: false,
        },
        ..ServerConfig::default()
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value = args.next().unwrap_or_default();
        let ms = || Duration::from_millis(value.parse().unwrap_or(25_000));
        match arg.as_str() {
            "--addr" => addr = value.clone(),
            "--ping-interval" => config.ping_interval = ms(),
            "--ping-timeout" => config.ping_timeout = ms(),
            other => {
                eprintln!("unknown option {other}");
                std::process::exit(2);
            }
        }
    }
    let listener = TcpListener::bind(&addr)?;
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            server: Server::new(config),
            sessions: HashMap::new(),
            next_req: 0,
        }),
        deadlines: Condvar::new(),
        epoch: std::time::Instant::now(),
    });
    println!("listening on http://{}", listener.local_addr()?);
    let timers = shared.clone();
    std::thread::spawn(move || run_timers(&timers));
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        let shared = shared.clone();
        std::thread::spawn(move || {
            let _ = serve_connection(&shared, stream);
        });
    }
    Ok(())
}

/// Sleeps until the earliest deadline of any session, then lets the due ones act.
fn run_timers(shared: &Shared) {
    let mut state = shared.lock();
    loop {
        let now = shared.now();
        let mut earliest: Option<Instant> = None;
        let due: Vec<Sid> = state
            .sessions
            .iter()
            .filter_map(|(sid, e)| {
                let at = e.session.poll_timeout()?;
                if at <= now {
                    return Some(*sid);
                }
                earliest = Some(earliest.map_or(at, |t| t.min(at)));
                None
            })
            .collect();
        if !due.is_empty() {
            for sid in due {
                if let Some(e) = state.sessions.get_mut(&sid) {
                    e.session.handle_timeout(now);
                }
                drain(&mut state, sid, now);
            }
            continue;
        }
        let wait = earliest.map_or(Duration::from_secs(1), |t| t - now);
        state = shared
            .deadlines
            .wait_timeout(state, wait)
            .unwrap_or_else(|e| e.into_inner())
            .0;
    }
}

/// Performs what session `sid` asks and takes its events, until it has nothing more.
fn drain(state: &mut State, sid: Sid, now: Instant) {
    loop {
        let Some(e) = state.sessions.get_mut(&sid) else {
            return;
        };
        let mut progressed = false;
        while let Some(t) = e.session.poll_transmit() {
            progressed = true;
            match t {
                Transmit::Respond { req, response } => {
                    if let Some(tx) = e.waiting.remove(&req) {
                        let _ = tx.send(response);
                    }
                }
                Transmit::ReadBody { req, limit } => {
                    let input = match e.bodies.remove(&req) {
                        Some(body) if body.len() <= limit => Input::PostBody(req, body),
                        Some(_) => Input::PostTooLarge(req),
                        None => Input::RequestAborted(req),
                    };
                    e.session.handle_input(now, input);
                }
                // Polling only: the server offers no WebSocket.
                _ => {}
            }
        }
        while let Some(event) = e.session.poll_event() {
            progressed = true;
            if let Event::Message(m) = event {
                // Echo. A full buffer drops the echo here; an application would wait.
                let _ = e.session.send(m);
            }
        }
        if e.session.is_closed() && !progressed {
            // Its last answers are out: forget it.
            state.sessions.remove(&sid);
            return;
        }
        if !progressed {
            return;
        }
    }
}

/// Serves the requests of one connection, one after the other (HTTP/1.1 keep-alive).
fn serve_connection(shared: &Shared, stream: TcpStream) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = stream;
    loop {
        let Some((request, body)) = read_request(&mut reader)? else {
            return Ok(());
        };
        let close = request
            .headers()
            .get(http::header::CONNECTION)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"close"));
        let response = answer(shared, request, body);
        write_response(&mut writer, &response, close)?;
        if close {
            return Ok(());
        }
    }
}

/// Hands a request to the machines and waits for its answer.
fn answer(shared: &Shared, request: Request<()>, body: Bytes) -> Response<Bytes> {
    let (tx, rx) = mpsc::channel();
    {
        let mut guard = shared.lock();
        let state = &mut *guard;
        let now = shared.now();
        let id = ReqId(state.next_req);
        state.next_req += 1;
        match state.server.route((&request).into()) {
            Route::Pass => return status(StatusCode::NOT_FOUND),
            Route::Respond(r) => return r,
            Route::Handshake(hs) => {
                let (sid, session) = match state.server.accept(now, hs, id, Verdict::Allow) {
                    Ok(s) => s,
                    Err(r) => return r,
                };
                let mut entry = Entry {
                    session,
                    waiting: HashMap::new(),
                    bodies: HashMap::new(),
                };
                entry.waiting.insert(id, tx);
                state.sessions.insert(sid, entry);
                drain(state, sid, now);
            }
            Route::Session { sid, request } => {
                let Some(e) = state.sessions.get_mut(&sid) else {
                    return state.server.unknown_session(now, sid, &request);
                };
                e.waiting.insert(id, tx);
                e.bodies.insert(id, body);
                e.session.handle_input(now, Input::Request(id, request));
                drain(state, sid, now);
            }
        }
        shared.deadlines.notify_one();
    }
    // Answered now, or later by another request's drain or by the timer thread.
    rx.recv()
        .unwrap_or_else(|_| status(StatusCode::SERVICE_UNAVAILABLE))
}

fn status(code: StatusCode) -> Response<Bytes> {
    let mut r = Response::new(Bytes::new());
    *r.status_mut() = code;
    r
}

/// Reads one request head and its `Content-Length` body; `None` at the end of the connection.
fn read_request(
    reader: &mut BufReader<TcpStream>,
) -> std::io::Result<Option<(Request<()>, Bytes)>> {
    let mut head = Vec::new();
    loop {
        let n = reader.read_until(b'\n', &mut head)?;
        if n == 0 {
            return Ok(None);
        }
        if head.ends_with(b"\r\n\r\n") {
            break;
        }
        if head.len() > MAX_HEAD {
            return Err(std::io::Error::other("request head too large"));
        }
    }
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut parsed = httparse::Request::new(&mut headers);
    let bad = |e: &dyn std::fmt::Display| std::io::Error::other(e.to_string());
    parsed.parse(&head).map_err(|e| bad(&e))?;
    let mut request = Request::builder()
        .method(parsed.method.unwrap_or("GET"))
        .uri(parsed.path.unwrap_or("/"));
    let mut length = 0usize;
    for h in parsed.headers.iter() {
        if h.name.eq_ignore_ascii_case("content-length") {
            length = std::str::from_utf8(h.value)
                .ok()
                .and_then(|v| v.trim().parse().ok())
                .ok_or_else(|| bad(&"bad content-length"))?;
        }
        request = request.header(h.name, h.value);
    }
    let request = request.body(()).map_err(|e| bad(&e))?;
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body)?;
    Ok(Some((request, Bytes::from(body))))
}

fn write_response(w: &mut TcpStream, r: &Response<Bytes>, close: bool) -> std::io::Result<()> {
    let mut out = Vec::with_capacity(256 + r.body().len());
    let reason = r.status().canonical_reason().unwrap_or("");
    write!(out, "HTTP/1.1 {} {}\r\n", r.status().as_u16(), reason)?;
    for (name, value) in r.headers() {
        if name != http::header::CONTENT_LENGTH {
            out.extend_from_slice(name.as_str().as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
    }
    write!(out, "content-length: {}\r\n", r.body().len())?;
    if close {
        out.extend_from_slice(b"connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(r.body());
    w.write_all(&out)
}
