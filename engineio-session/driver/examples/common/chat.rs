//! A small chat's server logic, written against the driver's usual API and generic over the
//! runtime: the same code serves on Tokio, on smol, or on a simulated host.
//!
//! Members join a room by name; every message a member sends goes to every member of its
//! room, the sender included, prefixed with its name. A room starts once it is full, or
//! `start_after` after its first member joined; members who join later are told so.
//!
//! What goes over Engine.IO (text messages):
//! - client → server: `join <room> <name>` first, then any text;
//! - server → client: `members <name>...` (to who joined), `joined <name>`, `start` or
//!   `start late`, `<name>: <text>`, `left <name> <reason>`, `refused <why>` (then it
//!   closes the session).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use engineio_driver::proto::Message;
use engineio_driver::{Connections, Runtime, SendError, Socket, SocketEvent, SocketSender};

/// How rooms fill and start.
#[derive(Clone, Copy, Debug)]
pub struct ChatConfig {
    /// A room starts as soon as it has this many members.
    pub room_size: usize,
    /// ... or this long after its first member joined.
    pub start_after: Duration,
}

#[derive(Default)]
struct Room {
    members: BTreeMap<String, SocketSender>,
    started: bool,
}

type Rooms = Arc<Mutex<BTreeMap<String, Room>>>;

/// Runs the chat for every session `connections` yields, one task per member.
pub async fn serve_chat<R: Runtime>(rt: R, mut connections: Connections, config: ChatConfig) {
    let rooms = Rooms::default();
    while let Some(socket) = connections.accept().await {
        rt.spawn(member(rt.clone(), socket, rooms.clone(), config));
    }
}

/// One member's session, from its join to its close.
async fn member<R: Runtime>(rt: R, mut socket: Socket, rooms: Rooms, config: ChatConfig) {
    let mut me: Option<(String, String)> = None;
    while let Some(event) = socket.recv().await {
        match event {
            SocketEvent::Message(Message::Text(text)) => match &me {
                Some((room, name)) => {
                    close_slow(broadcast(&rooms, room, &format!("{name}: {text}"))).await
                }
                None => match join(&rt, &socket, &rooms, &text, config) {
                    Ok((joined, slow)) => {
                        me = Some(joined);
                        close_slow(slow).await;
                    }
                    Err(why) => {
                        let _ = socket.try_send(format!("refused {why}"));
                        socket.close().await;
                    }
                },
            },
            SocketEvent::Closed(reason) => {
                if let Some((room, name)) = me.take() {
                    if let Some(r) = lock(&rooms).get_mut(&room) {
                        r.members.remove(&name);
                    }
                    close_slow(broadcast(&rooms, &room, &format!("left {name} {reason}"))).await;
                }
                return;
            }
            _ => {}
        }
    }
}

/// The members too slow to follow their room (their send buffer was full).
type Slow = Vec<SocketSender>;

/// Handles `join <room> <name>`: the room and name joined.
fn join<R: Runtime>(
    rt: &R,
    socket: &Socket,
    rooms: &Rooms,
    text: &str,
    config: ChatConfig,
) -> Result<((String, String), Slow), &'static str> {
    let mut words = text.strip_prefix("join ").ok_or("join first")?.split(' ');
    let (Some(room), Some(name), None) = (words.next(), words.next(), words.next()) else {
        return Err("bad join");
    };
    let mut all = lock(rooms);
    let first = !all.contains_key(room);
    let r = all.entry(room.to_owned()).or_default();
    if r.members.contains_key(name) {
        return Err("name taken");
    }
    let names: Vec<&str> = r.members.keys().map(String::as_str).collect();
    let _ = socket.try_send(format!("members {}", names.join(" ")).trim_end().to_owned());
    let mut slow = send_all(r, &format!("joined {name}"));
    r.members.insert(name.to_owned(), socket.sender());
    if r.started {
        let _ = socket.try_send("start late");
    } else if r.members.len() >= config.room_size {
        slow.extend(start(r));
    }
    drop(all);
    if first {
        let (rt2, rooms, room) = (rt.clone(), rooms.clone(), room.to_owned());
        rt.spawn(async move {
            rt2.sleep_until(rt2.now() + config.start_after).await;
            let slow = match lock(&rooms).get_mut(&room) {
                Some(r) if !r.started => start(r),
                _ => Slow::new(),
            };
            close_slow(slow).await;
        });
    }
    Ok(((room.to_owned(), name.to_owned()), slow))
}

fn start(room: &mut Room) -> Slow {
    room.started = true;
    send_all(room, "start")
}

fn broadcast(rooms: &Rooms, room: &str, text: &str) -> Slow {
    match lock(rooms).get_mut(room) {
        Some(r) => send_all(r, text),
        None => Slow::new(),
    }
}

/// Sends `text` to every member, in one order for all (under the rooms' lock); returns the
/// members whose send buffer was full.
fn send_all(room: &Room, text: &str) -> Slow {
    let mut slow = Slow::new();
    for sender in room.members.values() {
        if let Err(SendError::Full) = sender.try_send(text.to_owned()) {
            slow.push(sender.clone());
        }
    }
    slow
}

/// Closes the sessions of members too slow to follow their room.
async fn close_slow(slow: Slow) {
    for sender in slow {
        sender.close().await;
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
