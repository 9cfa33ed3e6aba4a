//! ICE over TCP (RFC 6544) for browsers whose network blocks UDP (many offices, hotels,
//! schools): a passive TCP candidate beside the UDP one. Each accepted connection carries
//! STUN, DTLS and SRTP framed with a two-byte length (RFC 4571). Its packets reach the serving
//! task as if they came from the UDP socket, and that task's packets for the connection's
//! address go back through it. A browser that can use UDP prefers it (its candidate ranks
//! higher), so TCP costs nothing until someone needs it.

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    sync::mpsc,
};

use super::{DATAGRAM, MAX_PEERS};

/// A packet read from a TCP connection.
pub(super) struct Packet {
    pub(super) source: SocketAddr,
    pub(super) contents: Vec<u8>,
}

/// The way back to each connection, by the browser's address.
#[derive(Clone, Default)]
pub(super) struct Writers(Arc<Mutex<HashMap<SocketAddr, mpsc::Sender<Vec<u8>>>>>);

impl Writers {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<SocketAddr, mpsc::Sender<Vec<u8>>>> {
        // The map is whole after every statement; a panic elsewhere cannot tear it.
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues a packet for a connection; a full queue drops it, as a congested network would
    /// (str0m resends what matters).
    pub(super) fn send(&self, to: SocketAddr, contents: &[u8]) {
        if let Some(tx) = self.lock().get(&to) {
            let _ = tx.try_send(contents.to_vec());
        }
    }

    fn len(&self) -> usize {
        self.lock().len()
    }
}

/// Packets queued for one connection before new ones are dropped: a few frames of 720p.
const QUEUE: usize = 512;
/// A connection that says nothing for this long is closed: ICE checks consent every few
/// seconds, so a live one never waits this long.
const SILENT: Duration = Duration::from_secs(30);

/// Accepts connections until the listener fails; each runs in its own task.
pub(super) async fn accept(listener: TcpListener, inbox: mpsc::Sender<Packet>, writers: Writers) {
    loop {
        let (stream, from) = match listener.accept().await {
            Ok(a) => a,
            Err(e) => {
                // Out of file descriptors, say: wait rather than spin.
                tracing::warn!(error = %e, "accepting a media TCP connection failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        if writers.len() >= MAX_PEERS {
            continue;
        }
        tokio::spawn(connection(stream, from, inbox.clone(), writers.clone()));
    }
}

async fn connection(
    stream: TcpStream,
    from: SocketAddr,
    inbox: mpsc::Sender<Packet>,
    writers: Writers,
) {
    let _ = stream.set_nodelay(true);
    let (mut reader, mut writer) = stream.into_split();
    let (tx, mut rx) = mpsc::channel::<Vec<u8>>(QUEUE);
    writers.lock().insert(from, tx);
    let write = async {
        let mut framed = Vec::with_capacity(DATAGRAM + 2);
        while let Some(packet) = rx.recv().await {
            let Ok(len) = u16::try_from(packet.len()) else {
                continue;
            };
            framed.clear();
            framed.extend_from_slice(&len.to_be_bytes());
            framed.extend_from_slice(&packet);
            if writer.write_all(&framed).await.is_err() {
                break;
            }
        }
    };
    let read = async {
        let mut len = [0u8; 2];
        loop {
            match tokio::time::timeout(SILENT, reader.read_exact(&mut len)).await {
                Ok(Ok(_)) => {}
                _ => break,
            }
            let n = usize::from(u16::from_be_bytes(len));
            if n == 0 || n > DATAGRAM {
                // Not RFC 4571 framing of a WebRTC packet: not a browser.
                break;
            }
            let mut contents = vec![0u8; n];
            match tokio::time::timeout(SILENT, reader.read_exact(&mut contents)).await {
                Ok(Ok(_)) => {}
                _ => break,
            }
            if inbox
                .send(Packet {
                    source: from,
                    contents,
                })
                .await
                .is_err()
            {
                break;
            }
        }
    };
    tokio::select! {
        () = write => {}
        () = read => {}
    }
    writers.lock().remove(&from);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn packets_are_framed_both_ways_and_bad_framing_closes_the_connection() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (inbox, mut packets) = mpsc::channel(8);
        let writers = Writers::default();
        tokio::spawn(accept(listener, inbox, writers.clone()));

        let mut browser = TcpStream::connect(addr).await.unwrap();
        let me = browser.local_addr().unwrap();
        browser.write_all(&[0, 3, 1, 2, 3, 0, 1, 9]).await.unwrap();
        let first = packets.recv().await.unwrap();
        assert_eq!((first.source, first.contents), (me, vec![1, 2, 3]));
        assert_eq!(packets.recv().await.unwrap().contents, vec![9]);

        writers.send(me, &[7, 7]);
        let mut back = [0u8; 4];
        browser.read_exact(&mut back).await.unwrap();
        assert_eq!(back, [0, 2, 7, 7]);

        // A length past any WebRTC packet is not a browser: the server hangs up.
        browser.write_all(&[0xff, 0xff]).await.unwrap();
        let mut rest = Vec::new();
        let n = tokio::time::timeout(Duration::from_secs(5), browser.read_to_end(&mut rest))
            .await
            .expect("closed")
            .unwrap_or(0);
        assert_eq!(n, 0);
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(writers.len(), 0, "its way back is forgotten");
    }
}
