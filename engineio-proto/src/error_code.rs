//! The error codes a server answers bad requests with.

use bytes::{BufMut, BytesMut};

/// The protocol's error codes, with their messages and HTTP statuses as the reference renders
/// them: a JSON body `{"code":N,"message":"..."}` (`Content-Type: application/json`), status 400,
/// or 403 for [`Forbidden`](ErrorCode::Forbidden).
///
/// ```
/// use engineio_proto::ErrorCode;
/// assert_eq!(ErrorCode::UnknownSid.status(), 400);
/// assert_eq!(ErrorCode::UnknownSid.to_json(None), r#"{"code":1,"message":"Session ID unknown"}"#);
/// assert_eq!(ErrorCode::Forbidden.to_json(Some("no \"token\"")), r#"{"code":4,"message":"no \"token\""}"#);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum ErrorCode {
    /// 0: the `transport` is missing, unknown or not enabled.
    UnknownTransport = 0,
    /// 1: no session has this `sid`.
    UnknownSid = 1,
    /// 2: a handshake that is not a GET.
    BadHandshakeMethod = 2,
    /// 3: anything else wrong with the request.
    BadRequest = 3,
    /// 4: the application refused the request (`allowRequest`).
    Forbidden = 4,
    /// 5: `EIO` is missing, unknown, or a version this server does not serve.
    UnsupportedProtocolVersion = 5,
}

impl ErrorCode {
    /// The code number.
    pub fn code(self) -> u8 {
        self as u8
    }

    /// The code for a number.
    pub fn from_code(n: u8) -> Option<ErrorCode> {
        Some(match n {
            0 => ErrorCode::UnknownTransport,
            1 => ErrorCode::UnknownSid,
            2 => ErrorCode::BadHandshakeMethod,
            3 => ErrorCode::BadRequest,
            4 => ErrorCode::Forbidden,
            5 => ErrorCode::UnsupportedProtocolVersion,
            _ => return None,
        })
    }

    /// The reference's message for the code.
    pub fn message(self) -> &'static str {
        match self {
            ErrorCode::UnknownTransport => "Transport unknown",
            ErrorCode::UnknownSid => "Session ID unknown",
            ErrorCode::BadHandshakeMethod => "Bad handshake method",
            ErrorCode::BadRequest => "Bad request",
            ErrorCode::Forbidden => "Forbidden",
            ErrorCode::UnsupportedProtocolVersion => "Unsupported protocol version",
        }
    }

    /// The HTTP status: 403 for `Forbidden`, 400 for the rest.
    pub fn status(self) -> u16 {
        match self {
            ErrorCode::Forbidden => 403,
            _ => 400,
        }
    }

    /// The `Content-Type` of the error body.
    pub const CONTENT_TYPE: &'static str = "application/json";

    /// Appends the JSON body to `out`. `message` replaces the standard message, as the
    /// reference does with the message an `allowRequest` hook gives.
    pub fn write_json(self, message: Option<&str>, out: &mut BytesMut) {
        out.put_slice(b"{\"code\":");
        out.put_slice(itoa::Buffer::new().format(self.code()).as_bytes());
        out.put_slice(b",\"message\":");
        // Writing a string into memory cannot fail.
        let _ = serde_json::to_writer(out.writer(), message.unwrap_or(self.message()));
        out.put_u8(b'}');
    }

    /// The JSON body as a string.
    pub fn to_json(self, message: Option<&str>) -> String {
        let mut out = BytesMut::new();
        self.write_json(message, &mut out);
        String::from_utf8(out.to_vec()).unwrap_or_default()
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message(), self.code())
    }
}
