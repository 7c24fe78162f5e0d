// The page: a photo at its own resolution with a mask painted on it (1 = fill) and the
// square of it the model sees; a job that streams its frames over Server-Sent Events and
// ends in the result at the photo's resolution; the explore panel. Everything it does goes
// through the HTTP API documented in the README.
'use strict';

const $ = (id) => document.getElementById(id);
const state = {
  models: [], model: null, defaults: {}, limits: {}, presets: [],
  photo: null,          // { blob, name, w, h, canvas (the photo at its resolution), data (its ImageData) }
  mask: null,           // Uint8Array(w * h), 1 = fill
  maskCanvas: null,     // w x h, the mask drawn in red
  lowres: false,        // the lowres preset: only block means of the square are known
  region: null,         // { x, y, size }: the square the model sees, in photo pixels
  undo: [], redo: [],
  tool: 'brush', brush: 32,
  job: null, source: null,
  losses: [], iterations: 0,
  result: null,         // { canvas (full resolution), url, mime, width, height, notes }
  showOriginal: false,
  timings: {},
  picked: [], samplesZ: [],
  pointer: null,        // the pointer over the editor, in canvas pixels (for the brush circle)
};
const UNDO_BYTES = 64 << 20;

// ---- small helpers ----
function canvas(w, h) { const c = document.createElement('canvas'); c.width = w; c.height = h ?? w; return c; }
function setStatus(text, kind = 'idle') { const s = $('status'); s.textContent = text; s.dataset.state = kind; }
function setNotes(lines) {
  const list = $('notes');
  list.innerHTML = '';
  for (const line of lines) { const li = document.createElement('li'); li.textContent = line; list.appendChild(li); }
}
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
function setDownload(id, href, name) {
  const a = $(id);
  if (href) { a.href = href; if (name) a.download = name; a.setAttribute('aria-disabled', 'false'); a.removeAttribute('tabindex'); }
  else { a.removeAttribute('href'); a.setAttribute('aria-disabled', 'true'); a.setAttribute('tabindex', '-1'); }
}
const EXTENSIONS = { 'image/png': 'png', 'image/jpeg': 'jpg', 'image/webp': 'webp', 'image/bmp': 'bmp' };

// ---- models ----
async function loadModels() {
  const info = await (await api('/api/v1/models')).json();
  state.models = info.models; state.defaults = info.defaults; state.limits = info.limits; state.presets = info.presets;
  const select = $('model');
  select.innerHTML = '';
  for (const m of info.models) select.add(new Option(`${m.name} (${m.size}x${m.size}, ${m.channels === 1 ? 'grey' : 'colour'})`, m.name));
  const f = $('settings').elements;
  for (const [k, v] of Object.entries(info.defaults)) if (f[k]) f[k].value = v;
  // The server's limits bound the form, so a value it would refuse cannot be typed in.
  f.iters.max = f.ilo_iters.max = info.limits.max_iters;
  f.restarts.max = info.limits.max_restarts;
  // The server's preset table (the same one as `complete --mask` and the quality table).
  for (const p of info.presets) { const o = new Option(p.name, p.name); o.title = p.about; $('preset').add(o); }
  await chooseModel(info.current || info.models[0].name);
}

// Switching the model keeps the user's picture: only a first visit opens an example.
async function chooseModel(name) {
  state.model = state.models.find((m) => m.name === name);
  $('model').value = name;
  $('model-about').textContent = `This model knows ${state.model.about}.`;
  const f = $('settings').elements;
  f.ilo_layers.max = state.model.max_ilo_layers;
  f.window.max = state.model.size;
  const ex = $('examples');
  ex.innerHTML = '';
  for (const file of state.model.examples) {
    const b = document.createElement('button');
    b.type = 'button';
    b.dataset.example = file;
    b.setAttribute('aria-pressed', 'false');
    const img = document.createElement('img');
    img.src = `/api/v1/models/${encodeURIComponent(name)}/examples/${encodeURIComponent(file)}`;
    img.alt = `Example ${file}`;
    b.appendChild(img);
    b.addEventListener('click', () => openExample(file));
    ex.appendChild(b);
  }
  $('samples').innerHTML = ''; $('interpolation').innerHTML = ''; state.picked = [];
  if (state.photo) { invalidate(`Model ${name}: complete again for its result.`); drawModelView(); }
  else if (state.model.examples.length) await openExample(state.model.examples[0]);
}

// ---- the photo ----
async function openExample(file) {
  const r = await api(`/api/v1/models/${encodeURIComponent(state.model.name)}/examples/${encodeURIComponent(file)}`);
  await setPhoto(await r.blob(), file);
  for (const b of $('examples').children) b.setAttribute('aria-pressed', String(b.dataset.example === file));
  setStatus(`Example ${file}: paint over what to fill, then Complete.`);
}

// Any picture the browser decodes, kept as it came (its bytes go to the server, which answers
// at its resolution and in its format).
async function setPhoto(blob, name) {
  const bitmap = await createImageBitmap(blob);
  const w = bitmap.width, h = bitmap.height;
  const c = canvas(w, h), g = c.getContext('2d', { willReadFrequently: true });
  g.drawImage(bitmap, 0, 0);
  state.photo = { blob, name, w, h, canvas: c, data: g.getImageData(0, 0, w, h) };
  state.mask = new Uint8Array(w * h);
  state.maskCanvas = canvas(w, h);
  state.lowres = false; state.undo = []; state.redo = [];
  const side = Math.min(w, h);
  setRegion({ x: Math.floor((w - side) / 2), y: Math.floor((h - side) / 2), size: side });
  const k = 384 / Math.max(w, h);
  const ed = $('editor'), ov = $('overlay'), res = $('result');
  for (const el of [ed, ov, res]) { el.width = Math.max(1, Math.round(w * k)); el.height = Math.max(1, Math.round(h * k)); }
  for (const b of $('examples').children) b.setAttribute('aria-pressed', 'false');
  $('image-info').textContent = `${name}: ${w}x${h}. The result keeps this size; only the painted pixels change.`;
  invalidate();
  drawEditor();
}

async function openFile(file) {
  if (!file) return;
  try {
    await setPhoto(file, file.name || 'pasted.png');
    setStatus(`${file.name || 'The pasted image'} opened: paint over what to fill, move the square the model sees if needed, then Complete.`);
  } catch (e) { setStatus(`Cannot open ${file.name || 'the image'}: ${e.message}`, 'error'); }
}

// ---- the square the model sees ----
function setRegion(r) {
  const p = state.photo;
  const size = Math.max(1, Math.min(Math.round(r.size), p.w, p.h));
  const x = Math.max(0, Math.min(Math.round(r.x), p.w - size)), y = Math.max(0, Math.min(Math.round(r.y), p.h - size));
  const changed = !state.region || state.region.x !== x || state.region.y !== y || state.region.size !== size;
  state.region = { x, y, size };
  $('region-x').value = x; $('region-y').value = y; $('region-size').value = size;
  $('region-x').max = p.w - 1; $('region-y').max = p.h - 1; $('region-size').max = Math.min(p.w, p.h);
  if (changed) { invalidate(); drawModelView(); drawOverlay(); }
}

// The square at the model's size, as the server prepares it (resized, in the model's
// channels), with its hole in grey.
function drawModelView() {
  if (!state.photo || !state.model) return;
  const s = state.model.size, r = state.region, small = canvas(s), g = small.getContext('2d', { willReadFrequently: true });
  g.imageSmoothingQuality = 'high';
  g.drawImage(state.photo.canvas, r.x, r.y, r.size, r.size, 0, 0, s, s);
  const d = g.getImageData(0, 0, s, s);
  const holes = canvas(s), hg = holes.getContext('2d', { willReadFrequently: true });
  hg.drawImage(state.maskCanvas, r.x, r.y, r.size, r.size, 0, 0, s, s);
  const m = hg.getImageData(0, 0, s, s).data;
  for (let i = 0; i < s * s; i++) {
    const p = d.data;
    if (state.model.channels === 1) { const y = 0.299 * p[i * 4] + 0.587 * p[i * 4 + 1] + 0.114 * p[i * 4 + 2]; p[i * 4] = p[i * 4 + 1] = p[i * 4 + 2] = y; }
    if (state.lowres || m[i * 4 + 3] > 0) { p[i * 4] = p[i * 4 + 1] = p[i * 4 + 2] = 128; }
  }
  g.putImageData(d, 0, 0);
  const view = $('model-view').getContext('2d');
  view.imageSmoothingEnabled = false;
  view.drawImage(small, 0, 0, 128, 128);
}

// ---- the mask editor ----
function maskBytes() { return state.mask.length; }
function remember() {
  state.undo.push({ mask: state.mask.slice(), lowres: state.lowres });
  while (state.undo.length > 1 && state.undo.length * maskBytes() > UNDO_BYTES) state.undo.shift();
  state.redo = [];
}
function restore(from, to) {
  const s = from.pop();
  if (!s) return;
  to.push({ mask: state.mask.slice(), lowres: state.lowres });
  state.mask = s.mask; state.lowres = s.lowres;
  redrawMask(0, 0, state.photo.w, state.photo.h);
  maskChanged();
}
// The red mask view of the pixels in [x0, x1) x [y0, y1).
function redrawMask(x0, y0, x1, y1) {
  const w = state.photo.w;
  x0 = Math.max(0, x0); y0 = Math.max(0, y0); x1 = Math.min(w, x1); y1 = Math.min(state.photo.h, y1);
  if (x1 <= x0 || y1 <= y0) return;
  const d = new ImageData(x1 - x0, y1 - y0);
  for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) {
    if (!state.mask[y * w + x]) continue;
    const i = ((y - y0) * (x1 - x0) + (x - x0)) * 4;
    d.data[i] = 229; d.data[i + 1] = 40; d.data[i + 2] = 60; d.data[i + 3] = 170;
  }
  state.maskCanvas.getContext('2d').putImageData(d, x0, y0);
}
function maskChanged() { invalidate(); drawEditor(); drawModelView(); }

function drawEditor() {
  const ed = $('editor'), g = ed.getContext('2d');
  g.imageSmoothingEnabled = ed.width < state.photo.w;
  g.drawImage(state.photo.canvas, 0, 0, ed.width, ed.height);
  if (state.lowres) {
    const r = state.region, k = ed.width / state.photo.w;
    g.fillStyle = 'rgba(128,128,128,0.75)'; g.fillRect(r.x * k, r.y * k, r.size * k, r.size * k);
  } else {
    g.drawImage(state.maskCanvas, 0, 0, ed.width, ed.height);
  }
  drawOverlay();
}

// The square the model sees (dashed, with its resize handle) and the brush circle.
function drawOverlay() {
  const ov = $('overlay'), g = ov.getContext('2d');
  g.clearRect(0, 0, ov.width, ov.height);
  if (!state.photo) return;
  const k = ov.width / state.photo.w, r = state.region;
  g.lineWidth = 2; g.setLineDash([6, 4]); g.strokeStyle = '#ffd400';
  g.strokeRect(r.x * k + 1, r.y * k + 1, r.size * k - 2, r.size * k - 2);
  g.setLineDash([]); g.fillStyle = '#ffd400';
  g.fillRect((r.x + r.size) * k - 10, (r.y + r.size) * k - 10, 10, 10);
  if (state.pointer && state.tool !== 'region') {
    g.strokeStyle = '#000'; g.lineWidth = 1;
    g.beginPath(); g.arc(state.pointer[0], state.pointer[1], state.brush / 2 * ov.width / $('editor').getBoundingClientRect().width, 0, 2 * Math.PI); g.stroke();
    g.strokeStyle = '#fff'; g.beginPath(); g.arc(state.pointer[0], state.pointer[1], state.brush / 2 * ov.width / $('editor').getBoundingClientRect().width + 1, 0, 2 * Math.PI); g.stroke();
  }
}

// Paint a disc of the brush's size (in screen pixels) at photo coordinates (x, y); returns
// the touched box.
function paintAt(x, y, radius) {
  const w = state.photo.w, h = state.photo.h, v = state.tool === 'brush' ? 1 : 0;
  const x0 = Math.max(0, Math.floor(x - radius)), x1 = Math.min(w - 1, Math.ceil(x + radius));
  const y0 = Math.max(0, Math.floor(y - radius)), y1 = Math.min(h - 1, Math.ceil(y + radius));
  for (let yy = y0; yy <= y1; yy++) for (let xx = x0; xx <= x1; xx++)
    if ((xx + 0.5 - x) ** 2 + (yy + 0.5 - y) ** 2 <= radius * radius + 0.25) state.mask[yy * w + xx] = v;
  return [x0, y0, x1 + 1, y1 + 1];
}

function setTool(t) {
  state.tool = t;
  for (const [id, name] of [['brush', 'brush'], ['eraser', 'eraser'], ['region-tool', 'region']]) $(id).setAttribute('aria-pressed', String(t === name));
  drawOverlay();
}

function setupEditor() {
  const ed = $('editor');
  let last = null, drag = null;
  const photoAt = (e) => { const b = ed.getBoundingClientRect(); return [(e.clientX - b.left) / b.width * state.photo.w, (e.clientY - b.top) / b.height * state.photo.h]; };
  const canvasAt = (e) => { const b = ed.getBoundingClientRect(); return [(e.clientX - b.left) / b.width * ed.width, (e.clientY - b.top) / b.height * ed.height]; };
  const radius = () => state.brush / 2 * state.photo.w / ed.getBoundingClientRect().width;
  ed.addEventListener('pointerdown', (e) => {
    if (!state.photo) return;
    ed.setPointerCapture(e.pointerId);
    const p = photoAt(e);
    if (state.tool === 'region') {
      const r = state.region, handle = 12 * state.photo.w / ed.getBoundingClientRect().width;
      const resize = Math.abs(p[0] - (r.x + r.size)) < handle && Math.abs(p[1] - (r.y + r.size)) < handle;
      drag = { start: p, region: { ...r }, resize };
      return;
    }
    remember();
    if (state.lowres) { state.lowres = false; state.mask.fill(0); redrawMask(0, 0, state.photo.w, state.photo.h); }
    last = p;
    const box = paintAt(...p, radius());
    redrawMask(...box); maskChanged();
  });
  ed.addEventListener('pointermove', (e) => {
    state.pointer = canvasAt(e);
    if (drag) {
      const p = photoAt(e), dx = p[0] - drag.start[0], dy = p[1] - drag.start[1], r = drag.region;
      setRegion(drag.resize ? { x: r.x, y: r.y, size: r.size + Math.max(dx, dy) } : { x: r.x + dx, y: r.y + dy, size: r.size });
      drawEditor();
      return;
    }
    if (!last) { drawOverlay(); return; }
    const p = photoAt(e), rad = radius(), steps = Math.max(1, Math.ceil(Math.hypot(p[0] - last[0], p[1] - last[1]) / Math.max(0.5, rad / 2)));
    let box = [Infinity, Infinity, -Infinity, -Infinity];
    for (let k = 1; k <= steps; k++) {
      const b = paintAt(last[0] + (p[0] - last[0]) * k / steps, last[1] + (p[1] - last[1]) * k / steps, rad);
      box = [Math.min(box[0], b[0]), Math.min(box[1], b[1]), Math.max(box[2], b[2]), Math.max(box[3], b[3])];
    }
    last = p;
    redrawMask(...box); maskChanged();
  });
  const end = () => { last = null; drag = null; };
  ed.addEventListener('pointerup', end);
  ed.addEventListener('pointercancel', end);
  ed.addEventListener('pointerleave', () => { state.pointer = null; drawOverlay(); });
  // The square by keyboard, while the editor has the focus: arrows move it, + and - resize it.
  ed.addEventListener('keydown', (e) => {
    if (!state.photo) return;
    const r = state.region, step = e.shiftKey ? Math.max(1, Math.round(r.size / 10)) : 1;
    const moves = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step] };
    if (moves[e.key]) { e.preventDefault(); setRegion({ x: r.x + moves[e.key][0], y: r.y + moves[e.key][1], size: r.size }); drawEditor(); }
    else if (e.key === '+' || e.key === '=') { e.preventDefault(); setRegion({ x: r.x, y: r.y, size: r.size + Math.max(1, Math.round(r.size / 20)) }); drawEditor(); }
    else if (e.key === '-') { e.preventDefault(); setRegion({ x: r.x, y: r.y, size: r.size - Math.max(1, Math.round(r.size / 20)) }); drawEditor(); }
  });
  for (const id of ['region-x', 'region-y', 'region-size']) $(id).addEventListener('change', () => {
    setRegion({ x: +$('region-x').value, y: +$('region-y').value, size: +$('region-size').value }); drawEditor();
  });
  $('region-centre').onclick = () => { const p = state.photo, side = Math.min(p.w, p.h); setRegion({ x: (p.w - side) / 2, y: (p.h - side) / 2, size: side }); drawEditor(); };
  $('brush').onclick = () => setTool('brush');
  $('eraser').onclick = () => setTool('eraser');
  $('region-tool').onclick = () => setTool('region');
  const size = (v) => { state.brush = Math.max(1, Math.min(96, v)); $('size').value = state.brush; $('size-out').textContent = state.brush; drawOverlay(); };
  $('size').oninput = (e) => size(+e.target.value);
  $('undo').onclick = () => restore(state.undo, state.redo);
  $('redo').onclick = () => restore(state.redo, state.undo);
  $('clear').onclick = () => { remember(); state.mask.fill(0); state.lowres = false; redrawMask(0, 0, state.photo.w, state.photo.h); maskChanged(); };
  $('preset').onchange = async (e) => {
    const name = e.target.value;
    if (!name || !state.photo) return;
    remember();
    state.mask.fill(0);
    if (name === 'lowres') { state.lowres = true; redrawMask(0, 0, state.photo.w, state.photo.h); maskChanged(); return; }
    try {
      const seed = Math.floor(Math.random() * 1e6), s = state.model.size;
      const img = await loadImage(`/api/v1/models/${encodeURIComponent(state.model.name)}/masks/${name}?seed=${seed}`);
      const c = canvas(s), g = c.getContext('2d', { willReadFrequently: true });
      g.drawImage(img, 0, 0);
      const d = g.getImageData(0, 0, s, s).data, r = state.region, w = state.photo.w;
      // Made at the model's size, laid on the square (nearest), as the command line does.
      for (let y = 0; y < r.size; y++) for (let x = 0; x < r.size; x++) {
        const i = Math.floor(y * s / r.size) * s + Math.floor(x * s / r.size);
        state.mask[(r.y + y) * w + r.x + x] = d[i * 4] < 128 ? 1 : 0;
      }
      state.lowres = false;
      redrawMask(0, 0, state.photo.w, state.photo.h); maskChanged();
    } catch (err) { setStatus(`Preset ${name}: ${err.message}`, 'error'); }
  };
  $('mask-file').onchange = async (e) => {
    const file = e.target.files[0];
    e.target.value = '';
    if (!file) return;
    try { readMask(await createImageBitmap(file)); } catch (err) { setStatus(`Cannot read the mask ${file.name}: ${err.message}`, 'error'); }
  };
  document.addEventListener('keydown', (e) => {
    if (e.target.matches('input, select, textarea')) return;
    if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === 'z') { e.preventDefault(); e.shiftKey ? restore(state.redo, state.undo) : restore(state.undo, state.redo); return; }
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    if (e.key === '[') size(state.brush - 2);
    else if (e.key === ']') size(state.brush + 2);
    else if (e.key === 'b') setTool('brush');
    else if (e.key === 'e') setTool('eraser');
    else if (e.key === 'r') setTool('region');
    // Hold O to see the original (Tab stays for moving between controls).
    else if (e.key === 'o' && !e.repeat) showOriginal(true);
  });
  document.addEventListener('keyup', (e) => { if (e.key === 'o') showOriginal(false); });
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
  $('compare').oninput = drawResult;
  const hold = $('hold-original');
  hold.addEventListener('pointerdown', () => showOriginal(true));
  for (const ev of ['pointerup', 'pointerleave', 'pointercancel', 'blur']) hold.addEventListener(ev, () => showOriginal(false));
  hold.addEventListener('keydown', (e) => { if (e.key === ' ' || e.key === 'Enter') { e.preventDefault(); showOriginal(true); } });
  hold.addEventListener('keyup', (e) => { if (e.key === ' ' || e.key === 'Enter') showOriginal(false); });
}

// A mask image, white = keep (or drawn in alpha): of the photo's size, of its shape (resized),
// or square for the region the model sees, as the command line reads it.
function readMask(bitmap) {
  const p = state.photo, r = state.region;
  let target;
  if (bitmap.width === p.w && bitmap.height === p.h) target = [0, 0, p.w, p.h];
  else if (bitmap.width * p.h === bitmap.height * p.w) target = [0, 0, p.w, p.h];
  else if (bitmap.width === bitmap.height) target = [r.x, r.y, r.size, r.size];
  else throw new Error(`it is ${bitmap.width}x${bitmap.height}, the image ${p.w}x${p.h}: give a mask of the image's size`);
  const c = canvas(target[2], target[3]), g = c.getContext('2d', { willReadFrequently: true });
  g.imageSmoothingEnabled = false;
  g.drawImage(bitmap, 0, 0, target[2], target[3]);
  const d = g.getImageData(0, 0, target[2], target[3]).data;
  let alphaVaries = false, lumaFlat = true;
  for (let i = 0; i < d.length / 4; i++) { if (d[i * 4 + 3] !== d[3]) alphaVaries = true; if (d[i * 4] !== d[0]) lumaFlat = false; }
  remember();
  state.mask.fill(0); state.lowres = false;
  for (let y = 0; y < target[3]; y++) for (let x = 0; x < target[2]; x++) {
    const i = (y * target[2] + x) * 4, luma = 0.299 * d[i] + 0.587 * d[i + 1] + 0.114 * d[i + 2];
    const hole = alphaVaries && lumaFlat ? d[i + 3] < 128 : luma < 128;
    state.mask[(target[1] + y) * p.w + target[0] + x] = hole ? 1 : 0;
  }
  redrawMask(0, 0, p.w, p.h); maskChanged();
}

// ---- outputs ----
function showOriginal(on) { if (state.showOriginal !== on) { state.showOriginal = on; drawResult(); } }

function drawResult() {
  const target = $('result'), g = target.getContext('2d');
  if (!state.photo) return;
  g.imageSmoothingEnabled = target.width < state.photo.w;
  const shown = state.showOriginal || !state.result ? state.photo.canvas : state.result.canvas;
  if (!state.result && !state.showOriginal) { g.fillStyle = '#ccc'; g.fillRect(0, 0, target.width, target.height); return; }
  g.drawImage(shown, 0, 0, target.width, target.height);
  // The compare slider: the original left of the split.
  const split = +$('compare').value / 100 * target.width;
  if (split > 0 && state.result && !state.showOriginal) {
    g.drawImage(state.photo.canvas, 0, 0, split / target.width * state.photo.w, state.photo.h, 0, 0, split, target.height);
    g.fillStyle = '#c0392b'; g.fillRect(split - 1, 0, 2, target.height);
  }
}

function drawModelFrame(id, img) { const g = $(id).getContext('2d'); g.imageSmoothingEnabled = false; g.drawImage(img, 0, 0, 128, 128); }
function clearModelFrame(id) { const g = $(id).getContext('2d'); g.fillStyle = '#ccc'; g.fillRect(0, 0, 128, 128); }

function drawCurve() {
  const cv = $('curve'), g = cv.getContext('2d'), W = cv.width, H = cv.height, pad = 24;
  g.clearRect(0, 0, W, H);
  g.font = '11px system-ui'; g.fillStyle = '#555';
  if (!state.losses.length) { g.fillText('losses appear here while z is optimised', pad, H / 2); return; }
  const n = state.iterations || state.losses.length;
  const series = [
    { k: 1, color: '#1f5a99', name: 'contextual (log)', f: (v) => Math.log10(Math.max(v, 1e-6)) },
    { k: 2, color: '#a04a00', name: 'prior', f: (v) => v },
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
  g.fillStyle = '#555'; g.fillText(`iteration ${state.losses[state.losses.length - 1][0]} / ${n - 1}`, W - 130, H - 6);
}

// A change of image, model, mask or square makes the last result stale: it goes, with its
// downloads, and a running job is cancelled.
function invalidate(message) {
  if (state.job) cancel(false);
  const had = !!state.result;
  if (state.result && state.result.url) URL.revokeObjectURL(state.result.url);
  state.result = null; state.losses = []; state.iterations = 0;
  $('progress').value = 0;
  for (const id of ['download-result', 'download-preview', 'download-gif']) setDownload(id, null);
  $('use-result').disabled = true;
  clearModelFrame('generated'); clearModelFrame('live');
  setNotes([]);
  drawCurve(); drawResult();
  if (message) setStatus(message);
  else if (had) setStatus('Changed since the last result: complete again to see it.');
}

// ---- completion ----
function pngBlob(c) { return new Promise((r) => c.toBlob(r, 'image/png')); }
function keepMask() {
  const p = state.photo, c = canvas(p.w, p.h), g = c.getContext('2d'), d = g.createImageData(p.w, p.h);
  for (let i = 0; i < state.mask.length; i++) { const v = state.mask[i] ? 0 : 255; d.data[i * 4] = d.data[i * 4 + 1] = d.data[i * 4 + 2] = v; d.data[i * 4 + 3] = 255; }
  g.putImageData(d, 0, 0);
  return pngBlob(c);
}
function options() {
  const out = {};
  for (const el of $('settings').elements) {
    if (!el.name || el.value === '') continue;
    out[el.name] = el.type === 'number' ? Number(el.value) : el.value;
  }
  return out;
}
function phaseText(phase) { return phase === 'z' ? 'Optimising z' : `Refining ${phase}`; }

async function complete() {
  if (!state.photo) { setStatus('Open an image or pick an example first.', 'error'); return; }
  if (!state.lowres && !state.mask.some((v) => v)) { setStatus('Paint over what to fill first (or pick a preset).', 'error'); return; }
  invalidate();
  const r = state.region, form = new FormData();
  form.append('model', state.model.name);
  form.append('image', state.photo.blob, state.photo.name);
  if (state.lowres) form.append('preset', 'lowres'); else form.append('keep_mask', await keepMask(), 'mask.png');
  form.append('region', `${r.x},${r.y},${r.size}`);
  form.append('options', JSON.stringify(options()));
  state.timings = { clicked: performance.now() };
  $('complete').disabled = true; $('try-another').disabled = true; $('cancel').disabled = false;
  setStatus('Sending…', 'running');
  let job;
  try { job = await (await api('/api/v1/jobs', { method: 'POST', body: form })).json(); }
  catch (e) { finish(`Not started: ${e.message}`, 'error'); return; }
  state.job = job;
  if (job.warnings.length) setNotes(job.warnings);
  const source = new EventSource(job.events);
  state.source = source;
  const on = (name, f) => source.addEventListener(name, (e) => { if (state.source === source) f(JSON.parse(e.data)); });
  on('queued', (e) => setStatus(e.position > 1 ? `Waiting: ${e.position - 1} job(s) ahead${e.eta_seconds != null ? `, about ${Math.max(1, Math.round(e.eta_seconds))} s` : ''}.` : 'Starting…', 'running'));
  on('start', (e) => {
    state.iterations = e.iterations;
    $('progress').max = Math.max(1, e.iterations);
    setStatus(e.iterations ? `Optimising z${e.batch_jobs > 1 ? ` (batched with ${e.batch_jobs - 1} other job(s))` : ''}…` : 'Filling…', 'running');
  });
  on('progress', async (e) => {
    state.losses.push([e.t, e.contextual, e.prior]);
    $('progress').value = e.t + 1;
    setStatus(`${phaseText(e.phase)}… iteration ${e.t + 1} of ${e.iterations}`, 'running');
    if (e.generated) {
      if (state.timings.firstFrame === undefined) state.timings.firstFrame = performance.now() - state.timings.clicked;
      const [gz, done] = await Promise.all([loadImage(e.generated), loadImage(e.completed)]);
      if (state.source !== source) return;
      drawModelFrame('generated', gz); drawModelFrame('live', done);
    }
    drawCurve();
  });
  on('blending', () => setStatus(`Blending into the image at its full resolution (${state.photo.w}x${state.photo.h})…`, 'running'));
  on('done', async (e) => {
    state.timings.done = performance.now() - state.timings.clicked;
    source.close();
    try {
      const blob = await (await api(e.result)).blob();
      const bitmap = await createImageBitmap(blob);
      const c = canvas(bitmap.width, bitmap.height);
      c.getContext('2d').drawImage(bitmap, 0, 0);
      const url = URL.createObjectURL(blob);
      state.result = { canvas: c, url, mime: blob.type, width: bitmap.width, height: bitmap.height, notes: e.notes, unlike: !!e.unlike };
      setDownload('download-result', url, `result.${EXTENSIONS[blob.type] || 'png'}`);
      setDownload('download-preview', e.preview); setDownload('download-gif', e.gif);
      $('use-result').disabled = false;
      drawResult();
      setNotes(job.warnings.concat(e.notes));
      const how = e.method_name ? ` with ${e.method_name}` : '';
      finish(`Done in ${e.seconds.toFixed(1)} s${how}: ${e.width}x${e.height}${e.unlike ? '. This picture looks unlike what the model knows: see the note below.' : '.'}`, e.unlike ? 'warning' : 'done');
    } catch (err) { finish(`The result could not be loaded: ${err.message}`, 'error'); }
  });
  on('cancelled', () => { source.close(); finish('Cancelled.', 'idle'); });
  // A server 'error' event carries data; a connection error does not.
  source.addEventListener('error', (e) => {
    if (state.source !== source) return;
    source.close();
    if (e.data) {
      const message = JSON.parse(e.data).message;
      finish(/server stopped/.test(message) ? 'The server stopped before the job finished: start it again and complete again.' : `Failed: ${message}`, 'error');
    } else finish('The connection to the server was lost (has it stopped?).', 'error');
  });
}

function finish(text, kind) {
  state.source = null; state.job = null;
  $('complete').disabled = false; $('try-another').disabled = false; $('cancel').disabled = true;
  setStatus(text, kind);
}

// Cancel the running job (`say`: tell the user; a stale job is cancelled quietly).
function cancel(say = true) {
  if (!state.job) return;
  fetch(state.job.cancel, { method: 'DELETE' });
  if (state.source) state.source.close();
  finish(say ? 'Cancelled.' : $('status').textContent, 'idle');
}

// "Try another": the same hole with a new seed.
function tryAnother() {
  $('settings').elements.seed.value = Math.floor(Math.random() * 1e6);
  complete();
}

async function useResult() {
  if (!state.result) return;
  const blob = await (await fetch(state.result.url)).blob();
  await setPhoto(blob, `result.${EXTENSIONS[blob.type] || 'png'}`);
  setStatus('The result is the image now: paint what to fill next.');
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
      const b = document.createElement('button');
      b.type = 'button'; b.setAttribute('aria-pressed', 'false');
      const img = document.createElement('img');
      img.src = src; img.alt = `Sample ${i + 1}: pick two to interpolate`;
      b.appendChild(img);
      b.onclick = () => pick(i, b);
      grid.appendChild(b);
    });
    $('explore-status').textContent = 'pick two samples to see the path between their z';
  } catch (e) { $('explore-status').textContent = e.message; }
}
async function pick(i, button) {
  if (state.picked.length === 2) { state.picked = []; document.querySelectorAll('#samples button').forEach((el) => el.setAttribute('aria-pressed', 'false')); }
  state.picked.push(i); button.setAttribute('aria-pressed', 'true');
  if (state.picked.length < 2) return;
  const [a, b] = state.picked.map((k) => state.samplesZ[k]);
  const zs = Array.from({ length: 10 }, (_, k) => a.map((v, j) => v + (b[j] - v) * k / 9));
  try {
    const images = await generate(zs);
    const row = $('interpolation');
    row.innerHTML = '';
    images.forEach((src, k) => { const el = document.createElement('img'); el.src = src; el.alt = `Step ${k + 1} of 10 between the two picks`; row.appendChild(el); });
    $('explore-status').textContent = 'z moves in a straight line from the first pick to the second';
  } catch (e) { $('explore-status').textContent = e.message; }
}

// ---- for tests and the curious ----
function snapshot() {
  const p = state.photo;
  return {
    size: state.model ? state.model.size : null,
    width: p ? p.w : null, height: p ? p.h : null, name: p ? p.name : null,
    region: state.region,
    holes: state.mask ? state.mask.reduce((a, v) => a + v, 0) : 0,
    lowres: state.lowres,
    result: state.result ? { width: state.result.width, height: state.result.height, mime: state.result.mime } : null,
    downloads: ['download-result', 'download-preview', 'download-gif'].map((id) => $(id).getAttribute('aria-disabled') !== 'true'),
    timings: state.timings,
    status: $('status').dataset.state,
  };
}
// Where the mask is: its bounding box (photo pixels).
function maskBox() {
  const w = state.photo.w; let x0 = Infinity, y0 = Infinity, x1 = -1, y1 = -1;
  state.mask.forEach((v, i) => { if (v) { const x = i % w, y = (i - x) / w; x0 = Math.min(x0, x); y0 = Math.min(y0, y); x1 = Math.max(x1, x); y1 = Math.max(y1, y); } });
  return { x0, y0, x1, y1 };
}
// The result against the photo at full resolution: hole pixels that changed, and the largest
// change of a known pixel.
function compare() {
  const a = state.photo.data.data, b = state.result.canvas.getContext('2d').getImageData(0, 0, state.photo.w, state.photo.h).data;
  let changedInside = 0, inside = 0, outsideMax = 0;
  for (let i = 0; i < state.mask.length; i++) {
    const diff = Math.max(Math.abs(a[i * 4] - b[i * 4]), Math.abs(a[i * 4 + 1] - b[i * 4 + 1]), Math.abs(a[i * 4 + 2] - b[i * 4 + 2]));
    if (state.mask[i]) { inside++; changedInside += diff > 0; } else outsideMax = Math.max(outsideMax, diff);
  }
  return { inside, changedInside, outsideMax };
}
// The mean of the red channel the result canvas shows (to see which picture it shows).
function shownMean() {
  const c = $('result'), d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let s = 0; for (let i = 0; i < d.length; i += 4) s += d[i];
  return s / (d.length / 4);
}
function modelViewMean() {
  const d = $('model-view').getContext('2d').getImageData(0, 0, 128, 128).data;
  let s = 0; for (let i = 0; i < d.length; i += 4) s += d[i];
  return s / (d.length / 4);
}

$('complete').onclick = complete;
$('try-another').onclick = tryAnother;
$('cancel').onclick = () => cancel(true);
$('use-result').onclick = useResult;
$('sample').onclick = newSamples;
$('explore').addEventListener('toggle', () => { if ($('explore').open && !$('samples').children.length) newSamples(); });
window.dcgan = { state, snapshot, maskBox, compare, shownMean, modelViewMean };
setupEditor();
for (const id of ['download-result', 'download-preview', 'download-gif']) setDownload(id, null);
clearModelFrame('generated'); clearModelFrame('live'); clearModelFrame('model-view');
drawCurve();
loadModels().then(() => $('status').dataset.ready = 'yes').catch((e) => setStatus(`Cannot use the server: ${e.message}`, 'error'));
