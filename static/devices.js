// The devices of a person on stage: what went wrong with them, in plain words; which were
// chosen (remembered per browser); the microphone's level; a speaker test; and the stream key
// for sending from OBS instead. Used by media.js.
import { csrf, el } from "/static/dom.js";

const STORE = "meetstage.devices";
const $ = (id) => document.getElementById(id);

/** Why a camera, microphone or screen could not be used, in plain words. */
export function explain(error, what = "camera or microphone") {
  switch (error && error.name) {
    case "NotAllowedError":
    case "SecurityError":
      return what === "screen"
        ? "Screen sharing was cancelled, or your system blocks it for this browser (on macOS: System Settings → Privacy & Security → Screen Recording)."
        : `This site may not use your ${what}. Allow it in the browser's site settings (the icon left of the address), then try again.`;
    case "NotFoundError":
    case "OverconstrainedError":
      return `No ${what} was found. Plug one in, or pick another in the list, then try again.`;
    case "NotReadableError":
    case "AbortError":
      return `Your ${what} is in use by another application, or the system stopped it. Close that application and try again.`;
    default:
      return `Your ${what} could not be started${error && error.message ? ` (${error.message})` : ""}.`;
  }
}

export function remembered() {
  try { return JSON.parse(localStorage.getItem(STORE)) || {}; } catch { return {}; }
}

export function remember(kind, id) {
  const d = remembered();
  d[kind] = id;
  try { localStorage.setItem(STORE, JSON.stringify(d)); } catch { /* private mode */ }
}

/** Fills the camera, microphone and speaker lists, keeping the devices in use (or remembered). */
export async function listDevices(local) {
  if (!navigator.mediaDevices || !navigator.mediaDevices.enumerateDevices) return;
  let devices = [];
  try { devices = await navigator.mediaDevices.enumerateDevices(); } catch { return; }
  const d = remembered();
  const fill = (id, kind, chosen, none) => {
    const select = $(id);
    const list = devices.filter((x) => x.kind === kind);
    select.replaceChildren(...(list.length ? list.map((x, i) => el("option", { value: x.deviceId }, x.label || `${none} ${i + 1}`)) : [el("option", { value: "" }, `No ${none.toLowerCase()} found`)]));
    if (chosen && list.some((x) => x.deviceId === chosen)) select.value = chosen;
  };
  const current = (kind) => local && local.getTracks().find((t) => t.kind === kind)?.getSettings().deviceId;
  fill("device-camera", "videoinput", current("video") || d.camera, "Camera");
  fill("device-mic", "audioinput", current("audio") || d.mic, "Microphone");
  fill("device-speaker", "audiooutput", d.speaker, "Speaker");
  $("device-speaker").disabled = !HTMLMediaElement.prototype.setSinkId;
}

/** A new key for OBS; the one before stops working. */
export async function newStreamKey(eventId) {
  const state = $("stream-key-state");
  const button = $("stream-key-new");
  if ($("stream-key-value").value && !confirm("Create a new key? OBS stops sending with the current one.")) return;
  button.disabled = true;
  state.textContent = "Creating a key…";
  try {
    const r = await fetch(`/events/${eventId}/live/stream-key`, { method: "POST", headers: { "x-csrf-token": csrf() }, credentials: "same-origin" });
    const j = await r.json().catch(() => ({}));
    if (!r.ok) throw new Error(j.message || `The key could not be created (${r.status}).`);
    $("stream-key-server").value = j.server;
    $("stream-key-value").value = j.key;
    $("stream-key").hidden = false;
    button.textContent = "Create a new key";
    state.textContent = "Key created. Copy it into OBS now: it is not shown again.";
  } catch (e) {
    state.textContent = e.message;
  } finally {
    button.disabled = false;
  }
}

/** Plays a short chime on the chosen speaker. */
export async function testSpeaker(speakerId) {
  const ctx = new AudioContext();
  const dest = ctx.createMediaStreamDestination();
  const osc = ctx.createOscillator();
  const gain = ctx.createGain();
  osc.frequency.value = 660;
  gain.gain.setValueAtTime(0.2, ctx.currentTime);
  gain.gain.exponentialRampToValueAtTime(0.001, ctx.currentTime + 0.8);
  osc.connect(gain).connect(dest);
  const a = new Audio();
  a.srcObject = dest.stream;
  if (speakerId && a.setSinkId) await a.setSinkId(speakerId).catch(() => {});
  osc.start();
  osc.stop(ctx.currentTime + 0.8);
  await a.play().catch(() => {});
  $("speaker-state").textContent = "Playing a chime; if you heard nothing, pick another speaker.";
  setTimeout(() => { ctx.close().catch(() => {}); $("speaker-state").textContent = ""; }, 1500);
}

/** Shows a microphone's level in `meter` until stopped; `value` is the latest (0-100), `peak`
 * the highest since its holder last reset it. */
export function levelMeter(track, meter) {
  const ctx = new AudioContext();
  const analyser = ctx.createAnalyser();
  analyser.fftSize = 512;
  ctx.createMediaStreamSource(new MediaStream([track])).connect(analyser);
  const data = new Uint8Array(analyser.fftSize);
  const level = {
    value: 0,
    peak: 0,
    raf: 0,
    stop() { cancelAnimationFrame(level.raf); ctx.close().catch(() => {}); },
  };
  const step = () => {
    analyser.getByteTimeDomainData(data);
    let peak = 0;
    for (const x of data) peak = Math.max(peak, Math.abs(x - 128));
    level.value = Math.min(100, Math.round((peak / 128) * 100 * (track.enabled ? 1 : 0)));
    meter.value = level.value;
    level.peak = Math.max(level.peak, level.value);
    level.raf = requestAnimationFrame(step);
  };
  step();
  return level;
}
