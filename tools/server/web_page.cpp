// The page at / (web_page.h): plain HTML, CSS and JavaScript in one string, nothing fetched
// from elsewhere. It talks to the same API as any client (docs/server.md).
#include "server/web_page.h"

namespace heartmula::server {

const char* const kWebPage = R"HTML(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>heartmula-server</title>
<style>
  body { font-family: system-ui, sans-serif; margin: 0 auto; max-width: 46rem; padding: 1rem; line-height: 1.4; }
  h1 { font-size: 1.4rem; }
  label { display: block; margin-top: .8rem; font-weight: 600; }
  textarea, input, select { width: 100%; box-sizing: border-box; font: inherit; padding: .4rem; }
  .row { display: flex; gap: 1rem; flex-wrap: wrap; }
  .row > div { flex: 1 1 10rem; }
  button { margin-top: 1rem; font: inherit; padding: .5rem 1.2rem; cursor: pointer; }
  #error { color: #b00020; min-height: 1.4em; }
  .song { border: 1px solid #ccc; border-radius: .4rem; padding: .6rem; margin-top: .8rem; }
  .song progress { width: 100%; height: 1rem; }
  .song audio { width: 100%; margin-top: .4rem; }
  .meta { font-size: .9rem; color: #444; }
</style>
</head>
<body>
<main>
<h1>heartmula-server</h1>
<form id="form">
  <label for="lyrics">Lyrics</label>
  <textarea id="lyrics" rows="8" placeholder="[Verse]&#10;..."></textarea>
  <label for="tags">Tags (comma-separated)</label>
  <input id="tags" list="tag-list" value="piano,happy" autocomplete="off">
  <!-- The eight tag categories the model was trained with (genre, timbre, gender, mood, instrument,
       scene, region, topic: upstream's tags guide, the HeartMuLa paper section 3.2), with their examples. -->
  <datalist id="tag-list">
    <option value="pop" label="genre"><option value="rock" label="genre"><option value="electronic" label="genre"><option value="hiphop" label="genre"><option value="jazz" label="genre"><option value="classical" label="genre"><option value="techno" label="genre"><option value="trance" label="genre"><option value="ambient" label="genre">
    <option value="soft" label="timbre"><option value="warm" label="timbre"><option value="husky" label="timbre"><option value="bright" label="timbre"><option value="dark" label="timbre"><option value="distorted" label="timbre">
    <option value="male" label="gender"><option value="female" label="gender">
    <option value="happy" label="mood"><option value="sad" label="mood"><option value="energetic" label="mood"><option value="joyful" label="mood"><option value="melancholic" label="mood"><option value="relaxing" label="mood">
    <option value="piano" label="instrument"><option value="synthesizer" label="instrument"><option value="acoustic guitar" label="instrument"><option value="electric guitar" label="instrument"><option value="bass" label="instrument"><option value="drums" label="instrument"><option value="strings" label="instrument"><option value="violin" label="instrument">
    <option value="dance" label="scene"><option value="workout" label="scene"><option value="dating" label="scene"><option value="study" label="scene"><option value="cinematic" label="scene"><option value="party" label="scene">
    <option value="k-pop" label="region"><option value="latin" label="region"><option value="western" label="region">
    <option value="love" label="topic"><option value="summer" label="topic"><option value="heartbreak" label="topic">
  </datalist>
  <div class="row">
    <div><label for="duration">Duration (seconds)</label><input id="duration" type="number" min="1" max="3600" step="any" value="30"></div>
    <div><label for="seed">Seed (empty: random)</label><input id="seed" type="number" min="0" step="1"></div>
    <div><label for="format">Format</label>
      <select id="format"><option value="mp3">MP3</option><option value="wav">WAV</option></select></div>
  </div>
  <label for="key">API key (only if the server asks for one)</label>
  <input id="key" type="password" autocomplete="off">
  <button type="submit">Make the song</button>
  <p id="error" role="alert"></p>
</form>
<h2>Songs</h2>
<div id="songs" aria-live="polite"></div>
</main>
<script>
"use strict";
const $ = (id) => document.getElementById(id);
$("key").value = localStorage.getItem("heartmula-key") || "";
function headers() {
  const h = { "Content-Type": "application/json" };
  const k = $("key").value.trim();
  if (k) h["Authorization"] = "Bearer " + k;
  return h;
}
function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  if (cls) e.className = cls;
  return e;
}
$("form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  $("error").textContent = "";
  localStorage.setItem("heartmula-key", $("key").value.trim());
  const body = { lyrics: $("lyrics").value, tags: $("tags").value, format: $("format").value };
  if ($("duration").value !== "") body.duration = Number($("duration").value);
  if ($("seed").value !== "") body.seed = Number($("seed").value);
  if (!body.lyrics) delete body.lyrics;
  try {
    const r = await fetch("/v1/songs", { method: "POST", headers: headers(), body: JSON.stringify(body) });
    const j = await r.json();
    if (r.status !== 202) { $("error").textContent = j.error || ("error " + r.status); return; }
    addSong(j.id, j.seed);
  } catch (e) { $("error").textContent = String(e); }
});
function addSong(id, seed) {
  const box = el("section", undefined, "song");
  box.id = "song-" + id;
  box.append(el("h3", "Song " + id), el("p", "queued", "meta"));
  const bar = el("progress");
  bar.max = 1; bar.value = 0;
  bar.setAttribute("aria-label", "progress of song " + id);
  const cancel = el("button", "Cancel");
  cancel.type = "button";
  cancel.onclick = () => fetch("/v1/songs/" + id, { method: "DELETE", headers: headers() });
  box.append(bar, cancel);
  $("songs").prepend(box);
  poll(id, box, bar, cancel);
}
async function poll(id, box, bar, cancel) {
  let s;
  try {
    const r = await fetch("/v1/songs/" + id, { headers: headers() });
    s = await r.json();
    if (!r.ok) throw new Error(s.error || ("error " + r.status));
  } catch (e) { box.querySelector(".meta").textContent = String(e); return; }
  const p = s.progress;
  bar.max = Math.max(1, p.frames_planned); bar.value = p.frames;
  let text = s.state + " | seed " + s.seed + " | " + p.seconds.toFixed(1) + " s of audio";
  if (s.timings) text += " | " + s.timings.total_s.toFixed(1) + " s to make";
  if (s.error) text += " | " + s.error;
  box.querySelector(".meta").textContent = text;
  // Without a key the player reads the audio while it is made (GET .../audio streams a running
  // song's file as it grows); with one it gets the finished file below.
  const live = box.querySelector("audio");
  if (s.state === "running" && !live && !$("key").value.trim()) {
    const audio = el("audio"); audio.controls = true; audio.preload = "auto";
    audio.src = "/v1/songs/" + id + "/audio";
    audio.setAttribute("aria-label", "song " + id + " (while it is made)");
    box.append(audio);
  }
  if (s.state === "queued" || s.state === "running") { setTimeout(() => poll(id, box, bar, cancel), 1000); return; }
  cancel.remove();
  // A song that reached its end token before its planned length is whole: a full bar.
  if (s.state === "done") bar.value = bar.max;
  if (!s.audio_url) { if (live) live.remove(); return; }
  if (live) {
    const link = el("a", "Download " + id + "." + s.format); link.href = s.audio_url + "?download=1";
    box.append(el("br"), link);
    return;
  }
  // The audio is fetched with the key (an <audio src> cannot send a header), then played.
  const r = await fetch(s.audio_url, { headers: headers() });
  if (!r.ok) return;
  const url = URL.createObjectURL(await r.blob());
  const audio = el("audio"); audio.controls = true; audio.src = url;
  audio.setAttribute("aria-label", "song " + id);
  const link = el("a", "Download " + id + "." + s.format); link.href = url; link.download = id + "." + s.format;
  box.append(audio, el("br"), link);
}
</script>
</body>
</html>
)HTML";

}  // namespace heartmula::server
