// The Lab page: drives /api/v1/lab (start, pause, step, reset) and polls the run, drawing its
// losses and the sample grids of a fixed z. window.lab.snapshot() is what the browser test reads.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  let rows = [];          // every loss row seen, in order
  let samples = [];       // steps that have a sample grid
  let run = null;         // the last state the server sent
  let following = true;   // the scrubber follows the newest grid
  let shown = null;       // the step of the grid shown
  let answered = 0;       // commands the server has answered

  async function api(method, body) {
    const r = await fetch("/api/v1/lab" + (method === "GET" ? "?since=" + (rows.length ? rows[rows.length - 1].step : 0) : ""), {
      method, headers: body ? { "content-type": "application/json" } : {}, body: body ? JSON.stringify(body) : undefined,
    });
    const answer = await r.json().catch(() => ({ error: "the server sent no JSON (" + r.status + ")" }));
    if (!r.ok) throw new Error(answer.error || ("HTTP " + r.status));
    return answer;
  }

  function take(answer) {
    const next = answer.run;
    if (run && next.step < run.step) { rows = []; following = true; }   // reset or a new run
    const last = rows.length ? rows[rows.length - 1].step : 0;
    for (const row of next.rows) if (row.step > last) rows.push(row);
    run = next;
    samples = next.samples;
    render();
  }

  function render() {
    $("step-count").textContent = run.step;
    const last = rows[rows.length - 1];
    $("rate").textContent = last ? last.images_per_s.toFixed(1) : "–";
    $("d-loss").textContent = last ? last.d_loss.toFixed(3) : "–";
    $("g-loss").textContent = last ? last.g_loss.toFixed(3) : "–";
    $("d-real").textContent = last ? last.d_real.toFixed(3) : "–";
    $("d-fake").textContent = last ? last.d_fake.toFixed(3) : "–";
    const state = run.error ? "Stopped: " + run.error
      : run.running ? "Training (" + (run.preset || "") + ")…"
      : run.pending_steps > 0 ? "Stepping…"
      : run.preset ? "Paused at step " + run.step + "." : "Not started.";
    $("status").textContent = state;
    $("start").disabled = run.running;
    $("pause").disabled = !run.running;
    $("step").disabled = run.running || !run.preset;
    const scrub = $("scrub");
    scrub.disabled = samples.length === 0;
    scrub.max = Math.max(samples.length - 1, 0);
    if (following) scrub.value = scrub.max;
    showSample();
    drawLosses();
  }

  function showSample() {
    const k = Number($("scrub").value);
    const step = samples[k];
    $("scrub-out").textContent = step === undefined ? "–" : String(step);
    if (step !== undefined && step !== shown) {
      shown = step;
      $("sample").src = "/api/v1/lab/samples/" + step + ".png";
    }
    if (step === undefined) { shown = null; $("sample").removeAttribute("src"); }
  }

  function drawLosses() {
    chart($("losses"), [["d_loss", "#c82828"], ["g_loss", "#1e3cc8"]], null);
    chart($("probs"), [["d_real", "#1e8c3c"], ["d_fake", "#e07814"]], [0, 1]);
  }

  // Series of `rows` on `c`: [key, colour] pairs, from 0 (or `range`) to their largest value.
  function chart(c, series, range) {
    const g = c.getContext("2d");
    g.fillStyle = "#fff"; g.fillRect(0, 0, c.width, c.height);
    if (rows.length < 2) return;
    const values = rows.flatMap((r) => series.map(([key]) => r[key]));
    const [lo, hi] = range || [Math.min(0, ...values), Math.max(...values)];
    const x = (i) => 30 + (i / (rows.length - 1)) * (c.width - 40);
    const y = (v) => c.height - 20 - ((v - lo) / (hi - lo || 1)) * (c.height - 30);
    g.fillStyle = "#555"; g.font = "11px sans-serif";
    g.fillText(hi.toFixed(2), 2, 12); g.fillText(lo.toFixed(2), 2, c.height - 20);
    g.fillText("step " + rows[rows.length - 1].step, c.width - 70, c.height - 4);
    for (const [key, colour] of series) {
      g.strokeStyle = colour; g.beginPath();
      rows.forEach((r, i) => (i ? g.lineTo(x(i), y(r[key])) : g.moveTo(x(i), y(r[key]))));
      g.stroke();
    }
  }

  async function command(action) {
    try {
      const body = { action };
      if (action === "start") body.preset = $("preset").value;
      const answer = await api("POST", body);
      answered += 1;
      take(answer);
    } catch (e) { $("status").textContent = "Refused: " + e.message; }
  }

  async function poll() {
    try { take(await api("GET")); } catch (e) { $("status").textContent = "The server does not answer: " + e.message; }
    setTimeout(poll, 400);
  }

  async function init() {
    const answer = await api("GET");
    for (const p of answer.presets) {
      const o = document.createElement("option");
      o.value = p.name; o.textContent = p.name + " (batch " + p.batch + ")"; o.dataset.about = p.about;
      $("preset").append(o);
    }
    const about = () => { $("preset-about").textContent = $("preset").selectedOptions[0].dataset.about; };
    $("preset").addEventListener("change", about); about();
    for (const a of ["start", "pause", "step", "reset"]) $(a).addEventListener("click", () => command(a));
    $("scrub").addEventListener("input", () => { following = Number($("scrub").value) === Number($("scrub").max); showSample(); });
    take(answer);
    poll();
  }

  window.lab = {
    snapshot: () => ({ answered, step: run ? run.step : 0, rows: rows.length, samples: samples.length, shown, running: !!(run && run.running),
      pending: run ? run.pending_steps : 0, error: run ? run.error : null, image: $("sample").complete && $("sample").naturalWidth > 0 ? $("sample").currentSrc : null }),
  };
  init().catch((e) => { $("status").textContent = "Cannot reach the server: " + e.message; });
})();
