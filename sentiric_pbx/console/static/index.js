// Live calls, pushed by the daemon (Server-Sent Events), and the newest stored calls.
"use strict";
header("/");
let live = { calls: [] };
let known = new Set();

function liveCard(c) {
  const started = c.started_at;
  return el("div", { class: "card live-call", dataset: { callId: c.call_id, state: c.state } },
    el("div", {}, el("strong", {}, caller(c)), " ", el("span", { class: "muted small" }, c.ingress)),
    el("div", {}, el("span", { class: `state ${c.state}` }, c.state), " · ",
      el("span", { class: "duration", dataset: { started } }, seconds(Date.now() / 1000 - started))),
    el("ol", { class: "turns small" }, c.turns.map((t) => el("li", { dataset: { who: t.who } },
      el("span", { class: `who ${t.who}` }, `${t.who}: `), t.text,
      t.latency_ms != null ? el("span", { class: "muted" }, ` (${ms(t.latency_ms)})`) : null))),
    el("div", { class: "muted small latencies" },
      c.reply_latency_ms.length ? `reply latency: ${c.reply_latency_ms.map(ms).join(", ")}` : "no reply yet"));
}

function renderLive() {
  const box = document.getElementById("live");
  box.replaceChildren(...(live.calls.length ? live.calls.map(liveCard)
    : [el("p", { class: "muted", id: "no-live" }, "No call in progress.")]));
  const ids = new Set(live.calls.map((c) => c.call_id));
  const ended = [...known].some((id) => !ids.has(id));
  const started = [...ids].some((id) => !known.has(id));
  known = ids;
  if (ended || started) loadRecent();
}

// A link to the PBX that is down: what the daemon says of it, and what fails until it is back.
function linkDown(id, title, state, until) {
  return [el("div", { class: "card alert fail", id }, el("strong", {}, title), state, " Until then ", until)];
}

// What the daemon found wrong outside any call: a dialplan that sends calls elsewhere reaches no call page.
async function loadAlerts() {
  const health = await api("/api/health");
  const d = health.dialplan, ami = health.ami, ari = health.ari, fs = health.freeswitch;
  const reconnects = (link) => `not connected to ${link.address}; it reconnects by itself.`;
  const box = document.getElementById("alerts");
  box.dataset.checked = "yes";
  box.replaceChildren(
    ...(ami && !ami.connected ? linkDown("ami-alert", "Asterisk AMI: ", reconnects(ami),
      "AudioSocket calls cannot be transferred, and get caller ID only from a FastAGI step (the log says why: "
      + "ami_unreachable, ami_login_failed or ami_disconnected).") : []),
    ...(ari && !ari.connected ? linkDown("ari-alert", "Asterisk ARI: ", reconnects(ari),
      `a call the dialplan sends to Stasis(${ari.app}) is not answered (the log says why: ari_connection_state).`)
      : []),
    ...(fs && !fs.connected ? linkDown("freeswitch-alert", "FreeSWITCH Event Socket: ",
      fs.reason === "refused" ? `${fs.address} refused our password ([freeswitch] esl_password must match `
        + "event_socket.conf.xml); it keeps trying." : reconnects(fs),
      "a call parked for us is not answered (the log says why: esl_connection_state).") : []),
    ...(d && d.status !== "ok" ? [el("div", { class: `card alert ${d.status}`, id: "dialplan-alert" },
      el("strong", {}, "Asterisk's dialplan: "), d.detail, d.hint ? el("div", { class: "small" }, d.hint) : null)] : []));
}

async function loadRecent() {
  const data = await api("/api/calls?limit=10");
  document.getElementById("recent").replaceChildren(
    data.calls.length ? callTable(data.calls) : el("p", { class: "muted" }, "No calls yet."));
}

function connect() {
  const status = document.getElementById("live-status");
  const source = new EventSource("/api/live/events");
  source.onopen = () => { status.textContent = "live"; };
  source.onmessage = (event) => { live = JSON.parse(event.data); renderLive(); };
  source.onerror = () => { status.textContent = "reconnecting…"; };
}

setInterval(() => {
  for (const node of document.querySelectorAll(".duration")) {
    node.textContent = seconds(Date.now() / 1000 - Number(node.dataset.started));
  }
}, 1000);
loadRecent();
loadAlerts();
setInterval(loadAlerts, 30000);
connect();
