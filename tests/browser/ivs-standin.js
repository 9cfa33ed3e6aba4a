// A stand-in for the IVS Web Broadcast SDK in browser tests (no AWS here): the same surface
// meetstage's ivs.js uses (Stage, LocalStageStream, SubscribeType, StageEvents), recording
// what the page asks of it, with remote participants the test adds (`__ivs.remote`), whose
// video is a moving canvas and whose audio is a tone.
(() => {
  const StageEvents = {
    STAGE_CONNECTION_STATE_CHANGED: "stageConnectionStateChanged",
    STAGE_PARTICIPANT_JOINED: "stageParticipantJoined",
    STAGE_PARTICIPANT_LEFT: "stageParticipantLeft",
    STAGE_PARTICIPANT_STREAMS_ADDED: "stageParticipantStreamsAdded",
    STAGE_PARTICIPANT_STREAMS_REMOVED: "stageParticipantStreamsRemoved",
  };
  const SubscribeType = { AUDIO_VIDEO: "audio_video", AUDIO_ONLY: "audio_only", NONE: "none" };
  const stages = [];
  const remotes = new Map();

  class LocalStageStream {
    constructor(track) {
      if (!(track instanceof MediaStreamTrack)) throw new Error("LocalStageStream needs a MediaStreamTrack");
      this.mediaStreamTrack = track;
      this.streamType = track.kind;
    }
  }

  class Stage {
    constructor(token, strategy) {
      if (typeof token !== "string" || token.split(".").length !== 3) throw new Error("a Stage needs a JWT");
      this.token = token;
      this.tokens = [token];
      this.strategy = strategy;
      this.handlers = {};
      this.joined = false;
      this.left = false;
      this.published = [];
      this.subscribed = [];
      // As in the SDK, these two are the instance's own functions, not the prototype's.
      this.leave = () => {
        this.left = true;
        this.published = [];
        this.emit(StageEvents.STAGE_CONNECTION_STATE_CHANGED, "disconnected");
      };
      this.refreshStrategy = () => {
        if (!this.joined || this.left) return;
        const publish = this.strategy.shouldPublishParticipant({ isLocal: true });
        this.published = publish ? this.strategy.stageStreamsToPublish().map((s) => s.mediaStreamTrack.kind).sort() : [];
      };
      stages.push(this);
    }
    on(event, fn) { (this.handlers[event] = this.handlers[event] || []).push(fn); }
    emit(event, ...args) { for (const fn of this.handlers[event] || []) fn(...args); }
    async join() {
      if (this.joined) throw new Error("UnintentionalError: one Stage instance per token");
      this.joined = true;
      this.emit(StageEvents.STAGE_CONNECTION_STATE_CHANGED, "connected");
      this.refreshStrategy();
      for (const r of remotes.values()) this.announce(r);
    }
    async exchangeToken(token) {
      if (!this.joined || this.left) throw new Error("exchangeToken on a stage not joined");
      this.token = token;
      this.tokens.push(token);
    }
    announce(r) {
      if (!this.joined || this.left) return;
      this.emit(StageEvents.STAGE_PARTICIPANT_JOINED, r.info);
      if (this.strategy.shouldSubscribeToParticipant(r.info) !== SubscribeType.NONE) {
        this.subscribed.push(r.info.id);
        this.emit(StageEvents.STAGE_PARTICIPANT_STREAMS_ADDED, r.info, r.streams);
      }
    }
  }

  /** A remote participant with a moving picture and a tone. */
  function remote(id, attributes) {
    const canvas = document.createElement("canvas");
    canvas.width = 320;
    canvas.height = 180;
    const g = canvas.getContext("2d");
    let n = 0;
    const paint = () => { n += 1; g.fillStyle = `hsl(${(n * 7) % 360} 60% 50%)`; g.fillRect(0, 0, 320, 180); };
    paint();
    const timer = setInterval(paint, 66);
    const video = canvas.captureStream(15).getVideoTracks()[0];
    const ctx = new AudioContext();
    const tone = ctx.createOscillator();
    const out = ctx.createMediaStreamDestination();
    tone.connect(out);
    tone.start();
    const audio = out.stream.getAudioTracks()[0];
    const info = { id, userId: attributes.user, attributes, isLocal: false };
    const r = { info, streams: [{ mediaStreamTrack: video, streamType: "video" }, { mediaStreamTrack: audio, streamType: "audio" }], timer };
    remotes.set(id, r);
    for (const s of stages) s.announce(r);
  }

  function gone(id) {
    const r = remotes.get(id);
    if (!r) return;
    remotes.delete(id);
    clearInterval(r.timer);
    for (const s of stages) if (s.joined && !s.left) s.emit(StageEvents.STAGE_PARTICIPANT_LEFT, r.info);
  }

  window.IVSBroadcastClient = { Stage, LocalStageStream, SubscribeType, StageEvents };
  window.__ivs = { stages, remote, gone };
})();
