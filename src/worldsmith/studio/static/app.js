// The Studio's pages, routed by the URL hash: #/runs, #/run/<id>, #/data, #/generate.
import { api, details, errorBox, fmt, h, seconds, statusBadge, table } from "./dom.js";
import { lineChart } from "./chart.js";
import { syncedPlayer } from "./player.js";
import { dataPage } from "./data.js";
import { generatePage } from "./generate.js";

const app = document.getElementById("app");
// index.html preloads /api/runs alongside the modules; take that response now (a later fetch could be
// handed the same, by then stale, preload): the page shown first uses it if it is the runs page.
let preloaded = api("/api/runs").catch(() => null);

function runLink(id) {
  return h("a", { href: `#/run/${encodeURI(id)}`, class: "run-link" }, id || "(runs root)");
}

async function runsPage() {
  const first = await preloaded;
  preloaded = null;
  const { root, runs } = first || (await api("/api/runs"));
  document.getElementById("root").textContent = root;
  const filter = h("input", { type: "search", placeholder: "filter by path, command or status", class: "filter" });
  const rows = runs.map((r) => h("tr", { "data-run": r.id, title: r.error || "" },
    h("td", {}, runLink(r.id)), h("td", {}, r.command), h("td", {}, statusBadge(r.status)),
    h("td", { class: "num" }, seconds(r.wall_time_s)), h("td", { class: "num" }, fmt(r.seed)),
    h("td", { class: "muted" }, r.started)));
  filter.addEventListener("input", () => {
    const q = filter.value.toLowerCase();
    runs.forEach((r, i) => {
      rows[i].hidden = q && ![r.id, r.command, r.status].join(" ").toLowerCase().includes(q);
    });
  });
  return [
    h("h1", {}, `Runs (${runs.length})`),
    runs.length ? filter : h("p", { class: "muted" }, "No run folders (with run.json) under this root yet."),
    h("table", { class: "runs" },
      h("thead", {}, h("tr", {}, ["run", "command", "status", "wall time", "seed", "started"].map((c) => h("th", {}, c)))),
      h("tbody", {}, rows)),
  ];
}

function curves(list) {
  const out = [];
  for (const c of list) {
    const keys = Object.keys(c.series);
    if (!keys.length) continue;
    const charts = keys.map((k) => {
      const log = /loss/.test(k) && c.series[k].every(([, y]) => y > 0);
      return lineChart(k, c.series[k], { log });
    });
    out.push(h("div", { class: "curves" }, h("h3", {}, `${c.name}/metrics.jsonl`), h("div", { class: "grid" }, charts)));
  }
  return out;
}

async function runPage(id) {
  const r = await api(`/api/runs/${encodeURI(id)}`);
  const facts = [
    ["command", r.command], ["status", statusBadge(r.status)], ["wall time", seconds(r.wall_time_s)],
    ["seed", fmt(r.seed)], ["started", r.started],
  ];
  const [first, ...rest] = r.tables;
  return [
    h("p", {}, h("a", { href: "#/runs" }, "← runs")),
    h("h1", {}, r.id || "(runs root)"),
    h("dl", { class: "facts" }, facts.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v)])),
    r.error ? errorBox(r.error) : null,
    r.reports.length ? h("p", {}, "Reports: ", r.reports.map((x) => h("a", { href: x.url, target: "_blank", rel: "noopener" }, x.label, " "))) : null,
    r.videos.length ? h("section", {}, h("h2", {}, "Videos"),
      r.videos.slice(0, r.players).map((g) => h("div", { class: "group" }, h("h3", {}, g.name), syncedPlayer(g))),
      r.videos.length > r.players ? details(`${r.videos.length - r.players} more video groups`,
        h("ul", {}, r.videos.slice(r.players).flatMap((g) => g.videos.map((v) => h("li", {}, h("a", { href: v.url }, v.url.replace(/^\/files\//, ""))))))) : null) : null,
    first ? h("section", {}, h("h2", {}, "Tables"), h("h3", {}, first.name), table(first.rows),
      rest.map((t) => details(`${t.name} (${t.rows.length} rows)`, table(t.rows)))) : null,
    r.curves.length ? h("section", {}, h("h2", {}, "Training curves"), curves(r.curves)) : null,
    r.images.length ? h("section", {}, h("h2", {}, "Images"),
      r.images.map((im) => h("figure", {}, h("img", { src: im.url, alt: im.label, loading: "lazy" }), h("figcaption", {}, im.label)))) : null,
    details("arguments", table(Object.entries(r.args).map(([k, v]) => ({ argument: k, value: v })))),
    details("versions", table(Object.entries(r.versions).map(([k, v]) => ({ library: k, version: v })))),
    r.truncated ? h("p", { class: "muted" }, "This run holds many files: only the first ones are shown.") : null,
  ];
}

async function route() {
  const hash = decodeURI(location.hash.replace(/^#\/?/, "")) || "runs";
  const [page, ...rest] = hash.split("/");
  for (const a of document.querySelectorAll("nav a")) a.classList.toggle("active", a.dataset.page === page || (page === "run" && a.dataset.page === "runs"));
  try {
    let nodes;
    if (page === "run") nodes = await runPage(rest.join("/"));
    else if (page === "data") nodes = await dataPage(rest.join("/"));
    else if (page === "generate") nodes = await generatePage();
    else nodes = await runsPage();
    app.replaceChildren(...[nodes].flat().filter(Boolean));
  } catch (err) {
    app.replaceChildren(errorBox(err.message));
  }
  preloaded = null;
}

window.addEventListener("hashchange", route);
route();
