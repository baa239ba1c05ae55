// Small DOM and HTTP helpers shared by the pages. Text always goes in through textContent (never
// innerHTML), so names and captions from run folders cannot inject markup.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

// A POST must carry this header: pages of other origins cannot send it (see server.py).
const HEADERS = { "X-Worldsmith-Studio": "1" };

export async function api(path, options = {}) {
  // GETs go out bare, so that they match the page's <link rel=preload> of /api/runs.
  const extra = options.method && options.method !== "GET" ? HEADERS : {};
  const init = { ...options, headers: { ...extra, ...(options.headers || {}) } };
  const res = await fetch(path, init);
  let body = null;
  try { body = await res.json(); } catch { body = null; }
  if (!res.ok) throw new Error((body && body.error) || `${res.status} ${res.statusText}`);
  return body;
}

export function fmt(v) {
  if (typeof v === "number") {
    if (Number.isInteger(v)) return String(v);
    const a = Math.abs(v);
    return a !== 0 && (a < 1e-3 || a >= 1e5) ? v.toExponential(3) : v.toFixed(4).replace(/\.?0+$/, "");
  }
  if (v === null || v === undefined) return "";
  return typeof v === "object" ? JSON.stringify(v) : String(v);
}

export function table(rows, { className = "" } = {}) {
  const cols = [];
  for (const r of rows) for (const k of Object.keys(r)) if (!cols.includes(k)) cols.push(k);
  return h("table", { class: className },
    h("thead", {}, h("tr", {}, cols.map((c) => h("th", {}, c)))),
    h("tbody", {}, rows.map((r) => h("tr", {}, cols.map((c) => h("td", {}, fmt(r[c])))))));
}

export function details(summary, body, open = false) {
  return h("details", { open }, h("summary", {}, summary), body);
}

export function errorBox(message) {
  return h("p", { class: "error", role: "alert" }, message);
}

export function statusBadge(status) {
  return h("span", { class: `badge ${status}` }, status);
}

export function seconds(s) {
  if (typeof s !== "number") return "";
  if (s < 60) return `${s.toFixed(1)} s`;
  if (s < 3600) return `${(s / 60).toFixed(1)} min`;
  return `${(s / 3600).toFixed(2)} h`;
}
