// One call: summary, the stereo recording (waveform + player), the transcript (click a turn to hear it),
// reply latency per turn split into its stages, the post-call jobs.
"use strict";
header("/calls");
const callId = decodeURIComponent(location.pathname.split("/").pop());
const STAGES = [
  ["end_of_turn_ms", "end-of-turn wait", "#8b8b83"],
  ["stt_ms", "STT", "#0f8a5f"],
  ["nlu_ms", "NLU", "#a16207"],
  ["task", "task", "#c2410c"],
  ["llm_ms", "LLM", "#7c3aed"],
  ["tts_first_audio_ms", "TTS first audio", "#2463eb"],
  ["other_ms", "other (playout, queueing, not split)", "#cbd5e1"],
];
window.consoleState = { wavesurfer: null, chart: null, waveform: "pending" };

function facts(dl, pairs) {
  dl.replaceChildren(...pairs.filter(([, v]) => v !== null && v !== undefined && v !== "")
    .flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
}

function sentiment(a) {
  if (!a || a.caller_sentiment === null || a.caller_sentiment === undefined) return null;
  return `${a.caller_sentiment >= 0 ? "+" : ""}${a.caller_sentiment.toFixed(2)} (${a.caller_sentiment_label})`;
}

function booking(b, timeZone) {
  if (!b) return null;
  const start = new Date(b.start_ts * 1000).toLocaleString([], { dateStyle: "medium", timeStyle: "short", timeZone });
  return `${start}${b.name ? ` for ${b.name}` : ""}${b.cancelled_at ? " (cancelled)" : ""}`;
}

function render(d) {
  const c = d.call;
  document.title = `${c.caller_id || "anonymous"} · call · sentiric-pbx`;
  document.getElementById("title").replaceChildren(`Call from ${caller({ ...c, caller_name: d.caller_name })} `,
    badge(c.status));
  facts(document.getElementById("summary"), [
    ["summary", d.summary || "–"], ["outcome", c.outcome || "–"], ["booked", booking(d.booking, d.timezone)],
    ["intents", d.intents.join(", ")], ["caller sentiment", sentiment(d.analytics)],
  ]);
  const a = d.analytics || {};
  facts(document.getElementById("facts"), [
    ["started", when(c.started_at)], ["duration", seconds(c.duration_s)], ["ingress", d.ingress],
    ["language", d.language], ["latency p50 / p95", a.latency_p50_ms != null ? `${ms(a.latency_p50_ms)} / ${ms(a.latency_p95_ms)}` : null],
    ["talk caller / agent", a.caller_talk_s != null ? `${a.caller_talk_s.toFixed(1)} s / ${a.agent_talk_s.toFixed(1)} s` : null],
    ["interruptions", a.interruptions], ["call id", c.call_id],
  ]);
  renderTranscript(d);
  renderLatency(d.latency);
  document.getElementById("jobs").replaceChildren(d.jobs.length ? el("table", {},
    el("thead", {}, el("tr", {}, ["job", "state", "attempts", "last error"].map((h) => el("th", {}, h)))),
    el("tbody", {}, d.jobs.map((j) => el("tr", {}, el("td", {}, j.kind), el("td", {}, badge(j.status)),
      el("td", {}, j.attempts), el("td", {}, j.last_error || "–"))))) : el("p", { class: "muted" }, "No post-call jobs."));
  if (d.recording_url) renderRecording(d.recording_url);
  else {
    const none = document.getElementById("no-recording");
    if (d.recording_error) none.textContent = `no recording: it could not be written (${d.recording_error})`;
    none.hidden = false;
    window.consoleState.waveform = "none";
  }
}

function renderTranscript(d) {
  const list = document.getElementById("transcript");
  list.replaceChildren(...d.turns.map((t, i) => el("li", {
    dataset: { turn: i, start: t.start_s, end: t.end_s },
    title: "play from here",
    onclick: () => seek(t.start_s),
  }, el("span", { class: "at muted" }, clock(t.start_s)), el("span", { class: `who ${t.who}` }, t.who),
  el("span", {}, t.text, t.interrupted ? el("em", { class: "muted" }, " [interrupted]") : null,
    t.latency_ms != null ? el("span", { class: "lat" }, ` · replied in ${ms(t.latency_ms)}`) : null))));
}

function seek(at) {
  const ws = window.consoleState.wavesurfer;
  if (!ws) return;
  ws.setTime(at);
  ws.play();
}

function renderRecording(url) {
  const styles = getComputedStyle(document.documentElement);
  const ws = WaveSurfer.create({
    container: "#waveform",
    url,
    height: 60,
    splitChannels: [
      { waveColor: styles.getPropertyValue("--caller").trim(), progressColor: "#555" },
      { waveColor: styles.getPropertyValue("--agent").trim(), progressColor: "#555" },
    ],
    normalize: false,
    fetchParams: { credentials: "same-origin", cache: "no-store" },
  });
  window.consoleState.wavesurfer = ws;
  const play = document.getElementById("play");
  const time = document.getElementById("time");
  ws.on("ready", () => { play.disabled = false; window.consoleState.waveform = "ready"; });
  ws.on("error", (err) => { window.consoleState.waveform = `error: ${err}`; });
  ws.on("play", () => { play.textContent = "Pause"; });
  ws.on("pause", () => { play.textContent = "Play"; });
  ws.on("timeupdate", (t) => {
    time.textContent = `${clock(t)} / ${clock(ws.getDuration())}`;
    for (const li of document.querySelectorAll("#transcript li")) {
      li.classList.toggle("playing", t >= Number(li.dataset.start) && t < Number(li.dataset.end));
    }
  });
  play.addEventListener("click", () => ws.playPause());
}

function renderLatency(replies) {
  const note = document.getElementById("latency-note");
  if (!replies.length) { note.textContent = "No replies to the caller in this call."; return; }
  note.textContent = "Each bar: the caller's end of speech → our first audio. Stages whose stored timings do not "
    + "line up with the turns are counted in \"other\".";
  window.consoleState.chart = new Chart(document.getElementById("latency"), {
    type: "bar",
    data: {
      labels: replies.map((r, i) => `turn ${i + 1} @ ${clock(r.at_s)}`),
      datasets: STAGES.map(([key, label, color]) => ({
        label, backgroundColor: color, data: replies.map((r) => r.split[key] ?? 0),
      })),
    },
    options: {
      animation: false, maintainAspectRatio: false,
      scales: { x: { stacked: true }, y: { stacked: true, title: { display: true, text: "ms" } } },
      plugins: { tooltip: { callbacks: { footer: (items) => `total ${ms(replies[items[0].dataIndex].total_ms)}` } } },
      onClick: (_event, elements) => { if (elements.length) seek(replies[elements[0].index].at_s); },
    },
  });
}

api(`/api/calls/${encodeURIComponent(callId)}`).then(render).catch((err) => {
  document.getElementById("title").textContent = String(err).includes("404") ? "No such call" : String(err);
});
