//! The WebSocket wire format (RFC 6455), server side, as small as the room needs.
//!
//! Written here rather than taken from tungstenite so that a room frame is encoded once into
//! its final bytes and the very same `Bytes` is written to every socket (server frames are not
//! masked), and so that an idle connection holds no buffers at all. Inbound frames are small
//! (a few KiB at most) and rare, so the reader keeps it simple: read a header, read a payload.

use base64::Engine;
use bytes::{BufMut, Bytes, BytesMut};
use sha1::{Digest, Sha1};
use tokio::io::{AsyncRead, AsyncReadExt};

/// `Sec-WebSocket-Accept` for a client's `Sec-WebSocket-Key`.
pub fn accept_key(key: &str) -> String {
    const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    let mut sha = Sha1::new();
    sha.update(key.as_bytes());
    sha.update(GUID.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(sha.finalize())
}

const FIN: u8 = 0x80;
const OP_CONTINUATION: u8 = 0x0;
const OP_TEXT: u8 = 0x1;
const OP_BINARY: u8 = 0x2;
const OP_CLOSE: u8 = 0x8;
const OP_PING: u8 = 0x9;
const OP_PONG: u8 = 0xA;

fn frame(opcode: u8, payload: &[u8]) -> Bytes {
    let len = payload.len();
    let mut out = BytesMut::with_capacity(len + 10);
    out.put_u8(FIN | opcode);
    if len < 126 {
        out.put_u8(len as u8);
    } else if let Ok(short) = u16::try_from(len) {
        out.put_u8(126);
        out.put_u16(short);
    } else {
        out.put_u8(127);
        out.put_u64(len as u64);
    }
    out.put_slice(payload);
    out.freeze()
}

/// A room message as one text frame, ready for any number of sockets.
pub fn message(out: &crate::features::live::protocol::Out, seq: Option<u64>) -> Bytes {
    text(&out.json(seq))
}

/// A complete text frame, ready for any number of sockets.
pub fn text(payload: &[u8]) -> Bytes {
    frame(OP_TEXT, payload)
}

/// A close frame with a status code and a short reason (cut to fit a control frame).
pub fn close(code: u16, reason: &str) -> Bytes {
    let mut cut = reason.len().min(123);
    while !reason.is_char_boundary(cut) {
        cut -= 1;
    }
    let mut payload = Vec::with_capacity(2 + cut);
    payload.extend_from_slice(&code.to_be_bytes());
    payload.extend_from_slice(&reason.as_bytes()[..cut]);
    frame(OP_CLOSE, &payload)
}

pub fn ping() -> Bytes {
    frame(OP_PING, b"")
}

fn pong(payload: &[u8]) -> Bytes {
    frame(OP_PONG, payload)
}

/// Close codes the room uses.
pub mod code {
    pub const NORMAL: u16 = 1000;
    pub const GOING_AWAY: u16 = 1001;
    pub const PROTOCOL: u16 = 1002;
    pub const UNSUPPORTED: u16 = 1003;
    pub const NOT_UTF8: u16 = 1007;
    pub const POLICY: u16 = 1008;
    pub const TOO_BIG: u16 = 1009;
    /// Try again later: the connection fell too far behind.
    pub const TRY_AGAIN: u16 = 1013;
}

/// What the reader hands on.
#[derive(Debug, PartialEq, Eq)]
pub enum Inbound {
    Text(String),
    /// A frame the peer must get back (a pong); the caller queues it for the writer.
    Reply(Bytes),
    /// The peer answered a ping: it is still reading.
    Pong,
    /// The peer closes; the caller answers with a close frame and stops.
    Close,
}

/// Why reading stopped; each maps to the close code the peer is sent.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WireError {
    #[error("connection closed")]
    Eof,
    #[error("message too big")]
    TooBig,
    #[error("protocol error: {0}")]
    Protocol(&'static str),
    #[error("binary messages are not accepted")]
    Binary,
    #[error("text is not UTF-8")]
    NotUtf8,
}

impl WireError {
    pub fn close_code(&self) -> Option<u16> {
        match self {
            WireError::Eof => None,
            WireError::TooBig => Some(code::TOO_BIG),
            WireError::Protocol(_) => Some(code::PROTOCOL),
            WireError::Binary => Some(code::UNSUPPORTED),
            WireError::NotUtf8 => Some(code::NOT_UTF8),
        }
    }
}

/// Reads client frames, holding no buffer between messages.
pub struct Reader<R> {
    /// Bytes read past the HTTP request before the upgrade.
    pending: Bytes,
    io: R,
    max: usize,
    /// A fragmented message so far (empty, with no allocation, between messages).
    message: Vec<u8>,
    fragmented: bool,
}

impl<R: AsyncRead + Unpin> Reader<R> {
    pub fn new(pending: Bytes, io: R, max: usize) -> Self {
        Reader {
            pending,
            io,
            max,
            message: Vec::new(),
            fragmented: false,
        }
    }

    async fn fill(&mut self, buf: &mut [u8]) -> Result<(), WireError> {
        let from_pending = buf.len().min(self.pending.len());
        if from_pending > 0 {
            buf[..from_pending].copy_from_slice(&self.pending.split_to(from_pending));
        }
        if from_pending < buf.len() {
            self.io
                .read_exact(&mut buf[from_pending..])
                .await
                .map_err(|_| WireError::Eof)?;
        }
        Ok(())
    }

    /// The next message, reassembled from fragments; control frames in between are answered.
    pub async fn next(&mut self) -> Result<Inbound, WireError> {
        loop {
            let mut head = [0u8; 2];
            self.fill(&mut head).await?;
            let fin = head[0] & FIN != 0;
            if head[0] & 0x70 != 0 {
                return Err(WireError::Protocol("reserved bits set"));
            }
            let opcode = head[0] & 0x0F;
            if head[1] & 0x80 == 0 {
                return Err(WireError::Protocol("client frames must be masked"));
            }
            let len = match head[1] & 0x7F {
                126 => {
                    let mut b = [0u8; 2];
                    self.fill(&mut b).await?;
                    u64::from(u16::from_be_bytes(b))
                }
                127 => {
                    let mut b = [0u8; 8];
                    self.fill(&mut b).await?;
                    u64::from_be_bytes(b)
                }
                n => u64::from(n),
            };
            let control = opcode & 0x8 != 0;
            if control && (len > 125 || !fin) {
                return Err(WireError::Protocol("bad control frame"));
            }
            let total = (self.message.len() as u64).saturating_add(len);
            if total > self.max as u64 {
                return Err(WireError::TooBig);
            }
            let mut mask = [0u8; 4];
            self.fill(&mut mask).await?;
            let mut payload = vec![0u8; len as usize];
            self.fill(&mut payload).await?;
            for (i, b) in payload.iter_mut().enumerate() {
                *b ^= mask[i % 4];
            }
            match opcode {
                OP_PING => return Ok(Inbound::Reply(pong(&payload))),
                OP_PONG => return Ok(Inbound::Pong),
                OP_CLOSE => return Ok(Inbound::Close),
                OP_BINARY => return Err(WireError::Binary),
                OP_TEXT if !self.fragmented => {
                    self.message = payload;
                    self.fragmented = !fin;
                }
                OP_CONTINUATION if self.fragmented => {
                    self.message.extend_from_slice(&payload);
                    self.fragmented = !fin;
                }
                _ => return Err(WireError::Protocol("unexpected opcode")),
            }
            if !self.fragmented {
                return String::from_utf8(std::mem::take(&mut self.message))
                    .map(Inbound::Text)
                    .map_err(|_| WireError::NotUtf8);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A client frame: masked, as a browser sends it.
    fn client(first: u8, payload: &[u8]) -> Vec<u8> {
        let mask = [0x37, 0xfa, 0x21, 0x3d];
        let mut out = vec![first];
        match payload.len() {
            n if n < 126 => out.push(0x80 | n as u8),
            n => {
                out.push(0x80 | 126);
                out.extend_from_slice(&(n as u16).to_be_bytes());
            }
        }
        out.extend_from_slice(&mask);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        out
    }

    async fn read(bytes: Vec<u8>, max: usize) -> Vec<Result<Inbound, WireError>> {
        let mut r = Reader::new(Bytes::new(), &bytes[..], max);
        let mut out = Vec::new();
        loop {
            let next = r.next().await;
            let stop = next.is_err();
            out.push(next);
            if stop {
                return out;
            }
        }
    }

    #[test]
    fn accept_key_matches_the_rfc_example() {
        assert_eq!(
            accept_key("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn server_frames_use_the_shortest_length() {
        assert_eq!(&text(b"hi")[..], &[0x81, 2, b'h', b'i']);
        let mid = text(&[b'a'; 300]);
        assert_eq!(&mid[..4], &[0x81, 126, 1, 44]);
        assert_eq!(mid.len(), 304);
        let big = text(&vec![b'a'; 70_000]);
        assert_eq!(&big[..2], &[0x81, 127]);
        assert_eq!(big.len(), 70_010);
        let c = close(code::POLICY, &"é".repeat(100));
        assert!(c.len() <= 127, "a control frame stays within 125 bytes");
        assert_eq!(&c[2..4], &1008u16.to_be_bytes());
        assert!(
            std::str::from_utf8(&c[4..]).is_ok(),
            "the reason is cut on a char boundary"
        );
    }

    #[tokio::test]
    async fn reads_masked_text_fragments_and_answers_pings() {
        let mut bytes = client(OP_TEXT, b"hel");
        bytes.extend(client(FIN | OP_PING, b"p"));
        bytes.extend(client(FIN | OP_PONG, b""));
        bytes.extend(client(FIN | OP_CONTINUATION, b"lo"));
        bytes.extend(client(FIN | OP_TEXT, &[b'x'; 200]));
        bytes.extend(client(FIN | OP_CLOSE, &1000u16.to_be_bytes()));
        let out = read(bytes, 4096).await;
        assert_eq!(out[0], Ok(Inbound::Reply(pong(b"p"))));
        assert_eq!(out[1], Ok(Inbound::Pong));
        assert_eq!(out[2], Ok(Inbound::Text("hello".into())));
        assert_eq!(out[3], Ok(Inbound::Text("x".repeat(200))));
        assert_eq!(out[4], Ok(Inbound::Close));
        assert_eq!(out[5], Err(WireError::Eof));
    }

    #[tokio::test]
    async fn refuses_what_it_must() {
        let unmasked = vec![FIN | OP_TEXT, 1, b'a'];
        assert!(matches!(
            read(unmasked, 10).await[0],
            Err(WireError::Protocol(_))
        ));
        let big = client(FIN | OP_TEXT, &[b'a'; 11]);
        assert_eq!(read(big, 10).await[0], Err(WireError::TooBig));
        let mut split = client(OP_TEXT, &[b'a'; 6]);
        split.extend(client(FIN | OP_CONTINUATION, &[b'a'; 6]));
        assert_eq!(read(split, 10).await[0], Err(WireError::TooBig));
        let binary = client(FIN | OP_BINARY, b"a");
        assert_eq!(read(binary, 10).await[0], Err(WireError::Binary));
        let bad = client(FIN | OP_TEXT, &[0xff, 0xfe]);
        assert_eq!(read(bad, 10).await[0], Err(WireError::NotUtf8));
        let reserved = client(FIN | 0x40 | OP_TEXT, b"a");
        assert!(matches!(
            read(reserved, 10).await[0],
            Err(WireError::Protocol(_))
        ));
        let stray = client(FIN | OP_CONTINUATION, b"a");
        assert!(matches!(
            read(stray, 10).await[0],
            Err(WireError::Protocol(_))
        ));
        let long_ping = client(FIN | OP_PING, &[0; 126]);
        assert!(matches!(
            read(long_ping, 4096).await[0],
            Err(WireError::Protocol(_))
        ));
        let mut partial = client(FIN | OP_TEXT, b"abc");
        partial.truncate(5);
        assert_eq!(read(partial, 10).await[0], Err(WireError::Eof));
    }
}
