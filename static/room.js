// The live room in the browser: one WebSocket, a snapshot then ordered updates, and the
// page drawn from that state. Message names come from the server (/static/protocol.js), so a
// misspelled name throws instead of silently doing nothing. Plain ES module, no build step.
import { ACTION, OUT, CLOSE, IVS_CHAT_EVENT } from "/static/protocol.js";
import { Stage } from "/static/media.js";
import { el, button } from "/static/dom.js";

const root = document.getElementById("room");
const eventId = root.dataset.event;
const runsRoom = root.dataset.role === "presenter" || root.dataset.role === "moderator";
const $ = (id) => document.getElementById(id);

// --- state ---------------------------------------------------------------------------------
const state = {
  clock: { status: root.dataset.status, starts_at: Date.parse(root.dataset.starts), ends_at: 0, stops_at: null, extendable_minutes: 0 },
  chatOpen: true,
  presence: 0,
  people: new Map(),
  questions: new Map(),
  hands: new Map(),
  chat: new Map(),
  participants: new Map(),
  you: null,
  myVotes: new Set(),
  myQuestions: new Map(),
  tab: "all",
  unread: { all: 0, group: 0, direct: 0 },
};
let seq = 0;
// The server's clock minus this computer's: times shown count from the server's clock.
let skew = 0;
let socket = null;
let attempt = 0;
let stopped = false;

const timeFmt = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });

function send(type, data = {}) {
  if (socket && socket.readyState === WebSocket.OPEN) {
    socket.send(JSON.stringify({ type, data }));
    return true;
  }
  showError("Not connected. Your action was not sent; try again in a moment.");
  return false;
}

let errorTimer = null;
function showError(text) {
  const box = $("room-error");
  box.textContent = text;
  clearTimeout(errorTimer);
  errorTimer = setTimeout(() => { box.textContent = ""; }, 8000);
}

function setConnection(text, ok) {
  const c = $("connection");
  c.textContent = text;
  c.classList.toggle("ok", !!ok);
}

// --- connection ------------------------------------------------------------------------------
function connect() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  socket = new WebSocket(`${scheme}://${location.host}/events/${eventId}/live/socket`);
  socket.addEventListener("open", () => {
    attempt = 0;
    setConnection("Connected", true);
  });
  socket.addEventListener("message", (e) => {
    let msg;
    try { msg = JSON.parse(e.data); } catch { return; }
    if (typeof msg.seq === "number" && msg.type !== OUT.SNAPSHOT) {
      if (msg.seq !== seq + 1) {
        // A gap: ask for a fresh snapshot rather than show something stale.
        send(ACTION.RESYNC);
        return;
      }
      seq = msg.seq;
    }
    handle(msg);
  });
  socket.addEventListener("close", (e) => {
    socket = null;
    // A new role (named or no longer a co-presenter): the page itself changes.
    if (e.code === CLOSE.ROLE) return location.reload();
    if (e.code === CLOSE.KICKED) return removed("A presenter removed you from the room. You can come back.", true);
    if (e.code === CLOSE.BANNED) return removed("You were banned from this event.", false);
    if (e.code === CLOSE.ACCOUNT) return removed("Your account can no longer take part in events.", false);
    if (e.code === CLOSE.SIGNED_OUT) return removed("You signed out.", false, true);
    if (stopped) return;
    if (e.code === 1008) return setConnection("The room refused the connection. Reload the page to try again.");
    // Jittered exponential backoff, so a restart does not bring everyone back at once.
    const delay = Math.min(30000, 1000 * 2 ** attempt) * (0.5 + Math.random() / 2);
    attempt += 1;
    setConnection(`Connection lost. Reconnecting in ${Math.ceil(delay / 1000)} s…`);
    setTimeout(connect, delay);
  });
}

// --- group chat from Amazon IVS Chat ---------------------------------------------------------
// When the server says so (chat_provider = ivs), group chat and notices arrive from the
// event's IVS Chat room instead of this socket; sending still goes through the room socket,
// where the room's rules apply. A long message comes in parts (IVS carries 1 KB an event).
let ivsChat = null;
let chatTry = 0;

async function startChat() {
  if (ivsChat || stopped) return;
  ivsChat = "connecting";
  let t;
  try {
    const r = await fetch(`/events/${eventId}/live/chat`, { credentials: "same-origin" });
    t = await r.json();
    if (!r.ok) throw new Error(t.message || `chat ${r.status}`);
  } catch {
    ivsChat = null;
    return retryChat();
  }
  if (t.provider !== "ivs") return;
  const ws = new WebSocket(t.endpoint, t.token);
  ivsChat = ws;
  const parts = new Map();
  ws.addEventListener("open", () => {
    chatTry = 0;
    root.dataset.chat = "ivs";
    // What IVS carried before this connection opened is in a fresh snapshot.
    if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ type: ACTION.RESYNC, data: {} }));
  });
  ws.addEventListener("message", (e) => {
    let m;
    try { m = JSON.parse(e.data); } catch { return; }
    if (m.Type !== "EVENT") return;
    const a = m.Attributes || {};
    if (m.EventName === IVS_CHAT_EVENT) {
      const got = parts.get(a.id) || [];
      got[Number(a.part)] = a.message;
      // IVS names the message by its first part's id when it deletes it.
      if (a.part === "0") got.relayId = m.Id;
      if (got.filter((p) => p !== undefined).length < Number(a.parts)) return parts.set(a.id, got);
      parts.delete(a.id);
      try { chat({ ...JSON.parse(got.join("")), relay_id: got.relayId }, true); } catch { /* a broken part: the next snapshot has it */ }
    } else if (m.EventName === "aws:DELETE_MESSAGE") {
      const gone = a.MessageId || a.MessageID;
      for (const [id, c] of state.chat) if (gone && c.relay_id === gone) state.chat.delete(id);
      drawChat();
    }
  });
  ws.addEventListener("close", () => {
    if (ivsChat === ws) ivsChat = null;
    root.dataset.chat = "";
    retryChat();
  });
}

function retryChat() {
  if (stopped) return;
  const delay = Math.min(30000, 1000 * 2 ** chatTry) * (0.5 + Math.random() / 2);
  chatTry += 1;
  setTimeout(startChat, delay);
}

function removed(text, mayReturn, signIn) {
  stopped = true;
  if (ivsChat && ivsChat.close) ivsChat.close();
  stage.close(text);
  $("room-main").hidden = true;
  const banner = el("div", { class: "alert", role: "alert" }, el("strong", {}, text));
  if (mayReturn) {
    banner.append(" ", button("Rejoin", () => { banner.remove(); $("room-main").hidden = false; stopped = false; stage.reopen(); connect(); }, "small"));
  }
  if (signIn) {
    const back = `${location.pathname}${location.search}`;
    banner.append(" ", el("a", { href: `/login?next=${encodeURIComponent(back)}` }, "Sign in again"));
  }
  $("banners").replaceChildren(banner);
  setConnection("Disconnected");
}

// --- messages --------------------------------------------------------------------------------
function handle({ type, data, seq: s }) {
  switch (type) {
    case OUT.SNAPSHOT: return snapshot(data, s);
    case OUT.YOU: return you(data);
    case OUT.CLOCK: return setClock(data);
    case OUT.ENDING_SOON: return endingSoon(data);
    case OUT.PRESENCE: state.presence = data.count; return drawPresence();
    case OUT.PERSON_JOINED: state.people.set(data.user_id, data); return drawPeople();
    case OUT.PERSON_LEFT: state.people.delete(data.id); return drawPeople();
    case OUT.QUESTION: return question(data);
    case OUT.QUESTION_REMOVED: state.questions.delete(data.id); return drawQuestions();
    case OUT.VOTED: state.myVotes.add(data.question_id); return drawQuestions();
    case OUT.HAND: return hand(data);
    case OUT.HAND_LOWERED: return handLowered(data.id);
    case OUT.CHAT: return chat(data, true);
    case OUT.CHAT_DELETED: state.chat.delete(data.id); return drawChat();
    case OUT.CHAT_SETTINGS: state.chatOpen = data.open; return drawChatSettings();
    case OUT.REACTIONS: return reactions(data.counts);
    case OUT.PARTICIPANT: return participant(data);
    case OUT.REMOVED: return;
    case OUT.STAGE: return stage.setRoster(data);
    case OUT.ERROR: return showError(data.message);
    default: return;
  }
}

function setClock(c) {
  state.clock = c;
  skew = c.server_now - Date.now();
  drawStatus();
  stage.setStatus(c.status);
}

function snapshot(d, s) {
  seq = s;
  setClock(d.clock);
  state.chatOpen = d.chat_open;
  state.presence = d.presence;
  state.people = new Map((d.people || []).map((p) => [p.user_id, p]));
  state.questions = new Map(d.questions.map((q) => [q.id, q]));
  state.hands = new Map((d.hands || []).map((h) => [h.user_id, h]));
  state.chat = new Map(d.chat.map((m) => [m.id, m]));
  state.participants = new Map((d.participants || []).map((p) => [p.user_id, p]));
  stage.setRoster(d.stage);
  startChat();
  // Direct messages of one's own come with "you"; keep those already known.
  drawAll();
}

function you(d) {
  state.you = d;
  state.myVotes = new Set(d.votes);
  state.myQuestions = new Map(d.questions.map((q) => [q.id, q]));
  for (const m of d.direct) state.chat.set(m.id, m);
  stage.setYou(d);
  drawAll();
  // Tests and assistive tools can tell the room has been drawn from the server's state.
  root.dataset.ready = "true";
}

function question(q) {
  if (state.you && q.author_id === state.you.user_id) state.myQuestions.set(q.id, q);
  if (q.status === "dismissed" && !runsRoom) state.questions.delete(q.id);
  else state.questions.set(q.id, q);
  drawQuestions();
}

function hand(h) {
  if (runsRoom) state.hands.set(h.user_id, h);
  if (state.you && h.user_id === state.you.user_id) state.you.hand = h;
  drawHands();
}

function handLowered(id) {
  state.hands.delete(id);
  if (state.you && id === state.you.user_id) state.you.hand = null;
  drawHands();
}

function participant(p) {
  if (runsRoom) state.participants.set(p.user_id, p);
  if (state.you && p.user_id === state.you.user_id) {
    state.you.standing = { muted: p.muted, chat_restricted: p.chat_restricted, questions_restricted: p.questions_restricted, can_speak: p.can_speak, banned: p.banned };
    stage.setYou(state.you);
  }
  drawPeople();
  drawStanding();
}

function chat(m, fresh) {
  state.chat.set(m.id, m);
  if (fresh) {
    const kind = m.kind === "direct" ? "direct" : "group";
    for (const tab of ["all", kind]) if (tab !== state.tab) state.unread[tab] += 1;
  }
  drawChat();
}

function endingSoon({ minutes_left }) {
  const text = minutes_left === 1 ? "1 minute left: the event ends automatically." : `${minutes_left} minutes left.`;
  $("banners").replaceChildren(el("div", { class: `alert ending m${minutes_left}`, role: "alert" }, el("strong", {}, text)));
}

let burstTimer = null;
function reactions(counts) {
  const parts = Object.entries(counts).map(([emoji, n]) => `${emoji} ${n}`);
  const burst = $("reaction-burst");
  burst.textContent = parts.join("  ");
  burst.classList.add("show");
  clearTimeout(burstTimer);
  burstTimer = setTimeout(() => burst.classList.remove("show"), 2000);
}

// --- drawing ---------------------------------------------------------------------------------
function drawAll() {
  drawStatus();
  drawPresence();
  drawPeople();
  drawQuestions();
  drawHands();
  drawChat();
  drawChatSettings();
  drawStanding();
}

const LABELS = { scheduled: "Scheduled", staging: "Green room", live: "Live", ended: "Ended", cancelled: "Cancelled" };

function drawStatus() {
  const { status } = state.clock;
  root.dataset.status = status;
  const badge = $("room-status");
  badge.textContent = LABELS[status] || status;
  badge.className = `badge status-${status}`;
  $("recording").hidden = !state.clock.recording;
  const before = status === "scheduled" || status === "staging";
  const over = status === "ended" || status === "cancelled";
  $("waiting").hidden = !(before && !runsRoom);
  $("ended").hidden = !over;
  if (status === "cancelled") {
    $("ended-title").textContent = "This event was cancelled";
    $("ended-text").textContent = "The organizer cancelled it. Registrants get an email.";
  }
  $("room-main").hidden = (before && !runsRoom) || (over && !runsRoom) || stopped;
  for (const f of root.querySelectorAll("[data-when]")) f.hidden = f.dataset.when !== status;
  for (const b of root.querySelectorAll("[data-extend]")) b.disabled = Number(b.dataset.extend) > state.clock.extendable_minutes;
  const hint = $("extend-hint");
  if (hint) hint.textContent = status === "live" ? `It can run ${state.clock.extendable_minutes} more minutes at most.` : "";
  if (over) $("banners").replaceChildren();
  tick();
}

function mmss(ms) {
  const s = Math.max(0, Math.floor(ms / 1000));
  const d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
  const pad = (n) => String(n).padStart(2, "0");
  const clock = h > 0 || d > 0 ? `${h}:${pad(m)}:${pad(sec)}` : `${pad(m)}:${pad(sec)}`;
  return d > 0 ? `${d} d ${clock}` : clock;
}

function tick() {
  const { status, starts_at, ends_at, stops_at } = state.clock;
  const now = Date.now() + skew;
  const clock = $("clock");
  const end = stops_at || ends_at;
  if (status === "live") {
    $("clock-elapsed").textContent = mmss(now - (state.clock.live_at || starts_at));
    const left = end - now;
    $("clock-left").textContent = mmss(left);
    // Amber from the 5-minute warning on, red from the 1-minute one.
    clock.classList.toggle("warn", left <= 5 * 60000 && left > 60000);
    clock.classList.toggle("danger", left <= 60000);
  } else {
    $("clock-elapsed").textContent = "—";
    $("clock-left").textContent = status === "ended" ? "Ended" : "—";
    clock.classList.remove("warn", "danger");
  }
}

function drawPresence() {
  const c = $("presence-count");
  if (c) c.textContent = String(state.presence);
}

const ROLE = { presenter: "Presenter", moderator: "Moderator", attendee: "Attendee" };

// Whose moderation menus are open: redrawing the list keeps them open.
const openModeration = new Set();

function moderationButtons(userId, name) {
  const p = state.participants.get(userId) || {};
  const act = (type, extra = {}) => () => send(type, { user_id: userId, ...extra });
  return el("details", { class: "moderate", open: openModeration.has(userId), ontoggle: (e) => { if (e.currentTarget.open) openModeration.add(userId); else openModeration.delete(userId); } }, el("summary", {}, "Moderate", el("span", { class: "visually-hidden" }, ` ${name}`)), el("span", { class: "row-actions" },
    button(p.muted ? "Unmute" : "Mute", act(p.muted ? ACTION.UNMUTE : ACTION.MUTE), "secondary small", { "aria-label": `${p.muted ? "Unmute" : "Mute"} ${name}` }),
    button(p.chat_restricted ? "Allow chat" : "Restrict chat", act(ACTION.RESTRICT, { chat: !p.chat_restricted, questions: !!p.questions_restricted }), "secondary small", { "aria-label": `${p.chat_restricted ? "Allow chat for" : "Restrict chat for"} ${name}` }),
    button(p.questions_restricted ? "Allow questions" : "Restrict questions", act(ACTION.RESTRICT, { chat: !!p.chat_restricted, questions: !p.questions_restricted }), "secondary small", { "aria-label": `${p.questions_restricted ? "Allow questions for" : "Restrict questions for"} ${name}` }),
    button(p.can_speak ? "Revoke speaking" : "Invite to speak", act(p.can_speak ? ACTION.REVOKE_SPEAK : ACTION.GRANT_SPEAK), "secondary small", { "aria-label": `${p.can_speak ? "Revoke speaking for" : "Invite to speak:"} ${name}` }),
    button("Kick", () => { if (confirm(`Remove ${name} from the room? They can come back.`)) act(ACTION.KICK)(); }, "danger small", { "aria-label": `Kick ${name}` }),
    button("Ban", () => {
      const reason = prompt(`Ban ${name} from this event? Optional reason (shown to presenters):`, "");
      if (reason !== null) send(ACTION.BAN, { user_id: userId, reason: reason.slice(0, 200) });
    }, "danger small", { "aria-label": `Ban ${name}` }),
  ));
}

function drawPeople() {
  const list = $("people");
  if (!list) return;
  const people = [...state.people.values()].sort((a, b) => (a.role === "attendee") - (b.role === "attendee") || a.name.localeCompare(b.name));
  list.replaceChildren(...people.map((p) => el("li", {},
    el("span", { class: "who" }, p.name, " ", el("span", { class: `badge role-${p.role}` }, ROLE[p.role] || p.role)),
    p.role === "attendee" ? moderationButtons(p.user_id, p.name) : null)));
  if (people.length === 0) list.append(el("li", { class: "muted" }, "Nobody yet."));
  const standings = $("standings");
  const rows = [...state.participants.values()].filter((p) => p.banned || p.muted || p.chat_restricted || p.questions_restricted || p.can_speak);
  standings.replaceChildren(...rows.map((p) => {
    const flags = [p.banned && `banned${p.ban_reason ? ` (${p.ban_reason})` : ""}`, p.muted && "muted", p.chat_restricted && "no chat", p.questions_restricted && "no questions", p.can_speak && "may speak"].filter(Boolean);
    return el("li", {}, el("span", { class: "who" }, `${p.name}: ${flags.join(", ")}`),
      p.banned ? button("Unban", () => send(ACTION.UNBAN, { user_id: p.user_id }), "secondary small", { "aria-label": `Unban ${p.name}` }) : null);
  }));
  if (rows.length === 0) standings.append(el("li", { class: "muted" }, "No restrictions or bans."));
}

function questionItem(q) {
  const mine = state.you && q.author_id === state.you.user_id;
  const voted = state.myVotes.has(q.id);
  const item = el("li", { class: `question ${q.status}${q.pinned ? " pinned" : ""}`, "data-question": q.id },
    el("p", { class: "q-text" }, q.text),
    el("p", { class: "meta" }, `${q.author} · ${timeFmt.format(q.asked_at)} · `, el("span", { class: "votes" }, `${q.votes} vote${q.votes === 1 ? "" : "s"}`),
      q.status !== "queued" ? el("span", { class: `badge q-${q.status}` }, q.status) : null,
      q.pinned ? el("span", { class: "badge warn" }, "Pinned") : null),
    q.answer ? el("p", { class: "answer" }, el("strong", {}, "Answer: "), q.answer) : null);
  const actions = el("div", { class: "row-actions" });
  if (!runsRoom && state.you && state.you.user_id && q.status !== "dismissed") {
    actions.append(button(voted ? "Upvoted" : "Upvote", () => send(ACTION.UPVOTE, { question_id: q.id }), "secondary small",
      { disabled: mine || voted, "aria-label": mine ? "You cannot upvote your own question" : `Upvote: ${q.text.slice(0, 60)}` }));
  }
  if (runsRoom) {
    if (q.status !== "dismissed") {
      actions.append(button(q.pinned ? "Unpin" : "Pin", () => send(q.pinned ? ACTION.UNPIN : ACTION.PIN, { question_id: q.id }), "secondary small", { "aria-label": `${q.pinned ? "Unpin" : "Pin"}: ${q.text.slice(0, 60)}` }));
      actions.append(button("Answer", () => answerForm(item, q), "small", { "aria-label": `Answer: ${q.text.slice(0, 60)}` }));
    }
    if (q.status === "queued") actions.append(button("Dismiss", () => send(ACTION.DISMISS, { question_id: q.id }), "secondary small", { "aria-label": `Dismiss: ${q.text.slice(0, 60)}` }));
  }
  if (mine && q.status === "dismissed") actions.append(el("span", { class: "muted" }, "A presenter dismissed your question."));
  if (actions.childElementCount) item.append(actions);
  return item;
}

function answerForm(item, q) {
  if (item.querySelector("form")) return;
  const id = `answer-${q.id}`;
  const text = el("textarea", { id, maxlength: "2000", rows: "2", required: true });
  const form = el("form", { class: "compose" }, el("label", { for: id }, "Your answer (shown to everyone)"), text, el("button", { type: "submit" }, "Send answer"));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    if (send(ACTION.ANSWER, { question_id: q.id, text: text.value })) form.remove();
  });
  item.append(form);
  text.focus();
}

function drawQuestions() {
  const list = $("questions");
  let qs = [...state.questions.values()];
  if (!runsRoom) for (const q of state.myQuestions.values()) if (q.status === "dismissed") qs.push(q);
  if (runsRoom) {
    const filter = $("q-filter").value;
    // By default answered questions stay: pinning the one being answered is the usual case.
    if (filter === "open") qs = qs.filter((q) => q.status !== "dismissed");
    else if (filter !== "all") qs = qs.filter((q) => q.status === filter);
    const byVotes = document.querySelector("input[name=q-sort]:checked").value === "votes";
    qs.sort((a, b) => (byVotes ? b.votes - a.votes : 0) || a.asked_at - b.asked_at);
  } else {
    qs.sort((a, b) => b.votes - a.votes || a.asked_at - b.asked_at);
  }
  const pinned = [...state.questions.values()].find((q) => q.pinned);
  $("pinned").replaceChildren(...(pinned ? [el("p", { class: "pin-note" }, el("strong", {}, "Pinned: "), pinned.text, ` (${pinned.author})`)] : []));
  list.replaceChildren(...qs.map(questionItem));
  if (qs.length === 0) list.append(el("li", { class: "muted" }, "No questions yet."));
}

function drawHands() {
  const mine = $("hand-button");
  if (mine && state.you) {
    const h = state.you.hand;
    mine.textContent = h ? "Lower hand" : "Raise hand";
    mine.dataset.raised = String(!!h);
    mine.setAttribute("aria-pressed", String(!!h));
    $("hand-state").textContent = h ? (h.acknowledged ? "A presenter saw your hand." : "Your hand is raised.") : "";
  }
  const list = $("hands");
  if (!list) return;
  const hands = [...state.hands.values()].sort((a, b) => a.raised_at - b.raised_at);
  $("hands-count").textContent = String(hands.length);
  list.replaceChildren(...hands.map((h) => el("li", { class: h.acknowledged ? "acknowledged" : "" },
    el("span", { class: "who" }, h.name, h.acknowledged ? el("span", { class: "badge ok" }, "Seen") : null),
    el("span", { class: "row-actions" },
      h.acknowledged ? null : button("Acknowledge", () => send(ACTION.ACKNOWLEDGE_HAND, { user_id: h.user_id }), "small", { "aria-label": `Acknowledge ${h.name}` }),
      button("Invite to speak", () => send(ACTION.GRANT_SPEAK, { user_id: h.user_id }), "secondary small", { "aria-label": `Invite ${h.name} to speak` }),
      button("Dismiss", () => send(ACTION.DISMISS_HAND, { user_id: h.user_id }), "secondary small", { "aria-label": `Dismiss ${h.name}'s hand` })))));
  if (hands.length === 0) list.append(el("li", { class: "muted" }, "No hands raised."));
  $("lower-all").disabled = hands.length === 0;
}

function drawStanding() {
  const box = $("my-standing");
  if (!box || !state.you) return;
  const s = state.you.standing || {};
  const notes = [s.muted && "A presenter muted you.", s.chat_restricted && "A presenter turned chat off for you.", s.questions_restricted && "A presenter turned questions off for you.", s.can_speak && "You are invited to speak."].filter(Boolean);
  box.textContent = notes.join(" ");
}

function chatItem(m) {
  const isDirect = m.kind === "direct";
  const toLabel = isDirect ? (m.to ? ` → ${m.to}` : " → presenters") : "";
  const item = el("li", { class: `msg ${m.kind}` },
    el("p", { class: "meta" }, el("strong", {}, m.author), m.author_role === "presenter" ? el("span", { class: "badge role-presenter" }, "Presenter") : null,
      toLabel, " · ", el("time", { datetime: new Date(m.sent_at).toISOString() }, timeFmt.format(m.sent_at))),
    el("p", { class: "msg-text" }, m.text));
  if (runsRoom && m.kind !== "system") {
    const actions = el("span", { class: "row-actions" });
    if (isDirect && m.author_role !== "presenter" && m.author_id) actions.append(button("Reply", () => replyTo(m.author_id, m.author), "secondary small", { "aria-label": `Reply to ${m.author}` }));
    actions.append(button("Delete", () => send(ACTION.DELETE_MESSAGE, { message_id: m.id }), "secondary small", { "aria-label": `Delete message from ${m.author}` }));
    item.append(actions);
  }
  return item;
}

function replyTo(userId, name) {
  const select = $("chat-to");
  const value = `reply:${userId}`;
  if (![...select.options].some((o) => o.value === value)) select.append(el("option", { value }, `Reply to ${name} only`));
  select.value = value;
  $("chat-text").focus();
}

function drawChat() {
  const log = $("chat-log");
  const panel = $("chat-panel");
  const stick = panel.scrollHeight - panel.scrollTop - panel.clientHeight < 40;
  const msgs = [...state.chat.values()].sort((a, b) => a.sent_at - b.sent_at || (a.id < b.id ? -1 : 1))
    .filter((m) => state.tab === "all" || (state.tab === "direct" ? m.kind === "direct" : m.kind !== "direct"));
  log.replaceChildren(...msgs.slice(-300).map(chatItem));
  if (msgs.length === 0) log.append(el("li", { class: "muted" }, "No messages yet."));
  if (stick) panel.scrollTop = panel.scrollHeight;
  for (const [tab, n] of Object.entries(state.unread)) {
    const badge = root.querySelector(`[data-unread=${tab}]`);
    badge.textContent = n > 0 ? String(n) : "";
    badge.setAttribute("aria-label", n > 0 ? `${n} unread` : "");
  }
}

function drawChatSettings() {
  const box = $("chat-open");
  if (box) box.checked = state.chatOpen;
  const to = $("chat-to");
  if (!runsRoom && to) {
    // Never change whom she writes to behind her back: say what happens instead.
    const group = [...to.options].find((o) => o.value === "group");
    group.textContent = state.chatOpen ? "Everyone" : "Everyone (chat is off)";
    drawChatNote();
  }
}

function drawChatNote() {
  const note = $("chat-note");
  if (!note) return;
  const closed = !state.chatOpen && $("chat-to").value === "group";
  note.textContent = closed
    ? "The presenters turned group chat off, so messages to everyone are not sent. You can still write to the presenters only."
    : "";
}

// --- controls --------------------------------------------------------------------------------
/** The green room, go-live and end buttons change the event without leaving the room: the
 * new status arrives on the socket like everyone else's. */
function stepInPlace(form) {
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const buttons = form.querySelectorAll("button[type=submit]");
    try {
      const r = await fetch(form.action, { method: "POST", body: new URLSearchParams(new FormData(form)), credentials: "same-origin" });
      if (!r.ok) showError(r.status === 409 ? "The event changed meanwhile; the page shows where it is now." : `That did not work (${r.status}); try again.`);
    } catch {
      showError("The server could not be reached; try again in a moment.");
    } finally {
      for (const b of buttons) { b.disabled = false; b.removeAttribute("aria-busy"); }
    }
  });
}

function wire() {
  for (const form of root.querySelectorAll("form[data-when]")) stepInPlace(form);
  for (const b of root.querySelectorAll("[data-emoji]")) b.addEventListener("click", () => send(ACTION.REACT, { emoji: b.dataset.emoji }));
  for (const b of root.querySelectorAll("[data-extend]")) b.addEventListener("click", () => send(ACTION.EXTEND, { minutes: Number(b.dataset.extend) }));
  $("hand-button")?.addEventListener("click", (e) => send(e.currentTarget.dataset.raised === "true" ? ACTION.LOWER_HAND : ACTION.RAISE_HAND));
  $("lower-all")?.addEventListener("click", () => send(ACTION.LOWER_ALL_HANDS));
  $("chat-open")?.addEventListener("change", (e) => send(ACTION.SET_CHAT, { open: e.currentTarget.checked }));
  $("q-filter")?.addEventListener("change", drawQuestions);
  for (const r of root.querySelectorAll("input[name=q-sort]")) r.addEventListener("change", drawQuestions);
  const ask = $("ask-form");
  ask?.addEventListener("submit", (e) => {
    e.preventDefault();
    const t = $("ask-text");
    if (send(ACTION.ASK, { text: t.value })) t.value = "";
    counter();
  });
  const counter = () => { const t = $("ask-text"); if (t) $("ask-count").textContent = `${t.value.length} of 1,000 characters.`; };
  $("ask-text")?.addEventListener("input", counter);
  $("chat-form")?.addEventListener("submit", (e) => {
    e.preventDefault();
    const t = $("chat-text");
    const to = $("chat-to").value;
    // Kept as typed until she chooses someone who can receive it.
    if (to === "group" && !state.chatOpen && !runsRoom) return drawChatNote();
    const sent = to === "group" ? send(ACTION.CHAT, { text: t.value })
      : to === "direct" ? send(ACTION.DIRECT, { text: t.value })
      : send(ACTION.REPLY, { user_id: to.slice("reply:".length), text: t.value });
    if (sent) t.value = "";
  });
  $("chat-to")?.addEventListener("change", drawChatNote);
  // Tabs: arrow keys move between them, as the ARIA tabs pattern expects.
  const tabs = [...root.querySelectorAll("[role=tab]")];
  const select = (tab) => {
    state.tab = tab.dataset.tab;
    state.unread[state.tab] = 0;
    for (const t of tabs) {
      const on = t === tab;
      t.setAttribute("aria-selected", String(on));
      t.tabIndex = on ? 0 : -1;
    }
    $("chat-panel").setAttribute("aria-labelledby", tab.id);
    drawChat();
  };
  tabs.forEach((t, i) => {
    t.addEventListener("click", () => select(t));
    t.addEventListener("keydown", (e) => {
      const d = e.key === "ArrowRight" ? 1 : e.key === "ArrowLeft" ? -1 : 0;
      if (!d) return;
      const next = tabs[(i + d + tabs.length) % tabs.length];
      next.focus();
      select(next);
    });
  });
}

const stage = new Stage({
  eventId, runsRoom, area: $("stage-area"), panel: $("media-panel"), showError, send,
  names: (id) => { const p = state.people.get(id); return p && p.name; },
});
// The page's media state, for the browser's console (support) and the browser tests.
window.meetstage = { stage };
wire();
drawStatus();
setInterval(tick, 1000);
connect();
