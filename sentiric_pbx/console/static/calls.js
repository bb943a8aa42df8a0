// The call list: filters in the address bar (a filtered list can be bookmarked or sent), pages of 50.
"use strict";
header("/calls");
const PAGE = 50;
const form = document.getElementById("filters");

function query() { return new URLSearchParams(location.search); }

async function load() {
  const q = query();
  for (const field of form.elements) if (field.name) field.value = q.get(field.name) || "";
  const offset = Number(q.get("offset") || 0);
  q.set("limit", PAGE);
  const data = await api(`/api/calls?${q}`);
  document.getElementById("list").replaceChildren(
    data.calls.length ? callTable(data.calls) : el("p", { class: "muted" }, "No calls match."));
  document.getElementById("page").textContent =
    data.total ? `${offset + 1}–${offset + data.calls.length} of ${data.total}` : "";
  document.getElementById("prev").disabled = offset === 0;
  document.getElementById("next").disabled = offset + data.calls.length >= data.total;
}

function go(params) { history.pushState(null, "", `/calls?${params}`); load(); }

form.addEventListener("submit", (event) => {
  event.preventDefault();
  const params = new URLSearchParams();
  for (const field of form.elements) if (field.name && field.value) params.set(field.name, field.value);
  go(params);
});
for (const [id, step] of [["prev", -PAGE], ["next", PAGE]]) {
  document.getElementById(id).addEventListener("click", () => {
    const q = query();
    q.set("offset", Math.max(0, Number(q.get("offset") || 0) + step));
    go(q);
  });
}
window.addEventListener("popstate", load);
load();
