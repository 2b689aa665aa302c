// The web page: two images in, matches drawn, a click on image a transferred to image b (guided as the
// menu under the canvas says), the alignment shown. It calls the same HTTP API as any client (with the
// API key, if one is given).
"use strict";

const $ = (id) => document.getElementById(id);
const COLOURS = { verified: "#22bb22", rejected: "#dd2222", unverified: "#e0b000" };
const state = { files: { a: null, b: null }, bitmaps: { a: null, b: null }, scale: 1, width: { a: 0, b: 0 },
                last: null };

$("api-key").value = localStorage.getItem("api-key") || "";
$("api-key").addEventListener("change", () => localStorage.setItem("api-key", $("api-key").value));

function headers() {
  const key = $("api-key").value.trim();
  return key ? { "X-API-Key": key } : {};
}

async function call(path, form) {
  const r = await fetch(path, { method: "POST", body: form, headers: headers() });
  if (!r.ok) {
    let detail = r.statusText;
    try { const body = await r.json(); detail = typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail); } catch (e) { /* not JSON */ }
    throw new Error(`${r.status}: ${detail}`);
  }
  return r;
}

function pairForm() {
  const form = new FormData();
  form.append("image_a", state.files.a);
  form.append("image_b", state.files.b);
  return form;
}

async function setFile(which, file) {
  if (!file) return;
  state.files[which] = file;
  state.bitmaps[which] = await createImageBitmap(file);
  document.querySelector(`#drop-${which} .name`).textContent = `${file.name} (${state.bitmaps[which].width}x${state.bitmaps[which].height})`;
  const ready = state.files.a && state.files.b;
  $("match").disabled = $("align").disabled = !ready;
  if (ready) { drawImages(); $("status").textContent = "Ready: press Match."; }
}

for (const which of ["a", "b"]) {
  $(`file-${which}`).addEventListener("change", (e) => setFile(which, e.target.files[0]));
  const zone = $(`drop-${which}`);
  zone.addEventListener("dragover", (e) => { e.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (e) => { e.preventDefault(); zone.classList.remove("over"); setFile(which, e.dataTransfer.files[0]); });
}

function drawImages() {
  // both images at one height, side by side
  const a = state.bitmaps.a, b = state.bitmaps.b;
  const height = Math.min(560, Math.max(a.height, b.height));
  state.heightScale = { a: height / a.height, b: height / b.height };
  state.width = { a: Math.round(a.width * state.heightScale.a), b: Math.round(b.width * state.heightScale.b) };
  const canvas = $("view");
  canvas.width = state.width.a + state.width.b;
  canvas.height = height;
  const ctx = canvas.getContext("2d");
  ctx.drawImage(a, 0, 0, state.width.a, height);
  ctx.drawImage(b, state.width.a, 0, state.width.b, height);
}

function toCanvas(which, x, y) {
  const s = state.heightScale[which];
  return [x * s + (which === "b" ? state.width.a : 0), y * s];
}

function drawMatches(body) {
  // the matches at or above the least confidence asked for (all of them where the answer has none)
  drawImages();
  const ctx = $("view").getContext("2d");
  ctx.lineWidth = 1;
  const verified = body.inliers && (body.homography || body.fundamental);
  const least = Number($("least").value);
  let shown = 0;
  body.matches.forEach((m, i) => {
    if (m.confidence != null && m.confidence < least) return;
    shown++;
    const kind = verified ? (body.inliers[i] ? "verified" : "rejected") : "unverified";
    ctx.strokeStyle = ctx.fillStyle = COLOURS[kind];
    const [xa, ya] = toCanvas("a", m.xa, m.ya), [xb, yb] = toCanvas("b", m.xb, m.yb);
    ctx.beginPath(); ctx.moveTo(xa, ya); ctx.lineTo(xb, yb); ctx.stroke();
    ctx.fillRect(xa - 2, ya - 2, 4, 4); ctx.fillRect(xb - 2, yb - 2, 4, 4);
  });
  return shown;
}

function describe(body) {
  // the status line of an answer: its matches, those shown, what verified them
  const shown = drawMatches(body);
  const inliers = body.inliers ? body.inliers.filter(Boolean).length : 0;
  const geometry = body.homography ? "homography" : body.fundamental ? "fundamental matrix" : null;
  const least = Number($("least").value);
  $("status").textContent = `${body.matches.length} matches (${body.method}, ${body.model})` +
    (geometry ? `, ${inliers} verified by a ${geometry}` : "") +
    (least > 0 ? `; ${shown} shown at confidence ${least.toFixed(2)} or more` : "");
  $("status").dataset.matches = body.matches.length;
  $("status").dataset.shown = shown;
}

$("least").addEventListener("input", () => {
  $("least-value").textContent = Number($("least").value).toFixed(2);
  if (state.last) describe(state.last);
});

$("match").addEventListener("click", async () => {
  $("status").textContent = "Matching...";
  $("warnings").replaceChildren();
  const form = pairForm();
  if ($("method").value) form.append("method", $("method").value);
  form.append("geometry", $("geometry").value);
  try {
    const body = await (await call("/v1/correspondences", form)).json();
    state.last = body;
    describe(body);
    for (const w of body.warnings || []) { const li = document.createElement("li"); li.textContent = w; $("warnings").append(li); }
  } catch (e) {
    $("status").textContent = `Failed: ${e.message}`;
  }
});

$("view").addEventListener("click", async (e) => {
  if (!state.files.a || !state.files.b) return;
  const rect = $("view").getBoundingClientRect();
  const cx = (e.clientX - rect.left) * $("view").width / rect.width;
  const cy = (e.clientY - rect.top) * $("view").height / rect.height;
  if (cx >= state.width.a) return;  // only points of image a
  const x = cx / state.heightScale.a, y = cy / state.heightScale.a;
  const form = pairForm();
  form.append("keypoints", JSON.stringify([[x, y]]));
  form.append("geometry", $("transfer-geometry").value);
  $("transfer").textContent = "Transferring...";
  try {
    const body = await (await call("/v1/keypoints/transfer", form)).json();
    const p = body.keypoints[0];
    const ctx = $("view").getContext("2d");
    const [xa, ya] = toCanvas("a", x, y), [xb, yb] = toCanvas("b", p.x, p.y);
    ctx.lineWidth = 2;
    ctx.strokeStyle = "#ffffff"; ctx.beginPath(); ctx.arc(xa, ya, 6, 0, 2 * Math.PI); ctx.stroke();
    ctx.fillStyle = p.consistent ? "#00e5ff" : "#ff00cc";
    ctx.beginPath(); ctx.arc(xb, yb, 6, 0, 2 * Math.PI); ctx.fill();
    $("transfer").textContent = `(${x.toFixed(1)}, ${y.toFixed(1)}) in a -> (${p.x.toFixed(1)}, ${p.y.toFixed(1)}) in b, ` +
      `score ${p.score.toFixed(3)}` + (p.confidence != null ? `, confidence ${p.confidence.toFixed(2)}` : "") +
      `, ${p.consistent ? "consistent" : "not consistent"} (guided by ${body.guidance})` +
      ((body.warnings || []).length ? `; ${body.warnings.join("; ")}` : "");
  } catch (err) {
    $("transfer").textContent = `Failed: ${err.message}`;
  }
});

$("align").addEventListener("click", async () => {
  $("status").textContent = "Aligning...";
  const form = pairForm();
  form.append("render", "png");
  try {
    const blob = await (await call("/v1/align", form)).blob();
    $("alignment-img").src = URL.createObjectURL(blob);
    $("alignment").hidden = false;
    $("status").textContent = "Alignment shown below.";
  } catch (e) {
    $("status").textContent = `Failed: ${e.message}`;
  }
});
