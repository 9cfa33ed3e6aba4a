// The stage as people see it: the shared screen or a pinned person large, the cameras beside
// it or in a grid, their sound, who is speaking and whose video paused. It draws what the
// page's Stage (media.js) holds and opens no connection of its own.

import { el } from "/static/dom.js";
import { remembered } from "/static/devices.js";
import { SEATS } from "/static/protocol.js";
const $ = (id) => document.getElementById(id);

export class StageView {
  constructor(stage) {
    this.stage = stage;
    this.tiles = new Map();  // key -> figure
    this.audio = new Map();  // seat -> <audio>
    this.pinned = null;      // a seat's user id, or "screen"
    this.energy = null;      // per seat: [total audio energy, duration] at the last look
    this.speakerId = remembered().speaker || "";
    setInterval(() => { this.highlightSpeaker(); this.noticeFrozen(); }, 400);
  }

  /** Stops every seat's sound (the watching connection closed). */
  silence() {
    for (const a of this.audio.values()) a.srcObject = null;
  }

  /** Plays the stage's sound on `id` (a speaker the person chose). */
  setSpeaker(id) {
    this.speakerId = id;
    for (const a of this.audio.values()) if (a.setSinkId) a.setSinkId(id).catch((e) => this.stage.showError(`That speaker cannot be used (${e.message}).`));
  }

  draw() {
    const seats = [...this.stage.roster.seats].sort((a, b) => a.slot - b.slot);
    const mine = this.stage.sending() ? { slot: -1, user_id: this.stage.me, name: "You", muted: !!this.stage.standing.muted, self: true } : null;
    const sharer = this.stage.roster.screen;
    const sharing = !!(sharer && (this.stage.watch || this.stage.screen));
    const show = [];
    if (sharing) show.push({ key: "screen", big: true });
    for (const s of seats) {
      if (s.user_id === this.stage.me) continue;
      // The sharer's camera sits beside their screen.
      show.push({ key: `seat-${s.slot}`, seat: s, side: sharing && s.user_id === sharer });
    }
    if (mine) show.push({ key: "self", seat: mine, side: sharing && sharer === this.stage.me });
    if (!sharing && this.pinned) {
      const p = show.find((t) => t.seat && t.seat.user_id === this.pinned);
      if (p) p.big = true;
      else this.pinned = null;
    }
    const keep = new Set(show.map((t) => t.key));
    for (const [key, fig] of this.tiles) if (!keep.has(key)) { fig.remove(); this.tiles.delete(key); }
    const big = this.stage.area.querySelector(".stage-big") || el("div", { class: "stage-big" });
    const grid = this.stage.area.querySelector(".stage-grid") || el("div", { class: "stage-grid" });
    const empty = this.stage.area.querySelector(".stage-empty") || el("p", { class: "muted stage-empty" });
    const problem = this.stage.area.querySelector(".stage-problem") || el("p", { class: "alert stage-problem", role: "status" });
    if (!big.isConnected) this.stage.area.replaceChildren(problem, big, grid, empty, this.controls());
    problem.textContent = this.stage.problem || "";
    problem.hidden = !this.stage.problem;
    for (const t of show) {
      const fig = this.tiles.get(t.key) || this.tile(t);
      this.tiles.set(t.key, fig);
      this.fill(fig, t);
      (t.big || t.side ? big : grid).append(fig);
    }
    // The large tile first, whatever order the tiles came in.
    const first = big.querySelector(".tile.big");
    if (first && big.firstChild !== first) big.prepend(first);
    big.hidden = !show.some((t) => t.big);
    const live = this.stage.status === "live" || (this.stage.status === "staging" && this.stage.runsRoom);
    empty.textContent = show.length ? "" : live ? "Nobody is on stage yet." : "The presenters' video and shared screen appear here.";
    empty.hidden = show.length > 0;
    this.stage.area.dataset.tiles = String(show.length);
    this.stage.area.dataset.screen = sharing ? "on" : "off";
    for (let slot = 0; slot <= SEATS; slot += 1) this.placeAudio(slot);
  }

  controls() {
    return el("div", { class: "stage-controls" },
      el("button", { type: "button", class: "secondary small", id: "stage-full", onclick: () => this.fullScreen() }, "Full screen"),
      el("button", { type: "button", class: "secondary small", id: "stage-sound", hidden: true, onclick: () => this.unblockSound() }, "Turn sound on"));
  }

  tile(t) {
    const video = el("video", { autoplay: true, playsinline: true, muted: true });
    video.muted = true;
    const fig = el("figure", { class: "tile", "data-key": t.key },
      video,
      el("figcaption", {}, el("span", { class: "tile-name" }), el("span", { class: "tile-muted", hidden: true }, " · muted"),
        el("span", { class: "tile-paused", hidden: true }, " · video paused")));
    if (t.key !== "self") {
      fig.append(el("button", { type: "button", class: "secondary small tile-pin", onclick: () => this.pin(fig.dataset.user) }, "Pin"));
    }
    return fig;
  }

  fill(fig, t) {
    const video = fig.querySelector("video");
    let track = null;
    let name;
    if (t.key === "screen") {
      const sharer = this.stage.roster.seats.find((s) => s.user_id === this.stage.roster.screen);
      name = this.stage.roster.screen === this.stage.me ? "Your screen" : `${sharer ? sharer.name : "A presenter"}'s screen`;
      track = this.stage.roster.screen === this.stage.me && this.stage.screen ? this.stage.screen.getVideoTracks()[0] : this.stage.watch && this.stage.watch.video[SEATS].track;
      fig.classList.add("screen");
    } else if (t.seat.self) {
      name = "You";
      track = this.stage.local && this.stage.local.getVideoTracks()[0];
    } else {
      name = t.seat.name;
      track = this.stage.watch && this.stage.watch.video[t.seat.slot] && this.stage.watch.video[t.seat.slot].track;
      fig.dataset.slot = String(t.seat.slot);
    }
    fig.dataset.user = t.seat ? t.seat.user_id || "" : this.stage.roster.screen || "";
    fig.classList.toggle("big", !!t.big);
    fig.classList.toggle("side", !!t.side);
    fig.querySelector(".tile-name").textContent = name;
    fig.querySelector(".tile-muted").hidden = !(t.seat && t.seat.muted);
    video.setAttribute("aria-label", name);
    const pin = fig.querySelector(".tile-pin");
    if (pin) {
      const pinned = this.pinned && this.pinned === fig.dataset.user && t.key !== "screen";
      pin.textContent = pinned ? "Unpin" : "Pin";
      pin.setAttribute("aria-label", `${pinned ? "Unpin" : "Pin"} ${name}`);
      pin.hidden = t.key === "screen" || !!t.side;
    }
    const stream = track ? new MediaStream([track]) : null;
    const current = video.srcObject && video.srcObject.getTracks()[0];
    if ((current || null) !== (track || null)) video.srcObject = stream;
  }

  placeAudio(slot) {
    let a = this.audio.get(slot);
    const seat = this.stage.roster.seats.find((s) => s.slot === slot);
    const track = this.stage.watch && this.stage.watch.audio[slot] && this.stage.watch.audio[slot].track;
    const wanted = (slot === SEATS ? this.stage.roster.screen && this.stage.roster.screen !== this.stage.me : seat && seat.user_id !== this.stage.me) && track;
    if (!wanted) {
      if (a) a.srcObject = null;
      return;
    }
    if (!a) {
      a = el("audio", { autoplay: true, "data-slot": String(slot) });
      a.hidden = true;
      document.body.append(a);
      this.audio.set(slot, a);
    }
    if (!a.srcObject || a.srcObject.getTracks()[0] !== track) {
      a.srcObject = new MediaStream([track]);
      if (this.speakerId && a.setSinkId) a.setSinkId(this.speakerId).catch(() => {});
      a.play().catch(() => { const b = $("stage-sound"); if (b) b.hidden = false; });
    }
  }

  unblockSound() {
    for (const a of this.audio.values()) if (a.srcObject) a.play().catch(() => {});
    const b = $("stage-sound");
    if (b) b.hidden = true;
  }

  pin(userId) {
    this.pinned = this.pinned === userId ? null : userId;
    this.draw();
  }

  fullScreen() {
    if (document.fullscreenElement) document.exitFullscreen();
    else if (this.stage.area.requestFullscreen) this.stage.area.requestFullscreen().catch((e) => this.stage.showError(`Full screen is not available here (${e.message}).`));
  }

  /** Marks the loudest person on stage as speaking: the audio energy each seat's receiver
   * decoded since the last look (short sounds count too), against this page's microphone. */
  async highlightSpeaker() {
    let loudest = null;
    let top = 0.01;
    if (this.stage.watch && this.stage.watch.pc) {
      const slotOf = new Map();
      this.stage.watch.audio.forEach((r, slot) => {
        const t = this.stage.watch.pc.getTransceivers().find((x) => x.receiver === r);
        if (t && t.mid !== null) slotOf.set(t.mid, slot);
      });
      const last = this.energy || new Map();
      const now = new Map();
      let stats;
      try { stats = await this.stage.watch.pc.getStats(); } catch { return; }
      stats.forEach((s) => {
        if (s.type !== "inbound-rtp" || s.kind !== "audio" || !slotOf.has(s.mid)) return;
        const slot = slotOf.get(s.mid);
        now.set(slot, [s.totalAudioEnergy || 0, s.totalSamplesDuration || 0]);
        const before = last.get(slot);
        if (!before) return;
        const dt = now.get(slot)[1] - before[1];
        const level = dt > 0 ? Math.sqrt((now.get(slot)[0] - before[0]) / dt) : 0;
        if (slot < SEATS && level > top) { top = level; loudest = `seat-${slot}`; }
      });
      this.energy = now;
    } else if (this.stage.ivs) {
      for (const [slot, level] of this.stage.ivs.levels()) if (level > top) { top = level; loudest = `seat-${slot}`; }
    }
    const level = this.stage.devices && this.stage.devices.level;
    if (level) {
      if (level.peak / 100 > top && level.peak > 4) loudest = "self";
      level.peak = 0;
    }
    for (const [key, fig] of this.tiles) fig.classList.toggle("speaking", key === loudest);
  }

  /** A tile whose video stopped while its person is still on stage: the server sends this
   * viewer audio only (their connection is too slow), or the camera is off. */
  noticeFrozen() {
    const now = Date.now();
    for (const [key, fig] of this.tiles) {
      if (key === "self") continue;
      const v = fig.querySelector("video");
      const frames = v.getVideoPlaybackQuality ? v.getVideoPlaybackQuality().totalVideoFrames : 0;
      if (frames !== fig.frames) { fig.frames = frames; fig.movedAt = now; }
      const frozen = now - (fig.movedAt || now) > 2500;
      if (frozen !== fig.classList.contains("paused")) {
        fig.classList.toggle("paused", frozen);
        fig.querySelector(".tile-paused").hidden = !frozen;
      }
    }
  }

}
