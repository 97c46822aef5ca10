// momentfinder web page: search the library, watch a moment, see the saliency curve. No framework.
"use strict";

const $ = (id) => document.getElementById(id);
const SVG = "http://www.w3.org/2000/svg";
const view = {
  query: "",
  hits: [],          // moments in the list: {video_id, name, start, end, confidence, score}
  current: -1,       // index in hits
  moment: null,      // the moment playing: {video_id, start, end}
  stopped: false,    // the player paused once at the moment's end
  grounding: null,   // the current video's curve: {video_id, query, duration, clip_len, saliency, moments}
};

function hms(seconds, up) {
  const s = Math.max(0, up ? Math.ceil(seconds - 1e-6) : Math.floor(seconds + 1e-6));
  const two = (n) => String(n).padStart(2, "0");
  return `${two(Math.floor(s / 3600))}:${two(Math.floor(s / 60) % 60)}:${two(s % 60)}`;
}
const span = (m) => `${hms(m.start)}\u2013${hms(m.end, true)}`;

async function api(path, options = {}) {
  const response = await fetch(path, options);
  let body = null;
  try { body = await response.json(); } catch (_) { /* not JSON */ }
  if (!response.ok) throw new Error((body && body.error) || `${response.status} ${response.statusText}`);
  return body;
}
const postJSON = (path, data) =>
  api(path, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(data) });

function say(text, kind = "") {
  const status = $("status");
  status.textContent = text;
  status.className = kind;
}

// -- the library line ------------------------------------------------------------------------
async function showLibrary() {
  try {
    const lib = await api("/api/library");
    $("library-status").textContent =
      `${lib.videos} video${lib.videos === 1 ? "" : "s"} in the library, ${lib.hours.toFixed(2)} hours`;
  } catch (err) {
    $("library-status").textContent = `library: ${err.message}`;
  }
}

// -- searching -------------------------------------------------------------------------------
async function search(event) {
  event.preventDefault();
  const query = $("query").value.trim();
  if (!query) { say("Type what happens first.", "error"); $("query").focus(); return; }
  view.query = query;
  $("search-button").disabled = true;
  say(`Searching for \u201c${query}\u201d\u2026`);
  try {
    const found = await postJSON("/api/search", { query, top_k: 20 });
    showHits(found.hits, `in the library`);
  } catch (err) {
    showHits([], "");
    say(`Search failed: ${err.message}`, "error");
  } finally {
    $("search-button").disabled = false;
  }
}

function showHits(hits, where) {
  view.hits = hits;
  view.current = -1;
  const list = $("results");
  list.replaceChildren();
  if (!hits.length) {
    if (where) say(`No matching moment for \u201c${view.query}\u201d ${where}.`, "no-match");
    $("viewer").hidden = true;
    $("player").removeAttribute("src");
    return;
  }
  say(`${hits.length} moment${hits.length === 1 ? "" : "s"} for \u201c${view.query}\u201d ${where}, best first.`);
  hits.forEach((hit, i) => {
    const item = document.createElement("li");
    const button = document.createElement("button");
    button.type = "button";
    button.className = "hit";
    button.dataset.index = String(i);
    const img = document.createElement("img");
    img.alt = "";
    img.loading = "lazy";
    img.onerror = () => img.classList.add("missing");  // a file without pictures
    img.src = `/api/videos/${hit.video_id}/thumbnail?t=${((hit.start + hit.end) / 2).toFixed(1)}&w=192`;
    const name = document.createElement("span");
    name.className = "name";
    name.textContent = hit.name;
    const when = document.createElement("span");
    when.className = "when";
    when.textContent = span(hit);
    const conf = document.createElement("span");
    conf.className = "confidence";
    conf.textContent = hit.confidence == null ? `score ${hit.score.toFixed(2)}`
      : `confidence ${Math.round(hit.confidence * 100)}%`;
    button.append(img, name, when, conf);
    button.setAttribute("aria-label", `${hit.name}, ${span(hit)}, ${conf.textContent}`);
    button.addEventListener("click", () => select(i));
    button.addEventListener("keydown", listKeys);
    item.append(button);
    list.append(item);
  });
  select(0, false);
}

function listKeys(event) {
  const i = Number(event.currentTarget.dataset.index);
  const step = { ArrowDown: 1, ArrowUp: -1 }[event.key];
  if (step === undefined) return;
  event.preventDefault();
  const next = document.querySelector(`.hit[data-index="${i + step}"]`);
  if (next) next.focus();
}

// -- watching a moment -------------------------------------------------------------------------
function select(i, play = true) {
  if (i < 0 || i >= view.hits.length) return;
  view.current = i;
  document.querySelectorAll(".hit").forEach((b) =>
    b.setAttribute("aria-current", String(Number(b.dataset.index) === i)));
  const hit = view.hits[i];
  $("prev").disabled = i === 0;
  $("next").disabled = i === view.hits.length - 1;
  watch(hit, play);
}

function watch(moment, play) {
  const player = $("player");
  view.moment = moment;
  view.stopped = false;
  $("viewer").hidden = false;
  $("viewer-heading").textContent = moment.name || "Video";
  $("moment-label").textContent = `${span(moment)} (${(moment.end - moment.start).toFixed(1)} s)`;
  $("export").href = `/api/videos/${moment.video_id}/clip?start=${moment.start}&end=${moment.end}`;
  const src = `/api/videos/${moment.video_id}/stream`;
  const seek = () => {
    player.currentTime = moment.start;
    if (play) player.play().catch(() => { /* autoplay refused: the user presses play */ });
  };
  if (player.getAttribute("src") !== src) {
    player.setAttribute("src", src);
    player.addEventListener("loadedmetadata", seek, { once: true });
    player.load();
  } else if (player.readyState >= 1) {
    seek();
  } else {
    player.addEventListener("loadedmetadata", seek, { once: true });
  }
  drawCurve();
  loadCurve(moment.video_id);
}

async function loadCurve(videoId) {
  const have = view.grounding;
  if (have && have.video_id === videoId && have.query === view.query) return;
  const query = view.query;
  try {
    const result = await postJSON(`/api/videos/${videoId}/ground`, { query, top_k: 5 });
    if (view.moment && view.moment.video_id === videoId && view.query === query) {
      view.grounding = { ...result, query };
      drawCurve();
    }
  } catch (err) {
    $("curve").replaceChildren();
  }
}

function momentsOnCurve() {
  // the list's moments in this video, and the other moments the video's own grounding found
  const g = view.grounding;
  const videoId = view.moment.video_id;
  const shown = view.hits.map((h, i) => ({ ...h, index: i })).filter((h) => h.video_id === videoId);
  const overlaps = (a, b) => Math.min(a.end, b.end) - Math.max(a.start, b.start) > 0.5 * (a.end - a.start);
  for (const m of g ? g.moments : []) {
    if (!shown.some((h) => overlaps(m, h))) shown.push({ ...m, video_id: videoId, name: g.name, index: -1 });
  }
  return shown;
}

function drawCurve() {
  const svg = $("curve");
  const g = view.grounding;
  svg.replaceChildren();
  if (!view.moment || !g || g.video_id !== view.moment.video_id) return;
  const duration = g.duration || 1;
  const x = (t) => (1000 * Math.min(Math.max(t, 0), duration)) / duration;
  const values = g.saliency;
  const lo = Math.min(0, ...values);
  const hi = Math.max(...values, lo + 1e-6);
  const y = (v) => 112 - (104 * (v - lo)) / (hi - lo);
  const points = values.map((v, i) => `${x((i + 0.5) * g.clip_len).toFixed(1)},${y(v).toFixed(1)}`);
  const add = (tag, attrs) => {
    const el = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
    svg.append(el);
    return el;
  };
  if (points.length) {
    add("polygon", { class: "area", points: `${x(0)},112 ${points.join(" ")} ${x(duration)},112` });
    add("polyline", { class: "saliency", points: points.join(" ") });
  }
  for (const m of momentsOnCurve()) {
    const current = m.start === view.moment.start && m.end === view.moment.end;
    const rect = add("rect", {
      class: current ? "moment current" : "moment", x: x(m.start), y: 0,
      width: Math.max(2, x(m.end) - x(m.start)), height: 120,
      tabindex: 0, role: "button", "aria-label": `moment ${span(m)}`,
      "data-start": m.start, "data-end": m.end,
    });
    const go = () => (m.index >= 0 ? select(m.index) : watch(m, true));
    rect.addEventListener("click", go);
    rect.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); go(); } });
  }
  add("line", { class: "end-mark", x1: x(view.moment.end), x2: x(view.moment.end), y1: 0, y2: 120 });
  const head = add("line", { class: "playhead", id: "playhead", x1: 0, x2: 0, y1: 0, y2: 120 });
  moveHead(head);
}

function moveHead(head = $("playhead")) {
  const g = view.grounding;
  if (!head || !g) return;
  const t = (1000 * Math.min($("player").currentTime, g.duration)) / (g.duration || 1);
  head.setAttribute("x1", t);
  head.setAttribute("x2", t);
}

function onTime() {
  const player = $("player");
  moveHead();
  const m = view.moment;
  if (m && !view.stopped && !player.paused && player.currentTime >= m.end) {
    view.stopped = true;  // stop once at the end of the moment; pressing play goes on
    player.pause();
    $("moment-label").textContent = `${span(m)}: end of the moment`;
  }
}

// -- uploading -----------------------------------------------------------------------------------
function upload(event) {
  event.preventDefault();
  const file = $("upload-file").files[0];
  const token = $("token").value.trim();
  const status = $("upload-status");
  if (!file) { status.textContent = "Choose a video file first."; return; }
  if (!token) { status.textContent = "The write token is needed to add videos."; $("token").focus(); return; }
  localStorage.setItem("momentfinder-token", token);
  const progress = $("upload-progress");
  progress.hidden = false;
  progress.value = 0;
  status.textContent = `Uploading ${file.name}\u2026`;
  const xhr = new XMLHttpRequest();
  xhr.open("POST", `/api/uploads?filename=${encodeURIComponent(file.name)}`);
  xhr.setRequestHeader("Authorization", `Bearer ${token}`);
  xhr.setRequestHeader("Content-Type", file.type || "application/octet-stream");
  xhr.upload.onprogress = (e) => {
    if (e.lengthComputable) progress.value = Math.round((100 * e.loaded) / e.total);
    if (e.loaded === e.total) status.textContent = `Indexing ${file.name}\u2026`;
  };
  xhr.onerror = () => { status.textContent = "Upload failed: the server could not be reached."; };
  xhr.onload = async () => {
    let body = {};
    try { body = JSON.parse(xhr.responseText); } catch (_) { /* not JSON */ }
    if (xhr.status !== 201) { status.textContent = `Upload failed: ${body.error || xhr.status}`; return; }
    progress.value = 100;
    status.textContent = `Added ${body.video.name} (${body.outcome}).`;
    showLibrary();
    const query = $("query").value.trim();
    if (query) await groundIn(body.video, query);
  };
  xhr.send(file);
}

async function groundIn(video, query) {
  // the query's moments in one (just uploaded) video
  view.query = query;
  try {
    const result = await postJSON(`/api/videos/${video.id}/ground`, { query, top_k: 5 });
    view.grounding = { ...result, query };
    showHits(result.moments.map((m) => ({ ...m, video_id: video.id, name: video.name })), `in ${video.name}`);
  } catch (err) {
    say(`Could not ground the query in ${video.name}: ${err.message}`, "error");
  }
}

// -- keys and start ------------------------------------------------------------------------------
function keys(event) {
  const typing = /^(INPUT|TEXTAREA|SELECT)$/.test(event.target.tagName);
  if (event.key === "/" && !typing) { event.preventDefault(); $("query").focus(); return; }
  if (typing || event.ctrlKey || event.metaKey || event.altKey) return;
  if (event.key === "n") select(view.current + 1);
  if (event.key === "p") select(view.current - 1);
}

// -- live watch (Server-Sent Events) ---------------------------------------------------------
async function startWatch(event) {
  event.preventDefault();
  const status = $("live-status");
  const source = $("live-source").value.trim();
  const query = $("live-query").value.trim();
  const token = $("token").value.trim();
  if (!source || !query) { status.textContent = "Give a stream (or file) and what to look for."; return; }
  if (!token) { status.textContent = "The write token is needed to start a watch."; $("token").focus(); return; }
  try {
    const watch = await api("/api/watches", {
      method: "POST",
      headers: { "Content-Type": "application/json", Authorization: `Bearer ${token}` },
      body: JSON.stringify({ source, queries: [query] }),
    });
    status.textContent = `Watching ${watch.source} for “${query}”…`;
    $("live-events").replaceChildren();
    const events = new EventSource(`/api/watches/${encodeURIComponent(watch.id)}/events`);
    events.onmessage = (message) => showLiveEvent(JSON.parse(message.data));
    events.addEventListener("end", (message) => {
      const end = JSON.parse(message.data);
      status.textContent = end.error ? `The watch stopped: ${end.error}` : "The watch has ended.";
      events.close();
    });
  } catch (err) {
    status.textContent = `Could not start the watch: ${err.message}`;
  }
}

function showLiveEvent(e) {
  const words = { start: "started", update: "goes on", end: "ended" };
  const item = document.createElement("li");
  item.className = `live-${e.event}`;
  const when = e.event === "end" && e.start != null ? `${hms(e.start)}–${hms(e.t, true)}` : hms(e.t);
  item.textContent = `${when} “${e.query}” ${words[e.event] || e.event} (score ${Number(e.score).toFixed(2)})`;
  $("live-events").prepend(item);
}

function start() {
  const fromLink = new URLSearchParams(location.hash.slice(1)).get("token");
  if (fromLink) {
    localStorage.setItem("momentfinder-token", fromLink);
    history.replaceState(null, "", location.pathname);  // the token leaves the address bar
  }
  $("token").value = localStorage.getItem("momentfinder-token") || "";
  $("search-form").addEventListener("submit", search);
  $("upload-form").addEventListener("submit", upload);
  $("live-form").addEventListener("submit", startWatch);
  $("prev").addEventListener("click", () => select(view.current - 1));
  $("next").addEventListener("click", () => select(view.current + 1));
  $("player").addEventListener("timeupdate", onTime);
  $("player").addEventListener("seeked", () => moveHead());
  document.addEventListener("keydown", keys);
  showLibrary();
  $("query").focus();
}

document.addEventListener("DOMContentLoaded", start);
