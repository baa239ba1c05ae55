// The Generate page: checkpoint + clip (picked or uploaded) + prompt -> a job that lands in runs/.
// The server runs the pre-guard before it starts anything and the post-guard before it writes.
import { api, errorBox, h, statusBadge } from "./dom.js";
import { syncedPlayer } from "./player.js";

function field(label, input, hint = "") {
  return h("label", { class: "field" }, h("span", {}, label), input, hint ? h("small", { class: "muted" }, hint) : null);
}

async function showResult(box, job) {
  const run = await api(`/api/runs/${encodeURI(job.run)}`);
  const group = run.videos.find((g) => g.name === "this run");
  box.replaceChildren(
    h("p", {}, statusBadge(job.status), " ", h("a", { href: `#/run/${encodeURI(job.run)}`, class: "result-link" }, job.run)),
    group ? syncedPlayer(group) : h("p", { class: "muted" }, "no video in the run"));
}

export async function generatePage() {
  const [{ checkpoints, samplers }, { videos }, { jobs }] = await Promise.all([
    api("/api/checkpoints"), api("/api/videos"), api("/api/jobs")]);
  if (!checkpoints.length) {
    return [h("h1", {}, "Generate"), h("p", { class: "muted" },
      "No world model (a folder with world.json) under the runs root: train one with `worldsmith train diffusion --out runs/NAME`.")];
  }
  const ckpt = h("select", { name: "ckpt" }, checkpoints.map((c) =>
    h("option", { value: c.path }, `${c.path} · ${c.family} · latents ${c.latent_size.join("×")} · ${c.actions ? "action2world" : c.video2world ? "video2world" : "text2world"}`)));
  const video = h("select", { name: "video" }, h("option", { value: "" }, "none (Text2World)"),
    videos.map((v) => h("option", { value: v }, v)));
  const upload = h("input", { type: "file", accept: "video/*,.mp4,.webm,.mov,.mkv,.avi", name: "upload" });
  const preview = h("video", { muted: true, controls: true, class: "preview", hidden: true });
  const prompt = h("textarea", { name: "prompt", rows: 3, placeholder: "what the video should show" });
  const actions = h("textarea", { name: "actions", rows: 4, placeholder: "one action per line: numbers separated by spaces or commas" });
  const actionHint = h("small", { class: "muted" });
  const actionField = h("label", { class: "field", hidden: true }, h("span", {}, "actions"), actions, actionHint);
  const showActions = () => {
    const c = checkpoints.find((x) => x.path === ckpt.value);
    actionField.hidden = !(c && c.actions);
    if (c && c.actions) actionHint.textContent = `${c.actions.needed} lines of ${c.actions.dim} numbers: one action per frame after the first (robot from \`worldsmith posttrain action\`)`;
  };
  ckpt.addEventListener("change", showActions);
  showActions();
  const parseActions = () => actions.value.split("\n").map((l) => l.trim()).filter(Boolean)
    .map((l) => l.split(/[\s,]+/).map(Number));
  const num = (name, value, attrs = {}) => h("input", { name, type: "number", value, ...attrs });
  const cond = num("cond_frames", 1, { min: 1 }), steps = num("steps", 35, { min: 1, max: 200 });
  const guidance = num("guidance", 1, { min: 0, max: 30, step: "any" }), seed = num("seed", 0, { min: 0 });
  const sampler = h("select", { name: "sampler" }, samplers.map((s) => h("option", { value: s }, s)));
  const go = h("button", { type: "submit", class: "primary" }, "Generate");
  const message = h("div", { class: "message" });
  const bar = h("progress", { max: 1, value: 0, hidden: true });
  const phase = h("span", { class: "phase muted" });
  const result = h("div", { class: "result" });
  const history = h("ul", { class: "jobs" }, jobs.map(jobItem));

  function jobItem(j) {
    return h("li", {}, statusBadge(j.status), " ", h("a", { href: `#/run/${encodeURI(j.run)}` }, j.run), " ", j.error || "");
  }
  video.addEventListener("change", () => {
    preview.hidden = !video.value;
    if (video.value) preview.src = `/files/${encodeURI(video.value)}`;
  });
  upload.addEventListener("change", async () => {
    const file = upload.files[0];
    if (!file) return;
    message.replaceChildren(h("span", { class: "muted" }, `uploading ${file.name}…`));
    try {
      const res = await api(`/api/uploads?name=${encodeURIComponent(file.name)}`, { method: "POST", body: file });
      video.append(h("option", { value: res.video }, `${res.video} (uploaded ${file.name})`));
      video.value = res.video;
      video.dispatchEvent(new Event("change"));
      message.replaceChildren(h("span", { class: "ok" }, `${file.name} uploaded and decoded`));
    } catch (err) {
      message.replaceChildren(errorBox(err.message));
    }
  });

  async function poll(job) {
    bar.hidden = false;
    bar.max = job.steps;
    for (;;) {
      job = await api(`/api/jobs/${job.id}`);
      bar.value = job.step;
      phase.textContent = `${job.phase} ${job.step}/${job.steps}`;
      if (job.status === "ok" || job.status === "failed") break;
      await new Promise((r) => setTimeout(r, 250));
    }
    history.prepend(jobItem(job));
    if (job.status === "failed") message.replaceChildren(errorBox(job.error));
    else await showResult(result, job);
    go.disabled = false;
  }

  const form = h("form", { class: "generate" },
    field("checkpoint", ckpt), field("clip", video, "pick a clip under the runs root, or upload one:"),
    field("upload", upload), preview,
    field("prompt", prompt, "checked by the prompt guard before anything runs"), actionField,
    h("div", { class: "row" }, field("given frames", cond), field("steps", steps), field("sampler", sampler),
      field("guidance", guidance), field("seed", seed)),
    h("div", { class: "row" }, go, bar, phase), message);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    go.disabled = true;
    message.replaceChildren();
    result.replaceChildren();
    const body = {
      ckpt: ckpt.value, prompt: prompt.value, video: video.value, cond_frames: Number(cond.value),
      steps: Number(steps.value), sampler: sampler.value, guidance: Number(guidance.value), seed: Number(seed.value),
      actions: actionField.hidden ? [] : parseActions(),
    };
    try {
      const job = await api("/api/generate", {
        method: "POST", body: JSON.stringify(body), headers: { "Content-Type": "application/json" } });
      phase.textContent = `started ${job.run}`;
      await poll(job);
    } catch (err) {
      message.replaceChildren(errorBox(err.message));
      go.disabled = false;
    }
  });
  return [h("h1", {}, "Generate"), form, result, h("h2", {}, "Generations"), history];
}
