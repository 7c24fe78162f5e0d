// The Lab page: drives /api/v1/lab (start, pause, step, reset, inspect, save; uploads to
// /api/v1/lab/data) and polls the run, drawing its losses, norms and the sample grids of a
// fixed z, the architecture table, the layer view (/api/v1/lab/layers) and the kernel view
// (/api/v1/lab/kernels). window.lab.snapshot() is what the browser test reads.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  let rows = [];          // every loss row seen, in order
  let samples = [];       // steps that have a sample grid
  let run = null;         // the last state the server sent
  let following = true;   // the scrubber follows the newest grid
  let shown = null;       // the step of the grid shown
  let answered = 0;       // commands the server has answered
  let norms = [];         // every norm row seen, in order
  let layerView = null;   // the last layer view drawn, and the kernel view
  let kernelView = null;
  let uploadNote = "";
  const palette = ["#c82828", "#1e3cc8", "#1e8c3c", "#e07814", "#7a2ea0", "#0a8a8a", "#8a6a00", "#d0408a", "#444"];

  async function api(method, body) {
    const r = await fetch("/api/v1/lab" + (method === "GET" ? "?since=" + (rows.length ? rows[rows.length - 1].step : 0) : ""), {
      method, headers: body ? { "content-type": "application/json" } : {}, body: body ? JSON.stringify(body) : undefined,
    });
    const answer = await r.json().catch(() => ({ error: "the server sent no JSON (" + r.status + ")" }));
    if (!r.ok) throw new Error(answer.error || ("HTTP " + r.status));
    return answer;
  }

  async function json(path) {
    const r = await fetch(path);
    return r.ok ? r.json() : null;
  }

  function take(answer) {
    const next = answer.run;
    if (run && (next.step < run.step || next.preset !== run.preset)) { rows = []; norms = []; following = true; }   // reset or a new run
    const last = rows.length ? rows[rows.length - 1].step : 0;
    for (const row of next.rows) if (row.step > last) rows.push(row);
    const lastNorm = norms.length ? norms[norms.length - 1].step : 0;
    for (const row of next.norms) if (row.step > lastNorm) norms.push(row);
    run = next;
    samples = next.samples;
    render();
    if (run.kernels_step == null) { kernelView = null; renderKernels(); }
    else if (!kernelView || kernelView.step !== run.kernels_step) json("/api/v1/lab/kernels").then((v) => { if (v) { kernelView = v; renderKernels(); } });
    if (run.layers_step == null) { layerView = null; renderLayers(); }
    else if (!layerView || layerView.step !== run.layers_step || layerView.z !== run.inspect_z) json("/api/v1/lab/layers").then((v) => { if (v) { layerView = v; renderLayers(); } });
  }

  function render() {
    $("step-count").textContent = run.step;
    const last = rows[rows.length - 1];
    // Profiled steps run each dispatch alone: their rate is not the training's.
    const timed = rows.slice(-50).filter((r) => !r.profiled);
    const rate = (key) => timed.length ? (timed.reduce((a, r) => a + r[key], 0) / timed.length).toFixed(1) : "–";
    $("rate").textContent = rate("images_per_s");
    $("steps-rate").textContent = rate("steps_per_s");
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
    $("save").disabled = !run.preset;
    $("inspect").disabled = !run.preset;
    $("upload-status").textContent = uploadNote || (run.uploaded ? run.uploaded + " images uploaded." : "No set uploaded.");
    const save = run.save;
    $("save-status").textContent = !save ? (run.saved.length ? "Saved: " + run.saved.join(", ") + "." : "")
      : save.error ? "Not saved: " + save.error
      : "Saved '" + save.name + "' at step " + save.step + " (" + save.weights + "): pick it on the completion page.";
    renderTable();
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
    chart($("losses"), rows, [["d_loss", "#c82828"], ["g_loss", "#1e3cc8"]], null);
    chart($("probs"), rows, [["d_real", "#1e8c3c"], ["d_fake", "#e07814"]], [0, 1]);
    const layers = run.norm_layers || [];
    const logs = norms.map((n) => Object.fromEntries([["step", n.step], ...layers.map((l, i) => [l, Math.log10(Math.max(n.grads[i], 1e-12))])]));
    chart($("norms"), logs, layers.map((l, i) => [l, palette[i % palette.length]]), null);
    $("norm-legend").innerHTML = layers.map((l, i) => '<span style="color:' + palette[i % palette.length] + '">■</span> ' + l).join(" · ");
  }

  // Series of `rows` on `c`: [key, colour] pairs, from 0 (or `range`) to their largest value.
  function chart(c, rows, series, range) {
    const g = c.getContext("2d");
    g.fillStyle = "#fff"; g.fillRect(0, 0, c.width, c.height);
    if (rows.length < 2) return;
    const values = rows.flatMap((r) => series.map(([key]) => r[key])).filter(Number.isFinite);
    const [lo, hi] = range || [Math.min(0, ...values), Math.max(0, ...values)];
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

  const cell = (text, num) => { const td = document.createElement("td"); td.textContent = text; if (num) td.className = "num"; return td; };
  const count = (n) => n >= 1e9 ? (n / 1e9).toFixed(2) + " G" : n >= 1e6 ? (n / 1e6).toFixed(2) + " M" : n >= 1e3 ? (n / 1e3).toFixed(1) + " k" : String(n);

  function renderTable() {
    const body = $("arch").tBodies[0];
    const key = JSON.stringify(run.layers) + (norms.length ? norms[norms.length - 1].step : "");
    if (body.dataset.key === key) return;
    body.dataset.key = key;
    body.replaceChildren();
    const latest = norms[norms.length - 1];
    for (const l of run.layers) {
      const k = (run.norm_layers || []).indexOf(l.layer);
      const norm = (what) => latest && k >= 0 ? latest[what][k].toPrecision(3) : "–";
      const tr = document.createElement("tr");
      tr.append(cell(l.net), cell(l.layer), cell(l.op), cell(l.output.join("×")), cell(count(l.params), true), cell(count(l.flops), true), cell(norm("weights"), true), cell(norm("grads"), true));
      body.append(tr);
    }
  }

  // One block of feature maps: a canvas per channel, each `m.height` x `m.width`.
  function mapsBlock(kind, m) {
    const div = document.createElement("div");
    div.className = "maps"; div.dataset.kind = kind; div.dataset.layer = m.layer;
    const h = document.createElement("h3");
    h.textContent = m.title + " — " + m.maps.length + " × " + m.height + "×" + m.width;
    const cells = document.createElement("div"); cells.className = "cells";
    const scale = Math.max(1, Math.floor(48 / Math.max(m.height, m.width)));
    for (const values of m.maps) {
      const c = document.createElement("canvas");
      c.width = m.width; c.height = m.height;
      c.style.width = m.width * scale + "px"; c.style.height = m.height * scale + "px";
      c.setAttribute("role", "img"); c.setAttribute("aria-label", m.title);
      const img = c.getContext("2d").createImageData(m.width, m.height);
      for (let p = 0; p < m.width * m.height; p++) {
        const [r, g, b] = m.rgb ? [values[3 * p], values[3 * p + 1], values[3 * p + 2]] : [values[p], values[p], values[p]];
        img.data.set([r, g, b, 255], 4 * p);
      }
      c.getContext("2d").putImageData(img, 0, 0);
      cells.append(c);
    }
    div.append(h, cells);
    return div;
  }

  function renderLayers() {
    const box = $("layer-maps");
    box.replaceChildren();
    if (!layerView) { $("layers-about").textContent = ""; return; }
    const v = layerView;
    $("layers-about").textContent = "z number " + v.z + " at step " + v.step + " · D(real) " + v.d_real.toFixed(3) + ", D(G(z)) " + v.d_fake.toFixed(3);
    const group = (title, blocks) => {
      const h = document.createElement("h3"); h.textContent = title;
      const row = document.createElement("div"); row.className = "layer-row";
      row.append(...blocks);
      box.append(h, row);
    };
    group("G: z → feature maps → image", v.generator.map((m) => mapsBlock("generator", m)));
    group("D on a real training image", v.real.map((m) => mapsBlock("real", m)));
    group("D on G(z)", v.fake.map((m) => mapsBlock("fake", m)));
    if (v.filters) group("D's first-layer filters (grey = 0)", [mapsBlock("filters", v.filters)]);
  }

  function renderKernels() {
    const body = $("kernels").tBodies[0];
    body.replaceChildren();
    if (!kernelView) { $("kernels-about").textContent = ""; return; }
    const v = kernelView;
    $("kernels-about").textContent = "step " + v.step + ": " + v.dispatches + " dispatches, " + v.ms.toFixed(1) + " ms";
    for (const r of v.rows) {
      const tr = document.createElement("tr");
      tr.append(cell(r.scope), cell(r.pass), cell(r.op), cell(r.set || "–"), cell(String(r.dispatches), true), cell(r.ms.toFixed(2), true), cell(r.gflops == null ? "–" : r.gflops.toFixed(2), true));
      body.append(tr);
    }
  }

  async function command(action) {
    try {
      const body = { action };
      if (action === "start") {
        Object.assign(body, { preset: $("preset").value, data: $("data").value, lr: Number($("lr").value), beta1: Number($("beta1").value),
          g_steps: Number($("g_steps").value), seed: Number($("seed").value), flip: $("flip").checked });
      }
      if (action === "inspect") body.z = Number($("inspect-z").value);
      if (action === "save") body.name = $("save-name").value;
      const answer = await api("POST", body);
      answered += 1;
      take(answer);
    } catch (e) {
      answered += 1;
      $(action === "save" ? "save-status" : "status").textContent = "Refused: " + e.message;
    }
  }

  async function upload() {
    const files = $("upload").files;
    if (!files.length) return;
    const form = new FormData();
    for (const f of files) form.append("files", f, f.webkitRelativePath || f.name);
    uploadNote = "Uploading " + files.length + " file(s)…";
    $("upload-status").textContent = uploadNote;
    try {
      const r = await fetch("/api/v1/lab/data", { method: "POST", body: form });
      const answer = await r.json().catch(() => ({ error: "the server sent no JSON (" + r.status + ")" }));
      uploadNote = r.ok ? answer.images + " images uploaded" + (answer.skipped.length ? " (" + answer.skipped.length + " other files passed over)" : "") + ": pick Data “upload” and Start."
        : "Refused: " + (answer.error || ("HTTP " + r.status));
      if (r.ok) $("data").value = "upload";
    } catch (e) { uploadNote = "Refused: " + e.message; }
    $("upload-status").textContent = uploadNote;
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
    for (const d of answer.data) {
      const o = document.createElement("option");
      o.value = d; o.textContent = { faces: "Olivetti faces (grey)", emoji: "Twemoji (colour)", upload: "uploaded set (colour)" }[d] || d;
      $("data").append(o);
    }
    const h = answer.defaults;
    $("lr").value = h.lr; $("beta1").value = h.beta1; $("g_steps").value = h.g_steps; $("seed").value = h.seed; $("flip").checked = h.flip;
    for (const a of ["start", "pause", "step", "reset", "inspect", "save"]) $(a).addEventListener("click", () => command(a));
    $("upload").addEventListener("change", upload);
    $("scrub").addEventListener("input", () => { following = Number($("scrub").value) === Number($("scrub").max); showSample(); });
    take(answer);
    poll();
  }

  window.lab = {
    snapshot: () => ({ answered, step: run ? run.step : 0, rows: rows.length, samples: samples.length, shown, running: !!(run && run.running),
      pending: run ? run.pending_steps : 0, error: run ? run.error : null, image: $("sample").complete && $("sample").naturalWidth > 0 ? $("sample").currentSrc : null,
      table: run ? run.layers.map((l) => ({ net: l.net, layer: l.layer, output: l.output })) : [],
      // Canvases drawn per layer block, as "kind layer": count.
      maps: Object.fromEntries([...document.querySelectorAll("#layer-maps .maps")].map((d) => [d.dataset.kind + " " + d.dataset.layer, d.querySelectorAll("canvas").length])),
      layersStep: layerView ? layerView.step : null, kernelsStep: kernelView ? kernelView.step : null,
      kernelDispatches: kernelView ? kernelView.dispatches : null, kernelRows: $("kernels").tBodies[0].rows.length,
      saved: run ? run.saved : [], save: run ? run.save : null, saveText: $("save-status").textContent, upload: $("upload-status").textContent }),
  };
  init().catch((e) => { $("status").textContent = "Cannot reach the server: " + e.message; });
})();
