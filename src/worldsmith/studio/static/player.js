// Videos side by side with ONE scrubber: the first video is the clock, the others follow it.
// Frame stepping moves every video to the middle of the next/previous frame of the first one.
import { h } from "./dom.js";

export function syncedPlayer(group) {
  const videos = group.videos.map((v) =>
    h("video", { src: v.url, muted: true, playsinline: true, preload: "auto", class: "sync" }));
  for (const v of videos) v.muted = true;  // autoplay policies need the property, not just the attribute
  const fps = group.videos[0].fps || 25;
  const master = videos[0];
  const scrub = h("input", { type: "range", min: 0, max: 0, step: "any", value: 0, class: "scrub" });
  const label = h("span", { class: "frame muted" }, "frame 0");
  const play = h("button", { type: "button", class: "play", title: "play / pause (space)" }, "▶");
  const back = h("button", { type: "button", title: "previous frame" }, "◀|");
  const fwd = h("button", { type: "button", title: "next frame" }, "|▶");
  let raf = 0;

  const duration = () => Math.max(0, ...videos.map((v) => (isFinite(v.duration) ? v.duration : 0)));
  const show = () => {
    scrub.max = String(duration());
    scrub.value = String(master.currentTime);
    label.textContent = `frame ${Math.floor(master.currentTime * fps + 1e-6)} · ${master.currentTime.toFixed(2)} s`;
  };
  const seekAll = (t) => { for (const v of videos) v.currentTime = Math.min(t, v.duration || t); show(); };
  const follow = () => {
    for (const v of videos.slice(1)) {
      if (!v.ended && Math.abs(v.currentTime - master.currentTime) > 0.5 / fps) v.currentTime = master.currentTime;
    }
    show();
    if (!master.paused) raf = requestAnimationFrame(follow);
  };
  const pause = () => {
    for (const v of videos) v.pause();
    cancelAnimationFrame(raf);
    play.textContent = "▶";
    seekAll(master.currentTime);
  };
  const start = async () => {
    if (master.ended) seekAll(0);
    play.textContent = "❚❚";
    await Promise.all(videos.map((v) => v.play().catch(() => {})));
    raf = requestAnimationFrame(follow);
  };
  const step = (k) => {
    pause();
    const frame = Math.floor(master.currentTime * fps + 1e-6) + k;
    const last = Math.max(0, Math.floor(duration() * fps) - 1);
    seekAll((Math.min(Math.max(frame, 0), last) + 0.5) / fps);
  };

  play.addEventListener("click", () => (master.paused ? start() : pause()));
  back.addEventListener("click", () => step(-1));
  fwd.addEventListener("click", () => step(1));
  scrub.addEventListener("input", () => { if (!master.paused) pause(); seekAll(Number(scrub.value)); });
  master.addEventListener("ended", pause);
  for (const v of videos) v.addEventListener("loadedmetadata", show);

  const root = h("div", { class: "player", tabindex: 0 },
    h("div", { class: "strip" }, group.videos.map((v, i) =>
      h("figure", {}, videos[i], h("figcaption", {}, v.label)))),
    h("div", { class: "controls" }, back, play, fwd, scrub, label));
  root.addEventListener("keydown", (e) => {
    if (e.key === " ") { e.preventDefault(); master.paused ? start() : pause(); }
    if (e.key === "ArrowLeft") step(-1);
    if (e.key === "ArrowRight") step(1);
  });
  return root;
}
