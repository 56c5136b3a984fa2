//! Sending: message ids and refusals, and the accounting of queued messages.

use std::collections::VecDeque;

use engineio_proto::{payload, Message, Packet, ProtocolVersion, Transport};

/// Numbers the messages an application sends on a session, in order, from 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SendId(pub u64);

/// Options of one message (the reference's `send(data, options)`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SendOptions {
    /// Whether the message may be compressed (default true). On polling, a response made only
    /// of messages with `compress: false` is not compressed; on WebSocket, permessage-deflate
    /// sends such a message uncompressed.
    pub compress: bool,
}

impl Default for SendOptions {
    fn default() -> Self {
        SendOptions { compress: true }
    }
}

impl SendOptions {
    /// The defaults with `compress` set.
    pub fn compress(compress: bool) -> SendOptions {
        SendOptions { compress }
    }
}

/// Why a session's `send` refused a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// The session's send buffer is at its bound (`max_buffered_packets` or
    /// `max_buffered_bytes`): retry after a `Flushed` event.
    #[error("send buffer full")]
    Full,
    /// The session is closing or closed.
    #[error("session closed")]
    Closed,
    /// A v4 session on polling cannot carry text containing U+001E, the payload separator,
    /// which the protocol does not escape.
    #[error("text containing U+001E cannot be sent over v4 polling")]
    Unencodable,
}

/// What a queued packet run or transmit carries of the application's messages: counted against
/// the send bound until the host takes it, and reported as flushed up to `last`.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Carried {
    pub(crate) messages: usize,
    pub(crate) bytes: usize,
    pub(crate) last: Option<SendId>,
}

/// The last message carried by transmits not taken by the host yet, no longer carried by
/// them: a machine that closes reports them flushed at once, so `Closed` stays its last event.
pub(crate) fn take_last_flushed<T>(transmits: &mut VecDeque<(T, Carried)>) -> Option<SendId> {
    let mut last = None;
    for (_, carried) in transmits.iter_mut() {
        last = carried.last.take().or(last);
    }
    last
}

/// Refuses a message the transport cannot carry: v4 polling payloads separate packets with
/// U+001E and do not escape it, so text containing it is [`SendError::Unencodable`] there.
pub(crate) fn check_encodable(
    message: &Message,
    version: ProtocolVersion,
    transport: Transport,
) -> Result<(), SendError> {
    match message {
        Message::Text(s)
            if version == ProtocolVersion::V4
                && transport == Transport::Polling
                && s.as_bytes().contains(&payload::v4::SEPARATOR) =>
        {
            Err(SendError::Unencodable)
        }
        _ => Ok(()),
    }
}

/// Takes the first `n` packets of `queue`, with what they carry of the application's
/// messages (`queued` describes the whole queue and is updated).
pub(crate) fn take_run(
    queue: &mut VecDeque<Packet>,
    queued: &mut Carried,
    n: usize,
) -> (Vec<Packet>, Carried) {
    let packets: Vec<Packet> = queue.drain(..n.min(queue.len())).collect();
    let mut carried = Carried::default();
    for p in &packets {
        if let Packet::Message(m) = p {
            carried.messages += 1;
            carried.bytes += m.len();
        }
    }
    queued.messages -= carried.messages;
    queued.bytes -= carried.bytes;
    if carried.messages > 0 {
        // Messages are numbered in queue order, so the last one taken is followed by the
        // `queued.messages` left, all with ids: the one message without an id, the server's
        // initial packet, can only come first, and was taken. A run of that packet alone
        // carries no id.
        carried.last = queued
            .last
            .and_then(|l| l.0.checked_sub(queued.messages as u64))
            .map(SendId);
    }
    if queued.messages == 0 {
        queued.last = None;
    }
    (packets, carried)
}

/// The id of the first message among `packets`, a run taken from a queue whose messages have
/// consecutive ids ending at `last` (an initial packet, which has none, gets an id already
/// flushed). `None` when there is no message id to work out.
pub(crate) fn first_message_id<'a>(
    packets: impl Iterator<Item = &'a Packet>,
    last: Option<SendId>,
) -> Option<u64> {
    let last = last?;
    let messages = packets.filter(|p| matches!(p, Packet::Message(_))).count() as u64;
    Some((last.0 + 1).saturating_sub(messages))
}

/// Whether message `id` may be compressed: not if it is in `uncompressed` (ascending ids of
/// messages sent with `compress: false`), whose ids up to `id` it takes.
pub(crate) fn take_compress_flag(uncompressed: &mut VecDeque<SendId>, id: u64) -> bool {
    while uncompressed.front().is_some_and(|u| u.0 < id) {
        uncompressed.pop_front();
    }
    if uncompressed.front() == Some(&SendId(id)) {
        uncompressed.pop_front();
        return false;
    }
    true
}
