// meetstage page helpers: local times, countdowns, time-zone detection, confirmations, print,
// a recording's progress.
// Plain ES module, no dependencies; pages work without it (times then show in UTC).

const dateTime = new Intl.DateTimeFormat(undefined, {
  weekday: "short", day: "numeric", month: "short", year: "numeric",
  hour: "2-digit", minute: "2-digit", timeZoneName: "short",
});
const dateOnly = new Intl.DateTimeFormat(undefined, { day: "numeric", month: "long", year: "numeric" });

function localTimes(root) {
  for (const el of root.querySelectorAll("time[data-local]")) {
    const t = new Date(el.getAttribute("datetime"));
    if (Number.isNaN(t.getTime())) continue;
    el.title = t.toISOString();
    el.textContent = (el.dataset.local === "date" ? dateOnly : dateTime).format(t);
  }
}

function describe(ms) {
  if (ms <= 0) return "now";
  const s = Math.floor(ms / 1000);
  const d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60);
  if (d > 0) return `${d} day${d === 1 ? "" : "s"} ${h} h`;
  if (h > 0) return `${h} h ${m} min`;
  return `${m} min ${s % 60} s`;
}

function countdowns(root) {
  const els = [...root.querySelectorAll("[data-countdown]")];
  if (els.length === 0) return;
  const tick = () => {
    for (const el of els) el.textContent = describe(new Date(el.dataset.countdown) - Date.now());
  };
  tick();
  setInterval(tick, 1000);
}

function detectZone(root) {
  const select = root.querySelector("select[data-detect-zone]");
  if (!select) return;
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  const match = [...select.options].find((o) => o.value === zone || o.text === zone);
  if (match && select.value === "UTC") select.value = match.value || match.text;
}

function confirmations(root) {
  for (const button of root.querySelectorAll("button[data-confirm]")) {
    button.addEventListener("click", (e) => {
      if (!window.confirm(button.dataset.confirm)) e.preventDefault();
    });
  }
}

// Disable a form's submit button while it is being sent, so a double click sends once.
function submitFeedback(root) {
  for (const form of root.querySelectorAll("form[method=post]")) {
    form.addEventListener("submit", () => {
      for (const b of form.querySelectorAll("button[type=submit]")) {
        b.disabled = true;
        b.setAttribute("aria-busy", "true");
      }
    });
  }
}

function printButtons(root) {
  for (const button of root.querySelectorAll("button[data-print]")) button.addEventListener("click", () => window.print());
}

// The organizer's event page while the recording is processed: the percentage moves on its
// own, and the page reloads (with the replay's buttons) once processing is over.
function recordingProgress(root) {
  const box = root.querySelector("[data-recording-poll]");
  if (!box) return;
  const text = box.querySelector("#recording-status");
  const bar = box.querySelector("progress");
  const poll = async () => {
    try {
      const r = await fetch(box.dataset.recordingPoll, { headers: { accept: "application/json" } });
      if (r.ok) {
        const s = await r.json();
        if (s.state !== "waiting" && s.state !== "processing") return window.location.reload();
        if (text.textContent !== s.text) text.textContent = s.text;
        if (bar) bar.value = s.progress;
      }
    } catch (_) { /* offline for a moment: try again */ }
    setTimeout(poll, 2000);
  };
  setTimeout(poll, 2000);
}

localTimes(document);
recordingProgress(document);
countdowns(document);
detectZone(document);
confirmations(document);
submitFeedback(document);
printButtons(document);
