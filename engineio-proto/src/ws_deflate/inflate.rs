//! The read side: compressed messages in, plain unfragmented frames out.

use bytes::{Buf, BytesMut};
use flate2::{Decompress, FlushDecompress, Status};

use super::header::{self, Header, FIN, MAX_HEADER, OP_CONTINUATION, RSV23};
use super::{with_thread_decompressor, DeflateError, Role};

/// What RFC 7692 section 7.2.2 has the receiver append to a message's compressed data.
const TRAILER: [u8; 4] = [0x00, 0x00, 0xff, 0xff];
/// The first output chunk is at least this large...
const MIN_CHUNK: usize = 1024;
/// ...and chunks double up to this size.
const MAX_CHUNK: usize = 256 * 1024;

/// Where the reader stands in the frame stream.
#[derive(Clone, Copy, Debug)]
enum Step {
    /// Waiting for a frame header.
    Header,
    /// Copying this many more payload bytes of a frame passed through.
    Pass(u64),
    /// Gathering this many more payload bytes of a compressed message's frame.
    Collect {
        remaining: u64,
        mask: Option<[u8; 4]>,
        offset: usize,
        fin: bool,
    },
}

/// The data message in progress.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Msg {
    /// None: the next data frame starts a message.
    None,
    /// An uncompressed fragmented message (its frames pass through).
    Plain,
    /// A compressed message, with its first frame's opcode.
    Compressed(u8),
}

/// The read side of permessage-deflate: takes the raw bytes read from the network and gives
/// the bytes a WebSocket library without the extension must read.
///
/// Frames pass through as they arrive (control frames, uncompressed messages, streamed without
/// waiting for whole payloads), except compressed messages (RSV1 set on their first frame),
/// which come out once complete as one frame: FIN set, RSV1 clear, the first frame's opcode,
/// the inflated message as payload; masked with the key `[0; 4]` when the codec runs at the
/// server (a server library refuses unmasked frames), unmasked at the client. Control frames
/// between the fragments of a compressed message come out at once, before it.
///
/// An idle `Inflater` holds no heap. After an error it keeps returning that error.
#[derive(Debug)]
pub struct Inflater {
    role: Role,
    reset_per_message: bool,
    max_message: usize,
    step: Step,
    msg: Msg,
    /// The unmasked compressed data of a message arriving over several reads or frames.
    compressed: Vec<u8>,
    /// The decompressor kept across messages under context takeover.
    context: Option<Box<Decompress>>,
    failed: Option<DeflateError>,
}

impl Inflater {
    /// A reader for the end `role`. `peer_no_context_takeover`: the peer resets its compressor
    /// for each message (the negotiated `client_no_context_takeover` at the server,
    /// `server_no_context_takeover` at the client). `max_message`: the largest inflated message
    /// accepted.
    pub fn new(role: Role, peer_no_context_takeover: bool, max_message: usize) -> Inflater {
        Inflater {
            role,
            reset_per_message: peer_no_context_takeover,
            max_message,
            step: Step::Header,
            msg: Msg::None,
            compressed: Vec::new(),
            context: None,
            failed: None,
        }
    }

    /// Consumes as much of `input` (raw bytes from the network) as it can, leaving an
    /// incomplete frame header at its front, and appends to `out` what the WebSocket library
    /// must read. On an error, `out` holds what was produced before the faulty frame.
    pub fn feed(&mut self, input: &mut BytesMut, out: &mut BytesMut) -> Result<(), DeflateError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let r = self.run(input, out);
        if let Err(e) = &r {
            self.failed = Some(e.clone());
            self.compressed = Vec::new();
            self.context = None;
        }
        r
    }

    /// Bytes of buffers this reader holds (a context-takeover decompressor not counted).
    #[doc(hidden)]
    pub fn heap_bytes(&self) -> usize {
        self.compressed.capacity()
    }

    /// Whether it keeps a decompressor of its own (context takeover, after the first
    /// compressed message).
    #[doc(hidden)]
    pub fn has_context(&self) -> bool {
        self.context.is_some()
    }

    fn run(&mut self, input: &mut BytesMut, out: &mut BytesMut) -> Result<(), DeflateError> {
        loop {
            match self.step {
                Step::Header => {
                    let Some(h) = header::parse(input) else {
                        return Ok(());
                    };
                    self.on_header(h, input, out)?;
                }
                Step::Pass(remaining) => {
                    if input.is_empty() {
                        return Ok(());
                    }
                    let n = take_len(remaining, input.len());
                    out.extend_from_slice(&input[..n]);
                    input.advance(n);
                    self.step = match remaining - n as u64 {
                        0 => Step::Header,
                        left => Step::Pass(left),
                    };
                }
                Step::Collect {
                    remaining,
                    mask,
                    offset,
                    fin,
                } => {
                    if remaining > 0 && input.is_empty() {
                        return Ok(());
                    }
                    let n = take_len(remaining, input.len());
                    let at = self.compressed.len();
                    self.compressed.extend_from_slice(&input[..n]);
                    input.advance(n);
                    if let Some(key) = mask {
                        header::apply_mask(&mut self.compressed[at..], key, offset);
                    }
                    let left = remaining - n as u64;
                    if left > 0 {
                        self.step = Step::Collect {
                            remaining: left,
                            mask,
                            offset: offset.wrapping_add(n) % 4,
                            fin,
                        };
                        continue;
                    }
                    self.step = Step::Header;
                    if fin {
                        let Msg::Compressed(opcode) = self.msg else {
                            return Err(DeflateError::Protocol("internal state"));
                        };
                        self.msg = Msg::None;
                        let data = std::mem::take(&mut self.compressed);
                        self.inflate_message(opcode, &data, out)?;
                    }
                }
            }
        }
    }

    fn on_header(
        &mut self,
        h: Header,
        input: &mut BytesMut,
        out: &mut BytesMut,
    ) -> Result<(), DeflateError> {
        if h.first & RSV23 != 0 {
            return Err(DeflateError::Protocol("RSV2 or RSV3 set"));
        }
        match (self.role, h.mask.is_some()) {
            (Role::Server, false) => return Err(DeflateError::Protocol("unmasked client frame")),
            (Role::Client, true) => return Err(DeflateError::Protocol("masked server frame")),
            _ => {}
        }
        if h.is_control() {
            if h.rsv1() {
                return Err(DeflateError::Protocol("RSV1 set on a control frame"));
            }
            self.pass(h, input, out);
            return Ok(());
        }
        if h.opcode() == OP_CONTINUATION {
            if h.rsv1() {
                return Err(DeflateError::Protocol("RSV1 set on a continuation frame"));
            }
            match self.msg {
                Msg::None => Err(DeflateError::Protocol("continuation without a message")),
                Msg::Plain => {
                    if h.fin() {
                        self.msg = Msg::None;
                    }
                    self.pass(h, input, out);
                    Ok(())
                }
                Msg::Compressed(_) => self.collect(h, input, out),
            }
        } else if h.is_data() {
            if self.msg != Msg::None {
                return Err(DeflateError::Protocol(
                    "data frame inside an unfinished message",
                ));
            }
            if h.rsv1() {
                self.msg = Msg::Compressed(h.opcode());
                self.collect(h, input, out)
            } else {
                if !h.fin() {
                    self.msg = Msg::Plain;
                }
                self.pass(h, input, out);
                Ok(())
            }
        } else if h.rsv1() {
            Err(DeflateError::Protocol("RSV1 set on a reserved opcode"))
        } else {
            // A reserved data opcode: the library refuses it.
            self.pass(h, input, out);
            Ok(())
        }
    }

    /// Copies a frame's header to `out` and streams its payload after it.
    fn pass(&mut self, h: Header, input: &mut BytesMut, out: &mut BytesMut) {
        out.extend_from_slice(&input[..h.size]);
        input.advance(h.size);
        self.step = match h.len {
            0 => Step::Header,
            len => Step::Pass(len),
        };
    }

    /// Starts gathering a frame of a compressed message; inflates at once a message that is
    /// one frame already whole in `input`.
    fn collect(
        &mut self,
        h: Header,
        input: &mut BytesMut,
        out: &mut BytesMut,
    ) -> Result<(), DeflateError> {
        let limit = self
            .max_message
            .saturating_add(self.max_message / 64)
            .saturating_add(1024);
        let total = (self.compressed.len() as u64).saturating_add(h.len);
        if total > limit as u64 {
            return Err(DeflateError::TooBig);
        }
        // `h.len <= limit`, a usize.
        let len = usize::try_from(h.len).map_err(|_| DeflateError::TooBig)?;
        if h.fin() && self.compressed.is_empty() && input.len() - h.size >= len {
            let Msg::Compressed(opcode) = self.msg else {
                return Err(DeflateError::Protocol("internal state"));
            };
            self.msg = Msg::None;
            let end = h.size + len;
            if let Some(key) = h.mask {
                header::apply_mask(&mut input[h.size..end], key, 0);
            }
            let r = self.inflate_message(opcode, &input[h.size..end], out);
            input.advance(end);
            return r;
        }
        input.advance(h.size);
        self.step = Step::Collect {
            remaining: h.len,
            mask: h.mask,
            offset: 0,
            fin: h.fin(),
        };
        Ok(())
    }

    /// Inflates a whole message's compressed data and appends it to `out` as one frame.
    fn inflate_message(
        &mut self,
        opcode: u8,
        data: &[u8],
        out: &mut BytesMut,
    ) -> Result<(), DeflateError> {
        let start = out.len();
        out.extend_from_slice(&[0; MAX_HEADER]);
        let max = self.max_message;
        let r = if self.reset_per_message {
            with_thread_decompressor(|d| inflate_into(d, data, out, max))
        } else {
            let d = self
                .context
                .get_or_insert_with(|| Box::new(Decompress::new(false)));
            let r = inflate_into(d, data, out, max);
            if r == Ok(true) {
                // A final block ended the peer's stream: its next message starts a new one.
                d.reset(false);
            }
            r
        };
        if let Err(e) = r {
            out.truncate(start);
            return Err(e);
        }
        let mask = (self.role == Role::Server).then_some([0; 4]);
        header::finish_frame(out, start, FIN | opcode, mask);
        Ok(())
    }
}

/// How many of `available` bytes to take for `remaining` payload bytes.
fn take_len(remaining: u64, available: usize) -> usize {
    usize::try_from(remaining).map_or(available, |r| r.min(available))
}

/// Inflates `data` followed by [`TRAILER`] into `out`, growing it in chunks and never past
/// `max + 1` bytes. Returns whether the stream ended (a block with BFINAL set).
fn inflate_into(
    d: &mut Decompress,
    data: &[u8],
    out: &mut BytesMut,
    max: usize,
) -> Result<bool, DeflateError> {
    let base = out.len();
    let mut chunk = data.len().saturating_mul(4).clamp(MIN_CHUNK, MAX_CHUNK);
    for piece in [data, &TRAILER[..]] {
        let mut consumed = 0;
        loop {
            let produced = out.len() - base;
            if produced > max {
                return Err(DeflateError::TooBig);
            }
            let room = chunk.min((max - produced).saturating_add(1));
            let at = out.len();
            out.resize(at + room, 0);
            let (in0, out0) = (d.total_in(), d.total_out());
            let status = d.decompress(
                piece.get(consumed..).unwrap_or_default(),
                &mut out[at..],
                FlushDecompress::Sync,
            );
            let read = usize::try_from(d.total_in() - in0).unwrap_or(usize::MAX);
            let wrote = usize::try_from(d.total_out() - out0).unwrap_or(usize::MAX);
            out.truncate(at + wrote.min(room));
            consumed = consumed.saturating_add(read);
            match status {
                Err(_) => return Err(DeflateError::BadData),
                Ok(Status::StreamEnd) => {
                    return if out.len() - base > max {
                        Err(DeflateError::TooBig)
                    } else {
                        Ok(true)
                    };
                }
                Ok(_) => {}
            }
            if consumed >= piece.len() && wrote < room {
                break;
            }
            if read == 0 && wrote == 0 {
                if consumed >= piece.len() {
                    break;
                }
                return Err(DeflateError::BadData);
            }
            chunk = chunk.saturating_mul(2).min(MAX_CHUNK);
        }
    }
    if out.len() - base > max {
        return Err(DeflateError::TooBig);
    }
    Ok(false)
}
