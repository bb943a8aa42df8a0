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
  };
  const rows = Object.entries(data.outcomes).sort((a, b) => b[1] - a[1]);
  document.getElementById("outcomes").replaceChildren(el("h2", {}, "Outcomes"), rows.length ? el("table", {},
    el("tbody", {}, rows.map(([k, n]) => el("tr", {}, el("td", {}, el("a", { href: `/calls?outcome=${encodeURIComponent(k)}` }, k)),
      el("td", {}, n))))) : el("p", { class: "muted" }, "No calls in the last 7 days."));
});
