// Live media in the browser: the stage everyone watches, and the camera, microphone and
// screen of those who present. Two connections at most per page, neither ever renegotiated:
// - watching: 13 video and 13 audio receivers (12 seats, then the shared screen); the room
//   socket's "stage" roster says who sits in which seat;
// - sending: microphone, camera, screen and the screen's audio, in that order; a screen is
//   shared by swapping the track in place.
// The server decides who may send and forwards a muted person's audio to nobody; this page
// only shows what it decided. On Amazon IVS (the ticket says so) ivs.js carries the media
// instead and hands this class the same seats and tracks to draw. What people see of the
// stage is stage-view.js; the presenter's device panel is device-panel.js.

import { ACTION, SEATS } from "/static/protocol.js";
import { csrf, el } from "/static/dom.js";
import { explain, remember, remembered } from "/static/devices.js";
import { DevicePanel } from "/static/device-panel.js";
import { IvsStage } from "/static/ivs.js";
import { StageView } from "/static/stage-view.js";

// The camera's simulcast layers; their names and caps match the server's (src/media/layers.rs).
const LAYERS = [
  { rid: "q", scaleResolutionDownBy: 4, maxBitrate: 150_000 },
  { rid: "h", scaleResolutionDownBy: 2, maxBitrate: 500_000 },
  { rid: "f", maxBitrate: 1_500_000 },
];
const $ = (id) => document.getElementById(id);
// How long a connection may take before the page says why it has no picture.
const CONNECT_WAIT_MS = 12000;
const UNREACHABLE_WATCH = "The video cannot reach you: your network (a firewall, a VPN) blocks the connection to the media server. Chat and questions still work. Another network, such as a phone's hotspot, usually helps; we keep trying.";
const UNREACHABLE_SEND = "Your camera and microphone cannot reach the stage: your network (a firewall, a VPN) blocks the connection to the media server. Another network, such as a phone's hotspot, usually helps.";

/** Browsers send VP8 and Opus, which every browser decodes; the server forwards media as it
 * is, so watching also takes H.264, which OBS sends. */
function preferCodecs(transceiver, kind, watching = false) {
  if (!RTCRtpReceiver.getCapabilities || !transceiver.setCodecPreferences) return;
  const caps = RTCRtpReceiver.getCapabilities(kind);
  if (!caps) return;
  const want = kind === "video" ? ["video/vp8", ...(watching ? ["video/h264"] : []), "video/rtx"] : ["audio/opus"];
  const codecs = caps.codecs
    .filter((c) => want.includes(c.mimeType.toLowerCase()))
    .sort((x, y) => want.indexOf(x.mimeType.toLowerCase()) - want.indexOf(y.mimeType.toLowerCase()));
  if (codecs.length) transceiver.setCodecPreferences(codecs);
}

/** Posts an SDP offer and applies the answer; the error text comes from the server. */
async function negotiate(pc, url) {
  await pc.setLocalDescription(await pc.createOffer());
  const r = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/sdp", "x-csrf-token": csrf() },
    body: pc.localDescription.sdp,
    credentials: "same-origin",
  });
  const body = await r.text();
  if (!r.ok) {
    let message = `The media server refused the connection (${r.status}).`;
    try { const j = JSON.parse(body); message = j.message || j.error || message; } catch { /* plain text */ }
    const e = new Error(message);
    e.status = r.status;
    throw e;
  }
  await pc.setRemoteDescription({ type: "answer", sdp: body });
  return r.headers.get("location");
}

/** Ends a connection on the server at once, rather than when it stops hearing from us. */
function hangUp(url) {
  if (url) fetch(url, { method: "DELETE", headers: { "x-csrf-token": csrf() }, credentials: "same-origin", keepalive: true }).catch(() => {});
}

export class Stage {
  constructor({ eventId, runsRoom, area, panel, showError, send, names }) {
    Object.assign(this, { eventId, runsRoom, area, showError, send, names });
    this.ivs = null;         // IvsStage, when the stage is on Amazon IVS
    this.roster = { seats: [], screen: null };
    this.status = null;
    this.me = null;
    this.standing = {};
    this.watch = null;       // { pc, video: [receiver], audio: [receiver] }
    this.watchTry = 0;
    this.local = null;       // MediaStream of camera and microphone
    this.screen = null;      // MediaStream of a shared screen
    this.pub = null;         // RTCPeerConnection sending
    this.invited = false;
    this.closed = false;
    this.problem = null;     // why the stage shows no picture, in words
    this.view = new StageView(this);
    this.devices = panel ? new DevicePanel(this, panel) : null;
    this.draw();
  }

  // --- what the room tells ------------------------------------------------------------------
  setStatus(status) {
    this.status = status;
    const open = status === "live" || (status === "staging" && this.runsRoom);
    if (open && !this.closed) this.startWatching();
    if (!open) this.stopAll(status === "ended" || status === "cancelled" ? "The event has ended; media stopped." : null);
    this.drawPanel();
  }

  setYou(you) {
    this.me = you && you.user_id;
    const before = this.standing;
    this.standing = (you && you.standing) || {};
    if (!this.runsRoom) {
      if (this.standing.can_speak && !before.can_speak && this.status === "live") this.invite();
      if (!this.standing.can_speak && before.can_speak) this.leaveStage("A presenter ended your time on stage.");
    }
    this.applyMute();
    this.drawPanel();
  }

  setRoster(roster) {
    // On IVS the seats come from the SDK's participants, not from the server.
    if (this.ivs) return;
    this.roster = roster || { seats: [], screen: null };
    this.draw();
  }

  /** IVS participants as seats and tracks (ivs.js). */
  ivsRoster(roster, watch) {
    this.roster = roster;
    if (this.ivs) this.watch = watch;
    this.draw();
  }

  ivsState(state) {
    this.area.dataset.media = state;
    this.panelState(state);
  }

  /** A name for a tile on IVS, whose tokens carry ids, never names. */
  nameOf(userId, role) {
    const known = this.names && this.names(userId);
    return known || (role === "presenter" ? "A presenter" : "A speaker");
  }

  /** Kicked, banned, or the page is going away: every connection closes now. */
  close(text) {
    this.closed = true;
    this.stopAll(text);
  }

  /** Back in the room after a kick: the stage opens again with the next snapshot. */
  reopen() {
    this.closed = false;
    this.watchTry = 0;
  }

  /** Why the stage shows no picture (null: it does, or nothing is expected). */
  setProblem(text) {
    if (this.problem === text) return;
    this.problem = text;
    this.draw();
  }

  stopAll(text) {
    this.problem = null;
    this.stopWatching();
    this.stopSending();
    this.invited = false;
    if (text) this.note(text);
    this.draw();
  }

  /** How this page joins the stage now (the server decides the provider and what this
   * person may do); asked again whenever that may have changed. */
  async ticket(query = "") {
    const r = await fetch(`/events/${this.eventId}/live/media${query}`, { credentials: "same-origin" });
    const j = await r.json().catch(() => ({}));
    if (!r.ok) throw new Error(j.message || `The stage could not be joined (${r.status}).`);
    if (j.provider !== "embedded" && j.provider !== "ivs") throw new Error("This page cannot join this event's media provider.");
    return j;
  }

  /** Joins the IVS stage; the seats arrive through ivsRoster. */
  async startIvs(ticket) {
    const ivs = new IvsStage(this, ticket);
    this.ivs = ivs;
    const none = () => Array.from({ length: SEATS + 1 }, () => ({ track: null }));
    this.watch = { ivs, video: none(), audio: none() };
    try {
      await ivs.join();
      this.watchTry = 0;
      if (this.local && this.mayPublish()) await this.publish();
    } catch (e) {
      this.showError(e.message);
      this.rewatch();
    }
  }

  // --- watching -------------------------------------------------------------------------------
  async startWatching() {
    if (this.watch || this.joining) return;
    this.joining = true;
    let ticket;
    try {
      ticket = await this.ticket();
    } catch (e) {
      this.showError(e.message);
      this.watch = { video: [], audio: [] };
      this.rewatch();
      return;
    } finally {
      this.joining = false;
    }
    if (this.watch || this.closed) return;
    if (ticket.provider === "ivs") return this.startIvs(ticket);
    const pc = new RTCPeerConnection({ iceServers: ticket.ice_servers || [] });
    const video = [];
    const audio = [];
    for (let i = 0; i <= SEATS; i += 1) {
      const v = pc.addTransceiver("video", { direction: "recvonly" });
      preferCodecs(v, "video", true);
      video.push(v.receiver);
    }
    for (let i = 0; i <= SEATS; i += 1) {
      const a = pc.addTransceiver("audio", { direction: "recvonly" });
      preferCodecs(a, "audio");
      audio.push(a.receiver);
    }
    this.watch = { pc, video, audio };
    // No picture after a while, or a connection that failed: say why instead of black tiles.
    const stuck = setTimeout(() => {
      if (this.watch && this.watch.pc === pc && pc.connectionState !== "connected") this.setProblem(UNREACHABLE_WATCH);
    }, CONNECT_WAIT_MS);
    pc.addEventListener("connectionstatechange", () => {
      this.area.dataset.media = pc.connectionState;
      if (pc.connectionState === "connected") { clearTimeout(stuck); this.setProblem(null); }
      if (pc.connectionState === "failed" || pc.connectionState === "closed") {
        clearTimeout(stuck);
        if (pc.connectionState === "failed") this.setProblem(UNREACHABLE_WATCH);
        this.rewatch();
      }
    });
    try {
      const url = await negotiate(pc, ticket.watch);
      // Stopped while connecting: end it on the server too.
      if (this.watch && this.watch.pc === pc) this.watch.url = url;
      else hangUp(url);
      this.watchTry = 0;
      this.draw();
    } catch (e) {
      this.showError(e.message);
      this.rewatch();
    }
  }

  /** The connection broke (or was refused): try again a little later while the stage is open. */
  rewatch() {
    if (!this.watch) return;
    this.stopWatching();
    if (this.closed) return;
    const delay = Math.min(30000, 1000 * 2 ** this.watchTry);
    this.watchTry += 1;
    setTimeout(() => {
      if (!this.closed && (this.status === "live" || (this.status === "staging" && this.runsRoom))) this.startWatching();
    }, delay);
  }

  stopWatching() {
    if (!this.watch) return;
    const { pc, url, ivs } = this.watch;
    this.watch = null;
    if (ivs) {
      ivs.leave();
      this.ivs = null;
      this.pub = null;
    }
    if (pc) pc.close();
    hangUp(url);
    this.area.dataset.media = "closed";
    this.view.silence();
    this.draw();
  }

  // --- sending --------------------------------------------------------------------------------
  sending() {
    return !!this.pub;
  }

  mayPublish() {
    return this.runsRoom || !!this.standing.can_speak;
  }

  /** A presenter let this attendee speak: ask before anything is sent. */
  invite() {
    if (this.invited || this.sending()) return;
    this.invited = true;
    const box = $("stage-invite");
    if (!box) return;
    box.hidden = false;
    box.querySelector("button.join").focus();
  }

  async joinStage(withCamera) {
    const box = $("stage-invite");
    if (box) box.hidden = true;
    this.invited = false;
    await this.startDevices({ video: withCamera });
  }

  declineStage() {
    const box = $("stage-invite");
    if (box) box.hidden = true;
    this.invited = false;
    this.note("You stayed in the audience. A presenter can invite you again.");
  }

  leaveStage(text) {
    const box = $("stage-invite");
    if (box) box.hidden = true;
    this.invited = false;
    if (this.sending() || this.local) {
      this.stopSending();
      if (text) this.note(text);
    }
    this.draw();
    this.drawPanel();
  }

  async startDevices({ video = true } = {}) {
    const d = remembered();
    const cam = $("device-camera");
    const mic = $("device-mic");
    const camId = (cam && cam.value) || d.camera;
    const micId = (mic && mic.value) || d.mic;
    const constraints = {
      audio: { deviceId: micId ? { ideal: micId } : undefined, echoCancellation: true, noiseSuppression: true },
      video: video ? { deviceId: camId ? { ideal: camId } : undefined, width: { ideal: 1280, max: 1280 }, height: { ideal: 720, max: 720 }, frameRate: { ideal: 30 } } : false,
    };
    this.note("Starting your camera and microphone…");
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia(constraints);
    } catch (e) {
      // Without a camera, go on with the microphone alone.
      if (video && (e.name === "NotFoundError" || e.name === "NotReadableError" || e.name === "OverconstrainedError")) {
        try {
          stream = await navigator.mediaDevices.getUserMedia({ audio: constraints.audio });
          this.showError(`${explain(e, "camera")} You are on with your microphone only.`);
        } catch (e2) {
          this.note(explain(e2));
          return;
        }
      } else {
        this.note(explain(e, video ? "camera or microphone" : "microphone"));
        return;
      }
    }
    this.setLocal(stream);
    await this.listDevices();
    await this.publish();
  }

  setLocal(stream) {
    if (this.local) for (const t of this.local.getTracks()) t.stop();
    this.local = stream;
    this.applyMute();
    if (this.devices) this.devices.meter();
    const a = stream.getAudioTracks()[0];
    const v = stream.getVideoTracks()[0];
    if (a) remember("mic", a.getSettings().deviceId);
    if (v) remember("camera", v.getSettings().deviceId);
    if (this.pub && this.pub.ivs) this.ivs.replaced();
    else if (this.pub) {
      const [mic, camera] = this.pub.getTransceivers();
      mic.sender.replaceTrack(a || null);
      camera.sender.replaceTrack(v || null);
    }
    this.draw();
    this.drawPanel();
  }

  async publish() {
    if (this.pub || !this.local || !this.mayPublish()) return;
    if (this.ivs) return this.publishIvs();
    const pc = new RTCPeerConnection();
    const a = this.local.getAudioTracks()[0] || null;
    const v = this.local.getVideoTracks()[0] || null;
    const stream = new MediaStream();
    const mic = pc.addTransceiver(a || "audio", { direction: "sendonly", streams: [stream] });
    // Simulcast: the server forwards each viewer the largest layer their link carries.
    const camera = pc.addTransceiver(v || "video", { direction: "sendonly", streams: [stream], sendEncodings: LAYERS });
    const screen = pc.addTransceiver("video", { direction: "sendonly" });
    const screenAudio = pc.addTransceiver("audio", { direction: "sendonly" });
    for (const [t, k] of [[mic, "audio"], [camera, "video"], [screen, "video"], [screenAudio, "audio"]]) preferCodecs(t, k);
    if (v) v.contentHint = "motion";
    this.pub = pc;
    let connected = false;
    const stuck = setTimeout(() => {
      if (this.pub === pc && !connected) this.note(UNREACHABLE_SEND);
    }, CONNECT_WAIT_MS);
    pc.addEventListener("connectionstatechange", () => {
      this.panelState(pc.connectionState);
      if (pc.connectionState === "connected") connected = true;
      if (pc.connectionState === "failed" && this.pub === pc) {
        clearTimeout(stuck);
        this.stopSending();
        this.note(connected ? "Your connection to the stage was lost. Start again when you are ready." : UNREACHABLE_SEND);
      }
    });
    try {
      this.note("Connecting you to the stage…");
      const { publish, ice_servers: iceServers } = await this.ticket();
      if (!publish) throw new Error("A presenter has not invited you on stage.");
      // TURN relays (when configured) before the offer gathers its candidates.
      if (iceServers && iceServers.length) pc.setConfiguration({ ...pc.getConfiguration(), iceServers });
      const url = await negotiate(pc, publish);
      if (this.pub !== pc) return hangUp(url);
      this.pubUrl = url;
      this.note(this.status === "staging" ? "You are in the green room: presenters see and hear you; attendees do not yet." : "You are on stage.");
    } catch (e) {
      if (this.pub === pc) this.pub = null;
      pc.close();
      this.note(e.message);
    }
    this.draw();
    this.drawPanel();
  }

  /** On IVS the stage connection sends too, once its token allows it. */
  async publishIvs() {
    const ivs = this.ivs;
    this.pub = { ivs: true };
    try {
      this.note("Connecting you to the stage…");
      await ivs.publish(true);
      this.note(this.status === "staging" ? "You are in the green room: presenters see and hear you; attendees do not yet." : "You are on stage.");
    } catch (e) {
      this.pub = null;
      this.note(e.message);
    }
    this.draw();
    this.drawPanel();
  }

  stopSending() {
    this.stopScreen(false);
    if (this.pub && this.pub.ivs) {
      this.pub = null;
      if (this.ivs) this.ivs.publish(false).catch(() => {});
    }
    if (this.pub) { this.pub.close(); this.pub = null; hangUp(this.pubUrl); this.pubUrl = null; }
    if (this.local) { for (const t of this.local.getTracks()) t.stop(); this.local = null; }
    if (this.devices) this.devices.stopMeter();
    this.drawPanel();
  }

  async shareScreen() {
    if (!this.pub) return this.showError("Join the stage with your camera or microphone first.");
    let stream;
    try {
      // IVS takes at most 720p from a participant: ask the browser for no more than that.
      const video = this.pub.ivs
        ? { frameRate: { ideal: 15 }, width: { max: 1280 }, height: { max: 720 } }
        : { frameRate: { ideal: 15 } };
      stream = await navigator.mediaDevices.getDisplayMedia({ video, audio: true });
    } catch (e) {
      return this.note(explain(e, "screen"));
    }
    this.screen = stream;
    const v = stream.getVideoTracks()[0];
    const a = stream.getAudioTracks()[0] || null;
    if (v) {
      v.contentHint = "detail";
      // Stopped from the browser's own "Stop sharing" bar.
      v.addEventListener("ended", () => this.stopScreen(true));
    }
    if (this.pub.ivs) {
      try {
        await this.ivs.shareScreen(stream);
      } catch (e) {
        for (const t of stream.getTracks()) t.stop();
        this.screen = null;
        return this.note(e.message);
      }
    } else {
      const t = this.pub.getTransceivers();
      await t[2].sender.replaceTrack(v || null);
      await t[3].sender.replaceTrack(a);
    }
    this.send(ACTION.SHARE_SCREEN, { open: true });
    this.note(a ? "You are sharing your screen with its audio." : "You are sharing your screen.");
    this.draw();
    this.drawPanel();
  }

  stopScreen(tell = true) {
    if (!this.screen) return;
    for (const t of this.screen.getTracks()) t.stop();
    this.screen = null;
    if (this.ivs) this.ivs.stopScreen();
    if (this.pub && !this.pub.ivs) {
      const t = this.pub.getTransceivers();
      if (t[2]) t[2].sender.replaceTrack(null);
      if (t[3]) t[3].sender.replaceTrack(null);
    }
    if (tell) this.send(ACTION.SHARE_SCREEN, { open: false });
    if (this.pub) this.note(this.status === "staging" ? "You stopped sharing your screen." : "You stopped sharing your screen; you are still on stage.");
    this.draw();
    this.drawPanel();
  }

  applyMute() {
    const muted = !!this.standing.muted || !!this.selfMuted;
    if (this.local) for (const t of this.local.getAudioTracks()) t.enabled = !muted;
    const note = $("media-muted");
    if (note) note.hidden = !this.standing.muted;
  }

  toggleMic() {
    this.selfMuted = !this.selfMuted;
    this.applyMute();
    this.drawPanel();
  }

  toggleCamera() {
    const v = this.local && this.local.getVideoTracks()[0];
    if (!v) return;
    v.enabled = !v.enabled;
    this.drawPanel();
  }

  // --- what the page shows -----------------------------------------------------------------
  draw() {
    this.view.draw();
  }

  drawPanel() {
    if (this.devices) this.devices.draw();
  }

  panelState(state) {
    if (this.devices) this.devices.state(state);
  }

  note(text) {
    const n = $("media-note") || $("my-standing");
    if (n) n.textContent = text;
  }

  listDevices() {
    return this.devices ? this.devices.listDevices() : Promise.resolve();
  }

}
