// A training curve as an SVG line chart: one series [[step, value], ...], log scale when asked.
import { fmt } from "./dom.js";

const NS = "http://www.w3.org/2000/svg";
const W = 360, H = 200, L = 56, R = 10, T = 22, B = 28;

function svg(tag, attrs, text) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  if (text !== undefined) el.textContent = text;
  return el;
}

export function lineChart(name, points, { log = false } = {}) {
  const pts = points.filter(([, y]) => Number.isFinite(y) && (!log || y > 0));
  const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart", role: "img", "aria-label": name });
  root.append(svg("text", { x: L, y: 14, class: "title" }, log ? `${name} (log)` : name));
  if (pts.length === 0) return root;
  const ty = (y) => (log ? Math.log10(y) : y);
  const xs = pts.map((p) => p[0]), ys = pts.map((p) => ty(p[1]));
  const x0 = Math.min(...xs), x1 = Math.max(...xs), y0 = Math.min(...ys), y1 = Math.max(...ys);
  const sx = (x) => L + ((x - x0) / (x1 - x0 || 1)) * (W - L - R);
  const sy = (y) => H - B - ((y - y0) / (y1 - y0 || 1)) * (H - T - B);
  root.append(svg("rect", { x: L, y: T, width: W - L - R, height: H - T - B, class: "frame" }));
  const line = pts.map(([x, y]) => `${sx(x).toFixed(1)},${sy(ty(y)).toFixed(1)}`).join(" ");
  root.append(svg("polyline", { points: line, class: "line" }));
  const back = (y) => (log ? 10 ** y : y);
  root.append(svg("text", { x: L - 4, y: T + 8, class: "tick end" }, fmt(back(y1))));
  root.append(svg("text", { x: L - 4, y: H - B, class: "tick end" }, fmt(back(y0))));
  root.append(svg("text", { x: L, y: H - 10, class: "tick" }, fmt(x0)));
  root.append(svg("text", { x: W - R, y: H - 10, class: "tick end" }, `step ${fmt(x1)}`));
  return root;
}
