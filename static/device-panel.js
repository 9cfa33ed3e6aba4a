// The presenter's device panel: start and stop the camera and microphone, mute, share the
// screen, choose devices, test the speaker, a level meter, and an OBS stream key. It acts
// through the page's Stage (media.js), which holds the connections.

import { explain, levelMeter, listDevices, newStreamKey, remember, testSpeaker } from "/static/devices.js";

const $ = (id) => document.getElementById(id);

export class DevicePanel {
  constructor(stage, element) {
    this.stage = stage;
    this.element = element;
    this.level = null;       // the microphone's meter: { peak, stop }
    this.wire();
  }

  wire() {
    $("media-start").addEventListener("click", () => this.stage.startDevices({ video: true }));
    $("media-stop").addEventListener("click", () => this.stage.leaveStage(this.stage.runsRoom ? "Your camera and microphone are off." : "You left the stage."));
    $("media-mic").addEventListener("click", () => this.stage.toggleMic());
    $("media-camera").addEventListener("click", () => this.stage.toggleCamera());
    $("media-screen").addEventListener("click", () => (this.stage.screen ? this.stage.stopScreen(true) : this.stage.shareScreen()));
    $("speaker-test").addEventListener("click", () => this.testSpeaker());
    for (const [id, kind] of [["device-camera", "camera"], ["device-mic", "mic"], ["device-speaker", "speaker"]]) {
      $(id).addEventListener("change", (e) => this.choose(kind, e.target.value));
    }
    const invite = $("stage-invite");
    if (invite) {
      invite.querySelector("button.join").addEventListener("click", () => this.stage.joinStage($("invite-camera").checked));
      invite.querySelector("button.decline").addEventListener("click", () => this.stage.declineStage());
    }
    $("stream-key-new")?.addEventListener("click", () => this.newStreamKey());
    if (navigator.mediaDevices) navigator.mediaDevices.addEventListener("devicechange", () => this.listDevices());
    this.listDevices();
  }

  async choose(kind, id) {
    remember(kind, id);
    if (kind === "speaker") return this.stage.view.setSpeaker(id);
    if (!this.stage.local) return;
    const video = kind === "camera" || this.stage.local.getVideoTracks().length > 0;
    try {
      const stream = await navigator.mediaDevices.getUserMedia({
        audio: { deviceId: { exact: $("device-mic").value || undefined } },
        video: video ? { deviceId: { exact: $("device-camera").value || undefined }, width: { ideal: 1280, max: 1280 }, height: { ideal: 720, max: 720 } } : false,
      });
      this.stage.setLocal(stream);
    } catch (e) {
      this.stage.note(explain(e, kind === "camera" ? "camera" : "microphone"));
    }
  }

  listDevices() {
    return listDevices(this.stage.local);
  }

  newStreamKey() {
    return newStreamKey(this.stage.eventId);
  }

  testSpeaker() {
    return testSpeaker(this.stage.view.speakerId);
  }

  /** Shows the microphone's level while it is on. */
  meter() {
    this.stopMeter();
    const track = this.stage.local && this.stage.local.getAudioTracks()[0];
    const meter = $("media-level");
    this.level = track && meter ? levelMeter(track, meter) : null;
  }

  stopMeter() {
    if (this.level) { this.level.stop(); this.level = null; }
  }

  state(state) {
    this.element.dataset.connection = state;
  }

  draw() {
    const open = this.stage.status === "live" || (this.stage.status === "staging" && this.stage.runsRoom);
    const may = this.stage.mayPublish();
    this.element.hidden = !may || !open;
    const on = !!this.stage.local;
    $("media-start").hidden = on;
    $("media-stop").hidden = !on;
    $("media-stop").textContent = this.stage.runsRoom ? "Turn camera and microphone off" : "Leave the stage";
    for (const id of ["media-mic", "media-camera", "media-screen"]) $(id).disabled = !on || !this.stage.pub;
    const a = this.stage.local && this.stage.local.getAudioTracks()[0];
    const v = this.stage.local && this.stage.local.getVideoTracks()[0];
    $("media-mic").textContent = this.stage.selfMuted ? "Unmute microphone" : "Mute microphone";
    $("media-mic").setAttribute("aria-pressed", String(!!this.stage.selfMuted));
    $("media-camera").textContent = v && !v.enabled ? "Turn camera on" : "Turn camera off";
    $("media-camera").disabled = !v;
    $("media-screen").textContent = this.stage.screen ? "Stop sharing" : "Share screen";
    $("media-screen").hidden = !this.stage.runsRoom && !this.stage.standing.can_speak;
    this.element.dataset.sending = this.stage.pub ? "yes" : "no";
    this.element.dataset.mic = a ? "on" : "off";
    const preview = $("media-preview");
    if (preview) {
      const track = v || null;
      const cur = preview.srcObject && preview.srcObject.getTracks()[0];
      if ((cur || null) !== track) preview.srcObject = track ? new MediaStream([track]) : null;
      preview.hidden = !track;
    }
  }}
