// The page: an editor at the model's resolution (image + mask, 1 = fill), a job that streams
// its frames over Server-Sent Events, and the explore panel. Everything it does goes through
// the HTTP API documented in the README.
'use strict';

const $ = (id) => document.getElementById(id);
const state = {
  models: [], model: null, defaults: {},
  size: 64,
  image: null,          // ImageData, size x size
  mask: null,           // Uint8Array, 1 = fill
  lowres: false,        // the lowres preset: only block means are known
  undo: [], redo: [],
  tool: 'brush', brush: 6,
  job: null, source: null,
  losses: [],           // [t, contextual, prior]
  result: null,         // ImageData of the final result
  live: null,           // ImageData of the latest live frame (overlay)
  showOriginal: false,
  timings: {},
  picked: [],           // explore: indices of the two chosen samples
  samplesZ: [],
};

// ---- small helpers ----
function canvas(size) { const c = document.createElement('canvas'); c.width = c.height = size; return c; }
function setStatus(text, kind = 'idle') { const s = $('status'); s.textContent = text; s.dataset.state = kind; }
function loadImage(src) {
  return new Promise((resolve, reject) => {
    const img = new Image();
    img.onload = () => resolve(img);
    img.onerror = () => reject(new Error('the image could not be loaded'));
    img.src = src;
  });
}
async function api(path, options = {}) {
  const r = await fetch(path, options);
  if (!r.ok) {
    let message = r.status + ' ' + r.statusText;
    try { message = (await r.json()).error || message; } catch (_) {}
    throw new Error(message);
  }
  return r;
}
function imageDataOf(img) {
  const c = canvas(state.size);
  const g = c.getContext('2d');
  g.drawImage(img, 0, 0, state.size, state.size);
  return g.getImageData(0, 0, state.size, state.size);
}
function drawScaled(target, data) {
  const g = target.getContext('2d');
  g.imageSmoothingEnabled = false;
  if (!data) { g.fillStyle = '#ccc'; g.fillRect(0, 0, target.width, target.height); return; }
  const c = canvas(state.size);
  c.getContext('2d').putImageData(data, 0, 0);
  g.drawImage(c, 0, 0, target.width, target.height);
}

// ---- models and images ----
async function loadModels() {
  const info = await (await api('/api/v1/models')).json();
  state.models = info.models;
  state.defaults = info.defaults;
  const select = $('model');
  select.innerHTML = '';
  for (const m of info.models) select.add(new Option(`${m.name} (${m.size}x${m.size}, ${m.channels === 1 ? 'grey' : 'colour'})`, m.name));
  for (const [k, v] of Object.entries(info.defaults)) {
    const field = $('settings').elements[k];
    if (field) field.value = v;
  }
  // The server's limits bound the form, so a value it would refuse cannot be typed in.
  const f = $('settings').elements;
  f.iters.max = f.ilo_iters.max = info.limits.max_iters;
  f.restarts.max = info.limits.max_restarts;
  // The server's preset table (the same one as `complete --mask` and the quality table).
  for (const p of info.presets) { const o = new Option(p.name, p.name); o.title = p.about; $('preset').add(o); }
  await chooseModel(info.models[0].name);
}

async function chooseModel(name) {
  state.model = state.models.find((m) => m.name === name);
  state.size = state.model.size;
  $('model').value = name;
  $('settings').elements.ilo_layers.max = state.model.max_ilo_layers;
  $('settings').elements.window.max = state.size;
  const ex = $('examples');
  ex.innerHTML = '';
  for (const file of state.model.examples) {
    const img = document.createElement('img');
    img.src = `/api/v1/models/${encodeURIComponent(name)}/examples/${encodeURIComponent(file)}`;
    img.title = file;
    img.dataset.example = file;
    img.addEventListener('click', () => openExample(file));
    ex.appendChild(img);
  }
  $('samples').innerHTML = '';
  $('interpolation').innerHTML = '';
  state.picked = [];
  if (state.model.examples.length) await openExample(state.model.examples[0]);
  else { state.image = null; resetMask(); }
}

async function openExample(file) {
  const img = await loadImage(`/api/v1/models/${encodeURIComponent(state.model.name)}/examples/${encodeURIComponent(file)}`);
  setImage(imageDataOf(img));
  setStatus(`Example ${file}: paint over what to fill, then Complete.`);
}

function setImage(data) {
  state.image = data;
  state.result = null; state.live = null;
  resetMask();
  drawOutputs();
}

// An image the user brings: prepared by the server exactly as `complete` prepares inputs.
async function openFile(file) {
  if (!file) return;
  try {
    const form = new FormData();
    form.append('model', state.model.name);
    form.append('image', file);
    const r = await api('/api/v1/prepare', { method: 'POST', body: form });
    const url = URL.createObjectURL(await r.blob());
    setImage(imageDataOf(await loadImage(url)));
    URL.revokeObjectURL(url);
    setStatus(`${file.name || 'pasted image'}: centre-cropped and resized to ${state.size}x${state.size}.`);
  } catch (e) { setStatus(`Cannot open ${file.name || 'the image'}: ${e.message}`, 'error'); }
}

// ---- the mask editor ----
function resetMask() {
  state.mask = new Uint8Array(state.size * state.size);
  state.lowres = false; state.undo = []; state.redo = [];
  drawEditor();
}
function remember() { state.undo.push({ mask: state.mask.slice(), lowres: state.lowres }); if (state.undo.length > 100) state.undo.shift(); state.redo = []; }
function restore(from, to) {
  const s = from.pop();
  if (!s) return;
  to.push({ mask: state.mask.slice(), lowres: state.lowres });
  state.mask = s.mask; state.lowres = s.lowres;
  drawEditor();
}

function blockMeans() {
  const n = state.size, b = 8, out = new ImageData(n, n), d = state.image.data;
  for (let by = 0; by < n; by += b) for (let bx = 0; bx < n; bx += b) {
    const sum = [0, 0, 0];
    for (let y = by; y < by + b; y++) for (let x = bx; x < bx + b; x++) for (let c = 0; c < 3; c++) sum[c] += d[(y * n + x) * 4 + c];
    for (let y = by; y < by + b; y++) for (let x = bx; x < bx + b; x++) {
      for (let c = 0; c < 3; c++) out.data[(y * n + x) * 4 + c] = sum[c] / (b * b);
      out.data[(y * n + x) * 4 + 3] = 255;
    }
  }
  return out;
}

function drawEditor() {
  const target = $('editor');
  if (!state.image) { drawScaled(target, null); return; }
  if (state.lowres) { drawScaled(target, blockMeans()); return; }
  const view = new ImageData(new Uint8ClampedArray(state.image.data), state.size, state.size);
  for (let i = 0; i < state.mask.length; i++) {
    if (!state.mask[i]) continue;
    const p = view.data;
    p[i * 4] = p[i * 4] * 0.35 + 255 * 0.65; p[i * 4 + 1] *= 0.35; p[i * 4 + 2] = p[i * 4 + 2] * 0.35 + 60 * 0.65;
  }
  drawScaled(target, view);
}

function paintAt(x, y) {
  const r = state.brush / 2, n = state.size, v = state.tool === 'brush' ? 1 : 0;
  for (let yy = Math.max(0, Math.floor(y - r)); yy <= Math.min(n - 1, Math.ceil(y + r)); yy++)
    for (let xx = Math.max(0, Math.floor(x - r)); xx <= Math.min(n - 1, Math.ceil(x + r)); xx++)
      if ((xx + 0.5 - x) ** 2 + (yy + 0.5 - y) ** 2 <= r * r + 0.25) state.mask[yy * n + xx] = v;
}

function setupEditor() {
  const ed = $('editor');
  let last = null;
  const at = (e) => { const b = ed.getBoundingClientRect(); return [(e.clientX - b.left) / b.width * state.size, (e.clientY - b.top) / b.height * state.size]; };
  ed.addEventListener('pointerdown', (e) => {
    if (!state.image) return;
    ed.setPointerCapture(e.pointerId);
    remember();
    if (state.lowres) { state.lowres = false; state.mask.fill(0); }
    last = at(e); paintAt(...last); drawEditor();
  });
  ed.addEventListener('pointermove', (e) => {
    if (!last) return;
    const p = at(e), steps = Math.max(1, Math.ceil(Math.hypot(p[0] - last[0], p[1] - last[1]) * 2));
    for (let k = 1; k <= steps; k++) paintAt(last[0] + (p[0] - last[0]) * k / steps, last[1] + (p[1] - last[1]) * k / steps);
    last = p; drawEditor();
  });
  const end = () => { last = null; };
  ed.addEventListener('pointerup', end);
  ed.addEventListener('pointercancel', end);
  const tool = (t) => { state.tool = t; $('brush').classList.toggle('on', t === 'brush'); $('eraser').classList.toggle('on', t === 'eraser'); };
  $('brush').onclick = () => tool('brush');
  $('eraser').onclick = () => tool('eraser');
  const size = (v) => { state.brush = Math.max(1, Math.min(32, v)); $('size').value = state.brush; $('size-out').textContent = state.brush; };
  $('size').oninput = (e) => size(+e.target.value);
  $('undo').onclick = () => restore(state.undo, state.redo);
  $('redo').onclick = () => restore(state.redo, state.undo);
  $('clear').onclick = () => { remember(); state.mask.fill(0); state.lowres = false; drawEditor(); };
  $('preset').onchange = async (e) => {
    const name = e.target.value;
    e.target.value = '';
    if (!name || !state.image) return;
    remember();
    if (name === 'lowres') { state.lowres = true; state.mask.fill(1); drawEditor(); return; }
    try {
      const seed = Math.floor(Math.random() * 1e6);
      const img = await loadImage(`/api/v1/models/${encodeURIComponent(state.model.name)}/masks/${name}?seed=${seed}`);
      const d = imageDataOf(img).data;
      state.lowres = false;
      for (let i = 0; i < state.mask.length; i++) state.mask[i] = d[i * 4] < 128 ? 1 : 0;
      drawEditor();
    } catch (err) { setStatus(`Preset ${name}: ${err.message}`, 'error'); }
  };
  $('mask-file').onchange = async (e) => {
    const file = e.target.files[0];
    e.target.value = '';
    if (!file) return;
    try {
      const img = await loadImage(URL.createObjectURL(file));
      // Centre-cropped and resized (nearest) like `complete` does; white = keep, black = fill.
      const side = Math.min(img.width, img.height), c = canvas(state.size), g = c.getContext('2d');
      g.imageSmoothingEnabled = false;
      g.drawImage(img, (img.width - side) / 2, (img.height - side) / 2, side, side, 0, 0, state.size, state.size);
      const d = g.getImageData(0, 0, state.size, state.size).data;
      remember();
      state.lowres = false;
      for (let i = 0; i < state.mask.length; i++) {
        const luma = 0.299 * d[i * 4] + 0.587 * d[i * 4 + 1] + 0.114 * d[i * 4 + 2];
        state.mask[i] = (d[i * 4 + 3] < 128 || luma < 128) ? 1 : 0;
      }
      drawEditor();
    } catch (err) { setStatus(`Cannot read the mask ${file.name}: ${err.message}`, 'error'); }
  };
  document.addEventListener('keydown', (e) => {
    if (e.target.matches('input, select, textarea')) return;
    if (e.key === '[') size(state.brush - 1);
    else if (e.key === ']') size(state.brush + 1);
    else if (e.key === 'b') tool('brush');
    else if (e.key === 'e') tool('eraser');
    else if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === 'z') { e.preventDefault(); e.shiftKey ? restore(state.redo, state.undo) : restore(state.undo, state.redo); }
    else if (e.key === 'Tab') { e.preventDefault(); state.showOriginal = true; drawOutputs(); }
  });
  document.addEventListener('keyup', (e) => { if (e.key === 'Tab') { state.showOriginal = false; drawOutputs(); } });
  // Drag and drop, and paste.
  document.addEventListener('dragover', (e) => { e.preventDefault(); document.body.classList.add('dragging'); });
  document.addEventListener('dragleave', () => document.body.classList.remove('dragging'));
  document.addEventListener('drop', (e) => { e.preventDefault(); document.body.classList.remove('dragging'); openFile(e.dataTransfer.files[0]); });
  document.addEventListener('paste', (e) => {
    const item = [...(e.clipboardData || {}).items || []].find((i) => i.type.startsWith('image/'));
    if (item) openFile(item.getAsFile());
  });
  $('open').onchange = (e) => { openFile(e.target.files[0]); e.target.value = ''; };
  $('model').onchange = (e) => chooseModel(e.target.value);
  $('compare').oninput = drawOutputs;
}

// ---- outputs ----
function drawOutputs() {
  const shown = state.result || state.live;
  const target = $('result');
  if (state.showOriginal || !shown) { drawScaled(target, state.showOriginal ? state.image : null); return; }
  drawScaled(target, shown);
  // The compare slider: the original on the left of the split.
  const split = +$('compare').value / 100 * target.width;
  if (split > 0 && state.image) {
    const g = target.getContext('2d'), c = canvas(state.size);
    c.getContext('2d').putImageData(state.image, 0, 0);
    g.imageSmoothingEnabled = false;
    g.drawImage(c, 0, 0, split / target.width * state.size, state.size, 0, 0, split, target.height);
    g.fillStyle = '#e53e3e'; g.fillRect(split - 1, 0, 2, target.height);
  }
}

function drawCurve() {
  const cv = $('curve'), g = cv.getContext('2d'), W = cv.width, H = cv.height, pad = 24;
  g.clearRect(0, 0, W, H);
  g.font = '11px system-ui'; g.fillStyle = '#777';
  if (!state.losses.length) { g.fillText('losses appear here while z is optimised', pad, H / 2); return; }
  const n = state.iterations || state.losses.length;
  const series = [
    { k: 1, color: '#2b6cb0', name: 'contextual (log)', f: (v) => Math.log10(Math.max(v, 1e-6)) },
    { k: 2, color: '#dd6b20', name: 'prior', f: (v) => v },
  ];
  series.forEach((s, i) => {
    const ys = state.losses.map((l) => s.f(l[s.k]));
    let lo = Math.min(...ys), hi = Math.max(...ys);
    if (hi - lo < 1e-9) { hi += 0.5; lo -= 0.5; }
    g.strokeStyle = s.color; g.lineWidth = 1.5; g.beginPath();
    state.losses.forEach((l, j) => {
      const x = pad + (l[0] / Math.max(1, n - 1)) * (W - 2 * pad), y = H - pad - (ys[j] - lo) / (hi - lo) * (H - 2 * pad);
      j ? g.lineTo(x, y) : g.moveTo(x, y);
    });
    g.stroke();
    const last = state.losses[state.losses.length - 1][s.k];
    g.fillStyle = s.color; g.fillText(`${s.name}: ${last.toPrecision(4)}`, pad + i * 170, 12);
  });
  g.fillStyle = '#777'; g.fillText(`iteration ${state.losses[state.losses.length - 1][0]} / ${n - 1}`, W - 130, H - 6);
}

// ---- completion ----
function pngBlob(data) { const c = canvas(state.size); c.getContext('2d').putImageData(data, 0, 0); return new Promise((r) => c.toBlob(r, 'image/png')); }
function maskImage() {
  const d = new ImageData(state.size, state.size);
  for (let i = 0; i < state.mask.length; i++) { const v = state.mask[i] ? 0 : 255; d.data.set([v, v, v, 255], i * 4); }
  return d;
}
function options() {
  const out = {};
  for (const el of $('settings').elements) {
    if (!el.name || el.value === '') continue;
    out[el.name] = el.type === 'number' ? Number(el.value) : el.value;
  }
  return out;
}

async function complete() {
  if (!state.image) { setStatus('Open an image or pick an example first.', 'error'); return; }
  if (!state.lowres && !state.mask.some((v) => v)) { setStatus('Paint over what to fill first (or pick a preset).', 'error'); return; }
  cancel();
  const form = new FormData();
  form.append('model', state.model.name);
  form.append('image', await pngBlob(state.image), 'image.png');
  if (state.lowres) form.append('preset', 'lowres'); else form.append('keep_mask', await pngBlob(maskImage()), 'mask.png');
  form.append('options', JSON.stringify(options()));
  state.losses = []; state.result = null; state.live = null; state.iterations = 0;
  state.timings = { clicked: performance.now() };
  for (const id of ['download-png', 'download-gif']) $(id).classList.add('disabled');
  drawCurve(); drawOutputs(); drawScaled($('generated'), null);
  $('complete').disabled = true; $('cancel').disabled = false;
  setStatus('Sending…', 'running');
  let job;
  try { job = await (await api('/api/v1/jobs', { method: 'POST', body: form })).json(); }
  catch (e) { finish(`Not started: ${e.message}`, 'error'); return; }
  state.job = job;
  const source = new EventSource(job.events);
  state.source = source;
  const on = (name, f) => source.addEventListener(name, (e) => f(JSON.parse(e.data)));
  on('queued', (e) => setStatus(e.position > 1 ? `Queued: ${e.position - 1} job(s) ahead.` : 'Starting…', 'running'));
  on('start', (e) => {
    state.iterations = e.iterations;
    $('progress').max = Math.max(1, e.iterations);
    setStatus(e.iterations ? `Optimising z${e.batch_jobs > 1 ? ` (batched with ${e.batch_jobs - 1} other job(s))` : ''}…` : 'Filling…', 'running');
  });
  on('progress', async (e) => {
    state.losses.push([e.t, e.contextual, e.prior]);
    $('progress').value = e.t + 1;
    if (e.generated) {
      if (state.timings.firstFrame === undefined) state.timings.firstFrame = performance.now() - state.timings.clicked;
      const [gz, done] = await Promise.all([loadImage(e.generated), loadImage(e.completed)]);
      drawScaled($('generated'), imageDataOf(gz));
      if (!state.result) { state.live = imageDataOf(done); drawOutputs(); }
    }
    drawCurve();
  });
  on('done', async (e) => {
    state.timings.done = performance.now() - state.timings.clicked;
    source.close();
    try {
      state.result = imageDataOf(await loadImage(e.result + '?t=' + Date.now()));
      $('download-png').href = e.result; $('download-gif').href = e.gif;
      for (const id of ['download-png', 'download-gif']) $(id).classList.remove('disabled');
      drawOutputs();
      finish(`Done in ${e.seconds.toFixed(1)} s.`, 'done');
    } catch (err) { finish(`The result could not be loaded: ${err.message}`, 'error'); }
  });
  on('cancelled', () => { source.close(); finish('Cancelled.', 'idle'); });
  // A server 'error' event carries data; a connection error does not.
  source.addEventListener('error', (e) => {
    source.close();
    if (e.data) finish(`Failed: ${JSON.parse(e.data).message}`, 'error');
    else if (state.source === source) finish('The connection to the server was lost.', 'error');
  });
}

function finish(text, kind) {
  state.source = null; state.job = null;
  $('complete').disabled = false; $('cancel').disabled = true;
  setStatus(text, kind);
}

function cancel() {
  if (!state.job) return;
  fetch(state.job.cancel, { method: 'DELETE' });
  if (state.source) state.source.close();
  finish('Cancelled.', 'idle');
}

// ---- explore ----
function randomZ() { return Array.from({ length: state.model.z_dim }, () => Math.random() * 2 - 1); }
async function generate(zs) {
  const r = await api('/api/v1/generate', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: state.model.name, z: zs }) });
  return (await r.json()).images;
}
async function newSamples() {
  $('explore-status').textContent = 'generating…';
  state.samplesZ = Array.from({ length: 16 }, randomZ);
  state.picked = [];
  $('interpolation').innerHTML = '';
  try {
    const images = await generate(state.samplesZ);
    const grid = $('samples');
    grid.innerHTML = '';
    images.forEach((src, i) => {
      const img = document.createElement('img');
      img.src = src; img.title = 'click two samples to interpolate';
      img.onclick = () => pick(i, img);
      grid.appendChild(img);
    });
    $('explore-status').textContent = 'click two samples to see the path between their z';
  } catch (e) { $('explore-status').textContent = e.message; }
}
async function pick(i, img) {
  if (state.picked.length === 2) { state.picked = []; document.querySelectorAll('#samples img.picked').forEach((el) => el.classList.remove('picked')); }
  state.picked.push(i); img.classList.add('picked');
  if (state.picked.length < 2) return;
  const [a, b] = state.picked.map((k) => state.samplesZ[k]);
  const zs = Array.from({ length: 10 }, (_, k) => a.map((v, j) => v + (b[j] - v) * k / 9));
  try {
    const images = await generate(zs);
    const row = $('interpolation');
    row.innerHTML = '';
    for (const src of images) { const el = document.createElement('img'); el.src = src; row.appendChild(el); }
    $('explore-status').textContent = 'z moves in a straight line from the first pick to the second';
  } catch (e) { $('explore-status').textContent = e.message; }
}

// ---- for tests and the curious: the model-resolution pixels ----
function snapshot() {
  const grab = (d) => (d ? Array.from(d.data) : null);
  // Callable at any moment, also before the first image (and its mask) exists.
  return { size: state.size, image: grab(state.image), mask: state.mask ? Array.from(state.mask) : null, lowres: state.lowres, result: grab(state.result), timings: state.timings, status: $('status').dataset.state };
}

$('complete').onclick = complete;
$('cancel').onclick = cancel;
$('sample').onclick = newSamples;
$('explore').addEventListener('toggle', () => { if ($('explore').open && !$('samples').children.length) newSamples(); });
window.dcgan = { state, snapshot };
setupEditor();
drawCurve();
loadModels().then(() => $('status').dataset.ready = 'yes').catch((e) => setStatus(`Cannot use the server: ${e.message}`, 'error'));
