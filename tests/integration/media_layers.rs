//! Simulcast through the embedded SFU with real WebRTC clients (str0m) on loopback: a
//! presenter sends its camera in three layers, two attendees watch, and the one whose link
//! carries less than the full layer (a bottleneck that drops what does not fit, as a slow
//! network does) is moved to a smaller layer by the losses its own receiver reports, while
//! the other keeps the full one.

use std::{
    net::UdpSocket,
    time::{Duration, Instant},
};

use str0m::{
    Event, Output, Rtc,
    change::SdpAnswer,
    format::Codec,
    media::{Direction, Frequency, MediaKind, MediaTime, Mid, Simulcast, SimulcastLayer},
};

use crate::{
    both,
    helpers::{Backend, TestApp},
    media::{browser_side, offer, receive},
    room_client::Person,
};

/// The page's layers (static/media.js) and the bytes of one frame of each at 30 fps, at
/// their bitrates: 150 kbit/s, 500 kbit/s and 1.5 Mbit/s.
const LAYERS: [(&str, usize); 3] = [("q", 625), ("h", 2_083), ("f", 6_250)];

/// A link that carries `bps` of media and drops the rest on arrival; ICE, DTLS and RTCP
/// always pass (they are small, and a full link drops media first in this test's terms).
struct Bottleneck {
    bps: f64,
    tokens: f64,
    at: Instant,
}

impl Bottleneck {
    fn passes(&mut self, datagram: &[u8]) -> bool {
        // RTP, not RTCP (RFC 5761: RTCP's second byte is 192 to 223).
        let rtp = datagram.len() > 12
            && (128..192).contains(&datagram[0])
            && !(192..224).contains(&datagram[1]);
        if !rtp {
            return true;
        }
        let now = Instant::now();
        let burst = self.bps / 8.0 * 0.1;
        self.tokens =
            (self.tokens + now.duration_since(self.at).as_secs_f64() * self.bps / 8.0).min(burst);
        self.at = now;
        let size = datagram.len() as f64;
        if self.tokens >= size {
            self.tokens -= size;
            true
        } else {
            false
        }
    }
}

/// One side of a media connection: a presenter sending audio and a simulcast camera, or an
/// attendee receiving one of each, perhaps through a bottleneck.
struct Client {
    rtc: Rtc,
    socket: UdpSocket,
    audio: Mid,
    video: Mid,
    connected: bool,
    link: Option<Bottleneck>,
    /// The layer of each video frame received, in order.
    layers: Vec<u8>,
}

impl Client {
    /// `who` presenting (`link` None) or watching through a link that carries `link` bit/s.
    async fn join(app: &TestApp, who: &Person, event: &str, link: Option<f64>) -> Client {
        let (mut rtc, socket) = browser_side();
        let presenting = link.is_none();
        let (direction, what) = if presenting {
            (Direction::SendOnly, "publish")
        } else {
            (Direction::RecvOnly, "watch")
        };
        let mut api = rtc.sdp_api();
        let audio = api.add_media(MediaKind::Audio, direction, None, None, None);
        let simulcast = presenting.then(|| {
            let mut s = Simulcast::new();
            for (rid, _) in LAYERS {
                s.add_send_layer(SimulcastLayer::new(rid));
            }
            s
        });
        let video = api.add_media(MediaKind::Video, direction, None, None, simulcast);
        let (sdp, pending) = api.apply().unwrap();
        let path = format!("/events/{event}/live/{what}");
        let (status, answer) = offer(app, Some(who), &path, &sdp.to_sdp_string()).await;
        assert_eq!(status, 201, "{answer}");
        let answer = SdpAnswer::from_sdp_string(&answer).expect("an SDP answer");
        rtc.sdp_api().accept_answer(pending, answer).unwrap();
        Client {
            rtc,
            socket,
            audio,
            video,
            connected: false,
            link: link.map(|bps| Bottleneck {
                bps,
                tokens: 0.0,
                at: Instant::now(),
            }),
            layers: Vec::new(),
        }
    }

    fn pump(&mut self) {
        loop {
            match self.rtc.poll_output().unwrap() {
                Output::Timeout(_) => break,
                Output::Transmit(t) => {
                    let _ = self.socket.send_to(&t.contents, t.destination);
                }
                Output::Event(Event::Connected) => self.connected = true,
                Output::Event(Event::MediaData(d)) if d.mid == self.video => {
                    if let Some(&layer) = d.data.get(1) {
                        self.layers.push(layer);
                    }
                }
                Output::Event(_) => {}
            }
        }
        let link = &mut self.link;
        receive(&mut self.rtc, &self.socket, |datagram| {
            link.as_mut().is_none_or(|l| l.passes(datagram))
        });
    }

    /// Frame `n` of every layer (a key frame each second) and 20 ms of audio.
    fn send(&mut self, n: u64) {
        let pt = |rtc: &mut Rtc, mid: Mid, codec: Codec| {
            rtc.writer(mid)
                .expect("a sending track")
                .payload_params()
                .find(|p| p.spec().codec == codec)
                .expect("negotiated")
                .pt()
        };
        let vp8 = pt(&mut self.rtc, self.video, Codec::Vp8);
        let opus = pt(&mut self.rtc, self.audio, Codec::Opus);
        let now = Instant::now();
        let time = MediaTime::new(n * 3_000, Frequency::NINETY_KHZ);
        for (rid, size) in LAYERS {
            // A VP8 frame tag's lowest bit is 0 on a key frame; the next byte names the layer.
            let mut frame = vec![0u8; size];
            frame[0] = u8::from(!n.is_multiple_of(30));
            frame[1] = rid.as_bytes()[0];
            let writer = self.rtc.writer(self.video).unwrap().rid(rid.into());
            writer.write(vp8, now, time, frame).unwrap();
        }
        let audio = MediaTime::new(n * 1_600, Frequency::FORTY_EIGHT_KHZ);
        let writer = self.rtc.writer(self.audio).unwrap();
        writer
            .write(opus, now, audio, vec![0xF8, 0xFF, 0xFE])
            .unwrap();
    }

    /// The layer of most of the last `n` frames received, and how many of them it was.
    fn lately(&self, n: usize) -> (char, usize) {
        let last = &self.layers[self.layers.len().saturating_sub(n)..];
        LAYERS
            .iter()
            .map(|(rid, _)| {
                let l = rid.as_bytes()[0];
                (char::from(l), last.iter().filter(|x| **x == l).count())
            })
            .max_by_key(|(_, count)| *count)
            .unwrap()
    }
}

async fn a_slow_viewer_is_moved_to_a_smaller_layer_by_its_losses(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (owner, event) = app.live_event("members").await;
    let (ada, bob) = (app.person("Ada").await, app.person("Bob").await);
    let mut presenter = Client::join(&app, &owner, &event, None).await;
    // Ada's link carries 800 kbit/s: the half-size layer and audio fit, the full one does not.
    let mut slow = Client::join(&app, &ada, &event, Some(800_000.0)).await;
    // Bob's carries 20 Mbit/s: everything.
    let mut fast = Client::join(&app, &bob, &event, Some(20_000_000.0)).await;
    let start = Instant::now();
    let mut sent = 0;
    let deadline = start + Duration::from_secs(30);
    let settled = loop {
        presenter.pump();
        slow.pump();
        fast.pump();
        if presenter.connected {
            // 30 frames a second, as a camera.
            while (sent as f64) < start.elapsed().as_secs_f64() * 30.0 {
                presenter.send(sent);
                sent += 1;
            }
        }
        let enough = slow.layers.len() >= 150 && fast.layers.len() >= 150;
        if enough && slow.lately(60) == ('h', 60) && fast.lately(60) == ('f', 60) {
            break true;
        }
        if Instant::now() > deadline {
            break false;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    };
    assert!(
        settled,
        "after {} frames sent: the slow viewer got mostly {:?} of its last 60 ({} frames in all), \
         the fast one {:?} ({} frames)",
        sent,
        slow.lately(60),
        slow.layers.len(),
        fast.lately(60),
        fast.layers.len()
    );
}

both!(a_slow_viewer_is_moved_to_a_smaller_layer_by_its_losses);
