// Calls per hour (stacked by status) and reply latency p50/p95 per hour, over the stored calls.
"use strict";
header("/overview");
const COLORS = { completed: "#0f8a5f", unfinished_call: "#d97706", transferred: "#7c3aed", failed: "#b91c1c",
  rejected_busy: "#9ca3af", active: "#2463eb" };

function hourLabel(ts) {
  return new Date(ts * 1000).toLocaleString([], { month: "short", day: "numeric", hour: "2-digit" });
}

api("/api/overview?days=7").then((data) => {
  const labels = data.hours.map((h) => hourLabel(h.hour));
  const statuses = [...new Set(data.hours.flatMap((h) => Object.keys(h.by_status)))];
  window.consoleState = {
    perHour: new Chart(document.getElementById("per-hour"), {
      type: "bar",
      data: { labels, datasets: statuses.map((s) => ({ label: s, backgroundColor: COLORS[s] || "#64748b",
        data: data.hours.map((h) => h.by_status[s] || 0) })) },
      options: { animation: false, maintainAspectRatio: false, plugins: { title: { display: true, text: "calls per hour" } },
        scales: { x: { stacked: true }, y: { stacked: true, ticks: { precision: 0 } } } },
    }),
    latency: new Chart(document.getElementById("latency-hour"), {
      type: "line",
      data: { labels, datasets: [
        { label: "p50", data: data.hours.map((h) => h.latency_p50_ms), borderColor: "#2463eb", spanGaps: true },
        { label: "p95", data: data.hours.map((h) => h.latency_p95_ms), borderColor: "#d97706", spanGaps: true },
      ] },
      options: { animation: false, maintainAspectRatio: false,
        plugins: { title: { display: true, text: "reply latency per hour (ms)" } } },
    }),
    engines: new Chart(document.getElementById("engines-hour"), {
      type: "line",
      data: { labels, datasets: [
        { label: "STT p95", data: data.hours.map((h) => h.engine_p95_ms.stt_ms), borderColor: "#0f8a5f", spanGaps: true },
        { label: "thinking p95", data: data.hours.map((h) => h.engine_p95_ms.think_ms), borderColor: "#7c3aed", spanGaps: true },
        { label: "TTS first audio p95", data: data.hours.map((h) => h.engine_p95_ms.tts_first_audio_ms), borderColor: "#2463eb", spanGaps: true },
      ] },
      options: { animation: false, maintainAspectRatio: false,
        plugins: { title: { display: true, text: "engine time per hour, p95 (ms): rising means a loaded host" } } },
    }),
  };
  const busy = data.hours.reduce((n, h) => n + h.busy_rejections, 0);
  const p = data.process;
  document.getElementById("process").replaceChildren(el("h2", {}, "Load"), el("table", {}, el("tbody", {},
    el("tr", {}, el("td", {}, "busy rejections (7 days, stored)"), el("td", { id: "busy" }, busy)),
    el("tr", {}, el("td", {}, "LLM fallbacks since the daemon started"), el("td", {}, p.llm_fallbacks)),
    el("tr", {}, el("td", {}, "replies with a filler since start"), el("td", {}, p.reply_fillers)),
    el("tr", {}, el("td", {}, "template replies instead of the model since start"), el("td", {}, p.responder_templates)),
    el("tr", {}, el("td", {}, "barge-ins since start"), el("td", {}, p.barge_ins)),
    el("tr", {}, el("td", {}, "daemon uptime"), el("td", {}, seconds(p.uptime_s))))));
  const rows = Object.entries(data.outcomes).sort((a, b) => b[1] - a[1]);
  document.getElementById("outcomes").replaceChildren(el("h2", {}, "Outcomes"), rows.length ? el("table", {},
    el("tbody", {}, rows.map(([k, n]) => el("tr", {}, el("td", {}, el("a", { href: `/calls?outcome=${encodeURIComponent(k)}` }, k)),
      el("td", {}, n))))) : el("p", { class: "muted" }, "No calls in the last 7 days."));
});
