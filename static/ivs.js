// The stage on Amazon IVS Real-Time, for pages whose ticket says `provider: "ivs"`. The same
// Stage (media.js) draws the tiles; this joins the IVS stage with the IVS Web Broadcast SDK
// (served by meetstage at the ticket's `sdk` path, installed from npm at a pinned version) and
// turns IVS participants into the seats and tracks the Stage draws:
// - everyone subscribes to everyone; a participant whose attributes say `featured` is a
//   shared screen, shown as the large tile;
// - those who may send publish their camera and microphone; a shared screen joins as a
//   participant of its own with the ticket's screen token;
// - tokens are exchanged in place before they run out, and when a presenter brings this
//   person on stage or sends them back (the participant id stays, so they keep watching).

import { SEATS } from "/static/protocol.js";

const REFRESH_BEFORE_MS = 5 * 60 * 1000;
const HALF_HOUR_MS = 30 * 60 * 1000;

let sdk = null;

/** Loads the SDK once; its global is `IVSBroadcastClient`. */
function loadSdk(src) {
  if (window.IVSBroadcastClient) return Promise.resolve(window.IVSBroadcastClient);
  if (!sdk) {
    sdk = new Promise((resolve, reject) => {
      const s = document.createElement("script");
      s.src = src;
      s.onload = () => (window.IVSBroadcastClient ? resolve(window.IVSBroadcastClient) : reject(new Error("The IVS SDK did not load.")));
      s.onerror = () => { sdk = null; reject(new Error("The IVS SDK could not be loaded; ask the organizer to install it (README).")); };
      document.head.append(s);
    });
  }
  return sdk;
}

export class IvsStage {
  /** `owner` is the page's Stage; `ticket` the server's answer with provider "ivs". */
  constructor(owner, ticket) {
    this.owner = owner;
    this.ticket = ticket;
    this.stage = null;
    this.screenStage = null;
    this.publishing = false;
    this.people = new Map(); // participant id -> { user, featured, video, audio, joined }
    this.refresh = null;
  }

  async join() {
    const IVS = await loadSdk(this.ticket.sdk);
    this.IVS = IVS;
    const { Stage, StageEvents, SubscribeType } = IVS;
    const strategy = {
      stageStreamsToPublish: () => this.streams(),
      shouldPublishParticipant: () => this.publishing && this.ticket.role !== "subscriber",
      // Everyone, but not one's own shared screen (its sound would echo).
      shouldSubscribeToParticipant: (p) => {
        const a = (p && p.attributes) || {};
        return a.featured === "true" && a.user === this.owner.me ? SubscribeType.NONE : SubscribeType.AUDIO_VIDEO;
      },
    };
    this.stage = new Stage(this.ticket.token, strategy);
    this.stage.on(StageEvents.STAGE_PARTICIPANT_JOINED, (p) => this.joined(p));
    this.stage.on(StageEvents.STAGE_PARTICIPANT_LEFT, (p) => this.left(p));
    this.stage.on(StageEvents.STAGE_PARTICIPANT_STREAMS_ADDED, (p, streams) => this.streamsChanged(p, streams, true));
    this.stage.on(StageEvents.STAGE_PARTICIPANT_STREAMS_REMOVED, (p, streams) => this.streamsChanged(p, streams, false));
    this.stage.on(StageEvents.STAGE_CONNECTION_STATE_CHANGED, (state) => this.owner.ivsState(String(state).toLowerCase()));
    await this.stage.join();
    this.schedule();
  }

  /** The local camera and microphone as the SDK's streams; the same stream objects while
   * the tracks are the same, so a strategy refresh does not republish. */
  streams() {
    const local = this.owner.local;
    if (!local || !this.publishing) return [];
    const { LocalStageStream } = this.IVS;
    const kept = this.localStreams || new Map();
    this.localStreams = new Map(local.getTracks().map((t) => [t.id, kept.get(t.id) || new LocalStageStream(t)]));
    return [...this.localStreams.values()];
  }

  joined(p) {
    if (p.isLocal) return;
    const a = p.attributes || {};
    this.people.set(p.id, { user: a.user || p.userId, role: a.role, featured: a.featured === "true", video: null, audio: null, joined: Date.now() });
    this.draw();
  }

  left(p) {
    this.people.delete(p.id);
    this.draw();
  }

  streamsChanged(p, streams, added) {
    if (p.isLocal) return;
    if (!this.people.has(p.id)) this.joined(p);
    const person = this.people.get(p.id);
    for (const s of streams) {
      const track = s.mediaStreamTrack;
      const kind = track.kind === "video" ? "video" : "audio";
      if (added) person[kind] = track;
      else if (person[kind] === track) person[kind] = null;
    }
    this.draw();
  }

  /** A tile's name: from the ticket (presenters and speakers); someone the ticket did not
   * name (brought on stage since) has the ticket asked again, at most every 10 seconds. */
  nameOf(user, role) {
    const name = this.ticket.names && this.ticket.names[user];
    if (name) return name;
    if (!this.asked || Date.now() - this.asked > 10000) {
      this.asked = Date.now();
      this.exchange().then(() => this.draw(), () => {});
    }
    return this.owner.nameOf(user, role);
  }

  /** Seats by arrival (at most 12 cameras), the featured screen in the 13th place. */
  draw() {
    const video = Array.from({ length: SEATS + 1 }, () => ({ track: null }));
    const audio = Array.from({ length: SEATS + 1 }, () => ({ track: null }));
    const seats = [];
    let screen = null;
    const senders = [...this.people.values()].filter((p) => p.video || p.audio).sort((x, y) => x.joined - y.joined);
    for (const p of senders) {
      if (p.featured) {
        if (screen) continue;
        screen = p.user;
        video[SEATS].track = p.video;
        audio[SEATS].track = p.audio;
        continue;
      }
      if (seats.length >= SEATS) continue;
      const slot = seats.length;
      seats.push({ slot, user_id: p.user, name: this.nameOf(p.user, p.role), muted: false });
      video[slot].track = p.video;
      audio[slot].track = p.audio;
    }
    if (this.owner.screen && this.owner.me) screen = this.owner.me;
    this.audio = audio;
    this.owner.ivsRoster({ seats, screen }, { ivs: this, video, audio });
  }

  /** How loud each seat is now (the RMS of its audio), for the speaking outline: the SDK's
   * connections are its own, so the sound is measured as it plays. */
  levels() {
    const out = new Map();
    const meters = this.meters || new Map();
    const live = new Set();
    (this.audio || []).forEach(({ track }, slot) => {
      if (!track || slot >= SEATS) return;
      live.add(track.id);
      let m = meters.get(track.id);
      if (!m) {
        this.ctx = this.ctx || new AudioContext();
        const source = this.ctx.createMediaStreamSource(new MediaStream([track]));
        const analyser = this.ctx.createAnalyser();
        analyser.fftSize = 512;
        source.connect(analyser);
        m = { source, analyser, data: new Float32Array(analyser.fftSize) };
        meters.set(track.id, m);
      }
      m.analyser.getFloatTimeDomainData(m.data);
      let sum = 0;
      for (const v of m.data) sum += v * v;
      out.set(slot, Math.sqrt(sum / m.data.length));
    });
    for (const [id, m] of meters) if (!live.has(id)) { m.source.disconnect(); meters.delete(id); }
    this.meters = meters;
    return out;
  }

  /** Asks for a fresh ticket for the same participants, and exchanges the tokens in place. */
  async exchange() {
    const q = new URLSearchParams({ participant: this.ticket.participant_id });
    if (this.ticket.screen) q.set("screen", this.ticket.screen.participant_id);
    const next = await this.owner.ticket(`?${q}`);
    if (!this.stage) return next;
    if (next.participant_id !== this.ticket.participant_id) throw new Error("The stage gave a new participant; joining again.");
    this.ticket = next;
    await this.stage.exchangeToken(next.token);
    if (this.screenStage && next.screen) await this.screenStage.exchangeToken(next.screen.token);
    this.stage.refreshStrategy();
    this.schedule();
    return next;
  }

  schedule() {
    clearTimeout(this.refresh);
    // Tokens live an hour: every half hour at the latest, whatever this computer's clock says.
    const wait = Math.min(HALF_HOUR_MS, Math.max(5000, this.ticket.expires_at - Date.now() - REFRESH_BEFORE_MS));
    this.refresh = setTimeout(() => this.exchange().catch((e) => this.owner.showError(e.message)), wait);
  }

  /** Start (or stop) sending the local camera and microphone; a speaker's new role comes
   * with a new token first. */
  async publish(on) {
    if (on && this.ticket.role === "subscriber") await this.exchange();
    if (on && this.ticket.role === "subscriber") throw new Error("A presenter has not invited you on stage.");
    this.publishing = on;
    this.stage.refreshStrategy();
    // Sent off the stage: a token that only watches, so IVS stops any sending and the
    // server sees this page complied (it ends participants still holding a sending token).
    if (!on && this.ticket.role !== "presenter") await this.exchange();
  }

  /** The local tracks changed (another camera): the SDK picks them up from the strategy. */
  replaced() {
    if (this.stage) this.stage.refreshStrategy();
  }

  async shareScreen(stream) {
    if (!this.ticket.screen) throw new Error("Only people on stage share a screen.");
    const { Stage, LocalStageStream, SubscribeType } = this.IVS;
    const tracks = stream.getTracks().map((t) => new LocalStageStream(t));
    this.screenStage = new Stage(this.ticket.screen.token, {
      stageStreamsToPublish: () => tracks,
      shouldPublishParticipant: () => true,
      shouldSubscribeToParticipant: () => SubscribeType.NONE,
    });
    await this.screenStage.join();
  }

  stopScreen() {
    if (this.screenStage) { this.screenStage.leave(); this.screenStage = null; }
  }

  leave() {
    clearTimeout(this.refresh);
    if (this.ctx) { this.ctx.close(); this.ctx = null; this.meters = null; }
    this.stopScreen();
    if (this.stage) { this.stage.leave(); this.stage = null; }
    this.people.clear();
  }
}
