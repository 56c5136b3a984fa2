//! `Handshake::from_json` on arbitrary UTF-8 (the input, lossily decoded). A parsed handshake
//! re-encodes to JSON that parses back equal, with a single canonical form, and survives the
//! trip through an open packet in text and as a WebSocket frame in both versions.
#![no_main]

use bytes::BytesMut;
use engineio_proto::{Frame, Handshake, Packet, Transport};
use engineio_proto_fuzz::VERSIONS;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let json = String::from_utf8_lossy(data);
    let Ok(h) = Handshake::from_json(&json) else {
        return;
    };
    assert!(h
        .upgrades
        .iter()
        .all(|t| matches!(t, Transport::Polling | Transport::Websocket)));

    let out = h.to_json();
    let mut written = BytesMut::new();
    h.write_json(&mut written);
    assert_eq!(written, out.as_bytes(), "write_json and to_json differ");
    let again = Handshake::from_json(&out).expect("our own handshake JSON does not parse");
    assert_eq!(again, h, "{out} does not parse back");
    assert_eq!(again.to_json(), out, "handshake JSON is not canonical");
    assert!(out.starts_with(r#"{"sid":"#), "field order changed: {out}");
    assert_eq!(out.contains(r#""maxPayload""#), h.max_payload.is_some());

    let packet = h.to_packet();
    assert_eq!(packet, Packet::Open(out.as_str().into()));
    for v in VERSIONS {
        let frame = Frame::encode(&packet, v, &mut BytesMut::new());
        let Ok(Packet::Open(s)) = frame.decode(v, usize::MAX) else {
            panic!("open packet does not decode back ({v:?})");
        };
        assert_eq!(Handshake::from_json(&s).ok().as_ref(), Some(&h));
    }
});
