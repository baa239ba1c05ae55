// The Data page: a curated manifest's clips, filtered by bucket, scores and caption words; why each
// dropped clip was dropped; near-duplicate groups side by side.
import { api, errorBox, fmt, h } from "./dom.js";

function clipCard(r) {
  const scores = Object.entries(r).filter(([k, v]) => k.startsWith("score_") && v !== null);
  return h("div", { class: `clip ${r.kept ? "kept" : "dropped"}`, "data-clip": r.clip_id },
    r.url ? h("video", { src: r.url, controls: true, muted: true, loop: true, preload: "metadata" })
      : h("div", { class: "novideo muted" }, "no clip file"),
    h("div", { class: "clip-id" }, r.clip_id),
    h("div", { class: "caption" }, r.caption || h("span", { class: "muted" }, "(no caption)")),
    h("div", { class: "muted" }, `${r.width}×${r.height} · ${r.num_frames} frames · ${r.bucket || "no bucket"}`),
    scores.length ? h("div", { class: "scores" }, scores.map(([k, v]) => h("span", {}, `${k.slice(6)} ${fmt(v)}`))) : null,
    r.kept ? null : h("div", { class: "drop" }, `dropped by ${r.dropped_by}: ${r.drop_reason}`),
    r.group !== null && r.group !== undefined ? h("div", { class: "muted" }, `duplicate group ${r.group}`) : null);
}

function select(name, options, value) {
  return h("select", { name }, options.map(([v, text]) => h("option", { value: v, selected: v === value }, text)));
}

export async function dataPage(initial) {
  const { manifests } = await api("/api/manifests");
  if (!manifests.length) {
    return [h("h1", {}, "Data"), h("p", { class: "muted" },
      "No curated manifest (manifest.parquet / manifest.jsonl) under the runs root: run `worldsmith curate IN --out runs/NAME`.")];
  }
  const manifest = manifests.includes(initial) ? initial : manifests[0];
  const results = h("div", {});
  const form = h("form", { class: "filters" });
  let offset = 0;

  async function load() {
    const params = new URLSearchParams({ manifest, offset, limit: 60 });
    for (const [k, v] of new FormData(form)) if (v !== "" && k !== "manifest") params.set(k, v);
    try {
      const d = await api(`/api/data?${params}`);
      renderFilters(d);
      const pager = h("div", { class: "pager" },
        h("button", { type: "button", disabled: offset === 0, onclick: () => { offset = Math.max(0, offset - 60); load(); } }, "← previous"),
        h("span", { class: "muted" }, ` ${d.matched ? offset + 1 : 0}–${offset + d.rows.length} of ${d.matched} matching (${d.total} clips) `),
        h("button", { type: "button", disabled: offset + 60 >= d.matched, onclick: () => { offset += 60; load(); } }, "next →"));
      results.replaceChildren(pager, h("div", { class: "clips" }, d.rows.map(clipCard)),
        d.groups.length ? h("section", {}, h("h2", {}, "Near-duplicate groups"),
          d.groups.map((g) => h("div", { class: "dup-group" }, h("h3", {}, `group ${g.index}`),
            h("div", { class: "clips" }, g.clips.map(clipCard))))) : null);
    } catch (err) {
      results.replaceChildren(errorBox(err.message));
    }
  }

  let built = false;
  function renderFilters(d) {
    if (built) return;
    built = true;
    const f = d.facets;
    const scoreInputs = Object.entries(f.scores).map(([col, [lo, hi]]) =>
      h("label", {}, `${col.slice(6)} ≥ `, h("input", { name: `min_${col}`, type: "number", step: "any", placeholder: fmt(lo), title: `range ${fmt(lo)}…${fmt(hi)}` })));
    form.replaceChildren(
      h("label", {}, "manifest ", select("manifest", manifests.map((m) => [m, m || "(root)"]), manifest)),
      h("label", {}, "bucket ", select("bucket", [["", "any"], ...f.buckets.map((b) => [b, b])], "")),
      h("label", {}, "clips ", select("kept", [["", "all"], ["kept", "kept"], ["dropped", "dropped"]], "")),
      h("label", {}, "dropped by ", select("dropped_by", [["", "any"], ...f.dropped_by.map((b) => [b, b])], "")),
      h("label", {}, "caption ", h("input", { name: "q", type: "search", placeholder: "words in the caption" })),
      ...scoreInputs,
      h("button", { type: "submit" }, "filter"));
    form.elements.manifest.addEventListener("change", (e) => { location.hash = `#/data/${e.target.value}`; });
  }
  form.addEventListener("submit", (e) => { e.preventDefault(); offset = 0; load(); });
  await load();
  return [h("h1", {}, "Data"), form, results];
}
