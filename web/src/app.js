// mobileclf phone check (docs/phone-check.md): runs the deployed bundle in the browser with
// MediaPipe Tasks for web, on the rear camera (the Android template's input) or on gallery
// photos (the Flutter gallery path). The geometry is camera.py's, named in config.json
// (mobileclf.phone_check.geometry); the two resizes below are its formulas, term for term,
// so the model input matches the emulation's pixel for pixel. We do the resize ourselves
// and hand MediaPipe an image already at the model's size: MediaPipe's own resize is a
// different filter, which is why a photo scored differently in the browser.
import { FilesetResolver, ImageClassifier } from "./vendor/tasks-vision/vision_bundle.mjs";

const $ = (id) => document.getElementById(id);
const state = { config: null, classifier: null, variant: null, mode: null, results: new Map(),
  frames: {}, streak: { key: null, n: 0 }, maps: new Map(), last: null };

// camera.nearest_indices: destination i reads floor((i + 0.5) * src / dst)
export function nearestIndices(src, dst) {
  const out = new Int32Array(dst);
  for (let i = 0; i < dst; i++) out[i] = Math.min(src - 1, Math.floor(((i + 0.5) * src) / dst));
  return out;
}

// camera.template_preprocess(camera.to_sensor(frame)): flat indices of the upright h×w
// frame read by each model-input pixel (sensor turned clockwise k times, centre square of
// the shorter side, nearest resize, turned back counter-clockwise k times)
export function cameraIndexMap(h, w, size, orientation) {
  const k = (((orientation / 90) % 4) + 4) % 4;
  const [sh, sw] = k % 2 ? [w, h] : [h, w];
  const side = Math.min(sh, sw);
  const top = (sh - side) >> 1, left = (sw - side) >> 1;
  const n = nearestIndices(side, size);
  const map = new Int32Array(size * size);
  for (let i = 0; i < size; i++) {
    for (let j = 0; j < size; j++) {
      let a = i, b = j;
      for (let s = 0; s < k; s++) [a, b] = [b, size - 1 - a]; // np.rot90(x, k)
      let r = top + n[a], c = left + n[b], curH = sh, curW = sw;
      for (let s = 0; s < k; s++) { // undo one clockwise turn: S[i][j] = F[H - 1 - j][i]
        [r, c] = [curW - 1 - c, r];
        [curH, curW] = [curW, curH];
      }
      map[i * size + j] = r * w + c;
    }
  }
  return map;
}

function roundHalfEven(x) {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

function taps(src, dst) {
  const low = new Int32Array(dst), high = new Int32Array(dst), weight = new Float64Array(dst);
  for (let i = 0; i < dst; i++) {
    const p = Math.min(Math.max(((i + 0.5) * src) / dst - 0.5, 0), src - 1);
    low[i] = Math.floor(p);
    high[i] = Math.min(low[i] + 1, src - 1);
    weight[i] = p - low[i];
  }
  return [low, high, weight];
}

// camera.resize_bilinear_android: Skia bilinear, no antialiasing (createScaledBitmap filter=true)
export function bilinearAndroid(rgba, w, h, size) {
  const [top, bottom, wy] = taps(h, size), [left, right, wx] = taps(w, size);
  const out = new Uint8ClampedArray(size * size * 4);
  for (let i = 0; i < size; i++) {
    for (let j = 0; j < size; j++) {
      for (let ch = 0; ch < 3; ch++) {
        const at = (r, c) => rgba[(r * w + c) * 4 + ch];
        const upper = at(top[i], left[j]) * (1 - wx[j]) + at(top[i], right[j]) * wx[j];
        const lower = at(bottom[i], left[j]) * (1 - wx[j]) + at(bottom[i], right[j]) * wx[j];
        out[(i * size + j) * 4 + ch] = roundHalfEven(upper * (1 - wy[i]) + lower * wy[i]);
      }
      out[(i * size + j) * 4 + 3] = 255;
    }
  }
  return new ImageData(out, size, size);
}

function cameraInput(frame) {
  const g = state.config.geometry, key = `${frame.width}x${frame.height}`;
  if (!state.maps.has(key)) {
    state.maps.set(key, cameraIndexMap(frame.height, frame.width, g.size, g.sensor_orientation));
  }
  const map = state.maps.get(key), out = new Uint8ClampedArray(g.size * g.size * 4);
  for (let p = 0; p < map.length; p++) {
    for (let ch = 0; ch < 3; ch++) out[p * 4 + ch] = frame.data[map[p] * 4 + ch];
    out[p * 4 + 3] = 255;
  }
  return new ImageData(out, g.size, g.size);
}

function classify(input) {
  const started = performance.now();
  const categories = state.classifier.classify(input).classifications[0].categories;
  const scores = new Array(state.config.labels.length).fill(0);
  for (const c of categories) scores[c.index] = c.score;
  let best = 0;
  for (let i = 1; i < scores.length; i++) if (scores[i] > scores[best]) best = i;
  return { label: state.config.labels[best], confidence: scores[best], scores,
    ms: performance.now() - started };
}

async function loadVariant(variant) {
  $("status").textContent = `Loading ${variant}…`;
  if (state.classifier) state.classifier.close();
  const fileset = await FilesetResolver.forVisionTasks(new URL("vendor/tasks-vision/wasm", location.href).href);
  state.classifier = await ImageClassifier.createFromOptions(fileset, {
    baseOptions: { modelAssetPath: state.config.variants[variant].file, delegate: "CPU" },
    runningMode: "IMAGE", maxResults: -1, scoreThreshold: 0 });
  state.variant = variant;
  state.results.clear();
  showResults();
  $("status").textContent = `${variant} loaded: choose Camera or Gallery.`;
}

function record(mode, id, top, frameCanvas) {
  const item = state.config.holdout.find((h) => h.id === id);
  if (!item || (state.mode === mode && state.results.has(id))) return false;
  state.results.set(id, { id, truth: item.truth, prediction: top.label,
    confidence: top.confidence, timestamp: new Date().toISOString() });
  if (frameCanvas) state.frames[id] = frameCanvas.toDataURL("image/png");
  showResults();
  return true;
}

function showResults() {
  const rows = [...state.results.values()], right = rows.filter((r) => r.truth === r.prediction);
  const total = state.config.holdout.length;
  $("progress").textContent = rows.length ? `${rows.length} of ${total} scored, accuracy ` +
    `${((100 * right.length) / rows.length).toFixed(0)}% (${right.length}/${rows.length})` : "";
  $("results").tBodies[0].innerHTML = rows.map((r) => `<tr><td>${r.id}</td><td>${r.prediction}` +
    `</td><td>${r.confidence.toFixed(3)}</td><td>${r.truth === r.prediction ? "yes" : "no"}</td></tr>`).join("");
}

// the paper's Fig. 5: the camera preview, the square the model sees, the results below it
function drawView(source, top, code) {
  const view = $("view"), ctx = view.getContext("2d"), w = source.width, h = source.height;
  const scale = Math.min(view.width / w, 640 / h), dw = w * scale, dh = h * scale;
  ctx.fillStyle = "#222"; ctx.fillRect(0, 0, view.width, view.height);
  ctx.drawImage(source, 0, 0, dw, dh);
  const side = Math.min(w, h) * scale, x = (dw - side) / 2, y = (dh - side) / 2;
  ctx.fillStyle = "rgba(0,0,0,0.45)";
  ctx.fillRect(0, 0, dw, y); ctx.fillRect(0, y + side, dw, dh - y - side);
  ctx.fillRect(0, y, x, side); ctx.fillRect(x + side, y, dw - x - side, side);
  ctx.strokeStyle = "#0f0"; ctx.lineWidth = 2; ctx.strokeRect(x, y, side, side);
  ctx.fillStyle = "#fff"; ctx.font = "20px sans-serif";
  const order = top.scores.map((s, i) => [s, i]).sort((a, b) => b[0] - a[0]);
  order.slice(0, 3).forEach(([s, i], row) =>
    ctx.fillText(`${state.config.labels[i]}: ${s.toFixed(2)}`, 10, dh + 28 + 24 * row));
  ctx.fillText(`${top.ms.toFixed(0)} ms  ${code ? code : "no code in view"}`, 260, dh + 28);
}

function cameraStep(video, canvas) {
  if (state.mode !== "camera") return;
  if (video.readyState >= 2 && video.videoWidth) {
    canvas.width = video.videoWidth; canvas.height = video.videoHeight;
    const ctx = canvas.getContext("2d", { willReadFrequently: true });
    ctx.drawImage(video, 0, 0);
    const frame = ctx.getImageData(0, 0, canvas.width, canvas.height);
    const top = classify(cameraInput(frame));
    const qr = window.jsQR(frame.data, frame.width, frame.height, { inversionAttempts: "dontInvert" });
    const prefix = state.config.qr_prefix;
    const id = qr && qr.data.startsWith(prefix) ? qr.data.slice(prefix.length) : null;
    const key = id ? `${id}|${top.label}` : null;
    state.streak = key && key === state.streak.key ? { key, n: state.streak.n + 1 } : { key, n: 1 };
    if (id && state.streak.n >= state.config.stable_frames) record("camera", id, top, canvas);
    state.last = top;
    drawView(canvas, top, id);
  }
  setTimeout(() => cameraStep(video, canvas), 20);
}

async function startCamera() {
  if (state.mode !== "camera") { state.results.clear(); showResults(); }
  state.mode = "camera";
  const video = $("video");
  video.srcObject = await navigator.mediaDevices.getUserMedia({ audio: false,
    video: { facingMode: { ideal: "environment" }, width: { ideal: 480 }, height: { ideal: 640 } } });
  await video.play();
  $("status").textContent = `Camera (${state.variant}): point at one image of the sheet, its code in view.`;
  cameraStep(video, document.createElement("canvas"));
}

async function classifyFiles(files) {
  if (state.mode !== "gallery") { state.results.clear(); showResults(); }
  state.mode = "gallery";
  const size = state.config.geometry.size, canvas = document.createElement("canvas");
  for (const file of files) {
    const bitmap = await createImageBitmap(file, { colorSpaceConversion: "none", premultiplyAlpha: "none" });
    canvas.width = bitmap.width; canvas.height = bitmap.height;
    const ctx = canvas.getContext("2d", { willReadFrequently: true });
    ctx.fillStyle = "#000"; ctx.fillRect(0, 0, canvas.width, canvas.height); // alpha onto black
    ctx.drawImage(bitmap, 0, 0);
    const pixels = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
    const top = classify(bilinearAndroid(pixels, canvas.width, canvas.height, size));
    const id = file.name.replace(/\.[^.]*$/, "");
    if (!record("gallery", id, top, null)) $("status").textContent = `${file.name}: ${top.label} ` +
      `${top.confidence.toFixed(3)} (not a holdout image of this page: not scored)`;
    drawView(canvas, top, id);
  }
  $("status").textContent = `Gallery (${state.variant}): ${files.length} photo(s) classified.`;
}

async function send() {
  const token = new URLSearchParams(location.search).get("token");
  const body = { format: "mobileclf-phone-check/1", dataset: state.config.dataset,
    device: navigator.userAgent, mode: state.mode, variant: state.variant,
    results: [...state.results.values()] };
  const response = await fetch(`measured?token=${encodeURIComponent(token || "")}`, {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  $("sent").textContent = response.ok ? `sent (${body.results.length} results)` :
    `not sent: ${response.status} ${await response.text()}`;
  return response.status;
}

async function main() {
  state.config = await (await fetch("config.json")).json();
  $("dataset").textContent = state.config.dataset;
  for (const v of Object.keys(state.config.variants)) $("variant").add(new Option(v, v));
  $("variant").value = state.config.default_variant;
  $("variant").onchange = () => loadVariant($("variant").value);
  $("camera-button").onclick = () => startCamera().catch((e) => { $("status").textContent = `camera: ${e}`; });
  $("gallery-button").onclick = () => $("gallery").click();
  $("gallery").onchange = () => classifyFiles([...$("gallery").files]);
  $("send").onclick = send;
  await loadVariant(state.config.default_variant);
  if (state.config.segmentation) $("status").textContent += " (this dataset's app segments; the page does not)";
}

window.phoneCheck = { state, cameraIndexMap, bilinearAndroid, send, ready: main() };
