// What every console page shares: fetching the API, formatting, and the header.
"use strict";

async function api(path) {
  const response = await fetch(path, { credentials: "same-origin", cache: "no-store" });
  if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
  return response.json();
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined) continue;
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(key, value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function when(ts) {
  if (ts === null || ts === undefined) return "–";
  return new Date(ts * 1000).toLocaleString([], { dateStyle: "short", timeStyle: "medium" });
}

function seconds(s) {
  if (s === null || s === undefined) return "–";
  s = Math.max(0, Math.round(s));
  const m = Math.floor(s / 60);
  return m ? `${m}:${String(s % 60).padStart(2, "0")}` : `${s} s`;
}

function clock(s) {
  s = Math.max(0, s || 0);
  return `${Math.floor(s / 60)}:${(s % 60).toFixed(1).padStart(4, "0")}`;
}

function ms(value) { return value === null || value === undefined ? "–" : `${Math.round(value)} ms`; }

function caller(c) {
  const name = c.caller_name || c.customer_name;
  return [c.caller_id || "anonymous", name ? `(${name})` : null].filter(Boolean).join(" ");
}

function badge(status) { return el("span", { class: `badge ${status}` }, status || "–"); }

function callRow(c) {
  return el("tr", { dataset: { callId: c.call_id } },
    el("td", {}, el("a", { href: `/calls/${encodeURIComponent(c.call_id)}` }, when(c.started_at))),
    el("td", {}, caller(c)),
    el("td", {}, badge(c.status)),
    el("td", {}, c.outcome || "–"),
    el("td", { class: "opt" }, c.ingress || "–"),
    el("td", { class: "opt" }, seconds(c.duration_s)),
    el("td", { class: "opt" }, c.turns ?? "–"));
}

function callTable(calls) {
  return el("table", { class: "calls" },
    el("thead", {}, el("tr", {}, ["Started", "Caller", "Status", "Outcome", "Ingress", "Duration", "Turns"].map(
      (h, i) => el("th", { class: i > 3 ? "opt" : null }, h)))),
    el("tbody", {}, calls.map(callRow)));
}

function header(here) {
  const links = [["/", "Live"], ["/calls", "Calls"], ["/overview", "Overview"]];
  document.body.prepend(el("header", {},
    el("span", { class: "brand" }, "sentiric-pbx console"),
    el("nav", {}, links.map(([href, text]) => el("a", { href, class: href === here ? "here" : null }, text)))));
}
