// The web page: two images in, matches drawn, a click on image a transferred to image b (guided as the
// menu under the canvas says), the alignment shown. It calls the same HTTP API as any client (with the
// API key, if one is given).
"use strict";

const $ = (id) => document.getElementById(id);
const COLOURS = { verified: "#22bb22", rejected: "#dd2222", unverified: "#e0b000" };
const SHOWN = 560;  // the canvas's height at most, in canvas pixels (CSS fits its width to the page)
// each image's shown size [w, h], its top-left corner on the canvas, and shown pixels an image's pixel spans
const state = { files: { a: null, b: null }, picked: { a: null, b: null }, bitmaps: { a: null, b: null },
                size: { a: [0, 0], b: [0, 0] }, at: { a: [0, 0], b: [0, 0] }, scale: { a: [1, 1], b: [1, 1] },
                last: null };

// a transferred point's colour, as render=png draws it (service/render.py, confidence_colour): red
// at confidence 0 through yellow to green at 1, grey where the answer gives it none
function confidenceColour(c) {
  if (c == null) return "rgb(150, 150, 150)";
  const s = Math.min(1, Math.max(0, c));
  return `rgb(${Math.round(230 * Math.min(1, 2 * (1 - s)))}, ${Math.round(215 * Math.min(1, 2 * s))}, 40)`;
}

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
    const id = r.headers.get("X-Request-ID");  // what to quote when reporting the failure
    throw new Error(`${r.status}: ${detail}` + (id ? ` (request ${id})` : ""));
  }
  return r;
}

function pairForm() {
  const form = new FormData();
  form.append("image_a", state.files.a);
  form.append("image_b", state.files.b);
  return form;
}

const shown = () => state.bitmaps.a && state.bitmaps.b;  // both images drawable by this browser

function clearAnswers() {
  // a new file makes the answers on the page about the old one: they go
  state.last = null;
  $("warnings").replaceChildren();
  $("transfer").textContent = "";
  $("alignment").hidden = true;
  delete $("status").dataset.matches;
  delete $("status").dataset.shown;
}

async function setFile(which, file) {
  if (!file) return;
  clearAnswers();
  state.files[which] = null;  // not ready until this browser has tried to decode it
  state.picked[which] = file;
  $("match").disabled = $("align").disabled = true;
  let bitmap = null, label;
  try {
    bitmap = await createImageBitmap(file);
    label = `${file.name} (${bitmap.width}x${bitmap.height})`;
  } catch (e) {  // a TIFF, say: the service reads it, this browser cannot show it
    label = `${file.name} (not shown here: the service draws it)`;
  }
  if (state.picked[which] !== file) return;  // another file was picked meanwhile
  state.files[which] = file;
  state.bitmaps[which] = bitmap;
  document.querySelector(`#drop-${which} .name`).textContent = label;
  const ready = state.files.a && state.files.b;
  $("match").disabled = $("align").disabled = !ready;
  if (!ready) return;
  if (shown()) drawImages(); else clearCanvas();
  $("status").textContent = "Ready: press Match.";
}

function clearCanvas() {
  const canvas = $("view");
  canvas.width = canvas.height = 0;
  canvas.dataset.drawn = "";
}

for (const which of ["a", "b"]) {
  $(`file-${which}`).addEventListener("change", (e) => setFile(which, e.target.files[0]));
  const zone = $(`drop-${which}`);
  zone.addEventListener("dragover", (e) => { e.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (e) => { e.preventDefault(); zone.classList.remove("over"); setFile(which, e.dataTransfer.files[0]); });
}

function room() {
  // the width the canvas may take on the page, in CSS pixels
  const main = $("view").parentElement, css = getComputedStyle(main);
  return main.clientWidth - parseFloat(css.paddingLeft) - parseFloat(css.paddingRight) - 2;  // the canvas's border
}

function stacked(a, b, width) {
  // whether a above b at one width shows more of their pixels than a beside b at one height, each
  // layout fitted into width x SHOWN and none enlarged past the larger (an enlarged image counts at its
  // own size): wide images such as panorama strips stack; others, and ties, lie side by side.
  // service/render.py's stacked() chooses the service's pictures alike.
  const ra = a.width / a.height, rb = b.width / b.height;
  const across = Math.min(SHOWN, Math.max(a.height, b.height), width / (ra + rb));
  const down = Math.min(width, Math.max(a.width, b.width), SHOWN / (1 / ra + 1 / rb));
  const seen = (ka, kb) => Math.min(1, ka) ** 2 * a.width * a.height + Math.min(1, kb) ** 2 * b.width * b.height;
  return seen(down / a.width, down / b.width) > seen(across / a.height, across / b.height);
}

function drawImages() {
  // both images at one height side by side or, where that shows them larger, a above b at one width
  const a = state.bitmaps.a, b = state.bitmaps.b;
  if (stacked(a, b, room())) {
    const width = Math.round(Math.min(Math.max(a.width, b.width), SHOWN / (a.height / a.width + b.height / b.width)));
    state.size = { a: [width, Math.round(a.height * width / a.width)], b: [width, Math.round(b.height * width / b.width)] };
    state.at = { a: [0, 0], b: [0, state.size.a[1]] };
  } else {
    const height = Math.min(SHOWN, Math.max(a.height, b.height));
    state.size = { a: [Math.round(a.width * height / a.height), height], b: [Math.round(b.width * height / b.height), height] };
    state.at = { a: [0, 0], b: [state.size.a[0], 0] };
  }
  // along x and along y apiece: the shown sizes round to whole pixels
  state.scale = { a: [state.size.a[0] / a.width, state.size.a[1] / a.height],
                  b: [state.size.b[0] / b.width, state.size.b[1] / b.height] };
  const canvas = $("view");
  canvas.dataset.drawn = "";  // no matches on it yet
  canvas.dataset.layout = state.at.b[0] ? "side by side" : "a above b";
  canvas.width = state.at.b[0] + state.size.b[0];
  canvas.height = state.at.b[1] + state.size.b[1];
  const ctx = canvas.getContext("2d");
  ctx.drawImage(a, 0, 0, ...state.size.a);
  ctx.drawImage(b, ...state.at.b, ...state.size.b);
}

function toCanvas(which, x, y) {
  // the API's (x, y) is a pixel's centre at whole coordinates; the canvas's pixel k spans k to k + 1
  const [sx, sy] = state.scale[which], [dx, dy] = state.at[which];
  return [(x + 0.5) * sx + dx, (y + 0.5) * sy + dy];
}

function fromCanvas(cx, cy) {
  // a place on image a as shown -> the API's pixel coordinates of a (toCanvas's inverse), held to
  // the outermost pixels' centres: a click on an edge pixel's outer half asks for that pixel
  const [sx, sy] = state.scale.a, a = state.bitmaps.a;
  const within = (v, most) => Math.min(Math.max(v, 0), most);
  return [within(cx / sx - 0.5, a.width - 1), within(cy / sy - 0.5, a.height - 1)];
}

function drawMatches(body) {
  // the matches at or above the least confidence asked for (all of them where the answer has none)
  drawImages();
  const ctx = $("view").getContext("2d");
  ctx.lineWidth = 1;
  const verified = body.inliers && (body.homography || body.fundamental);
  const least = Number($("least").value);
  // without a geometry, the matches the scene's geometry does not explain are drawn as rejected
  const kinds = body.matches.map((m, i) => verified ? (body.inliers[i] ? "verified" : "rejected")
    : (body.explained && !body.explained[i] ? "rejected" : "unverified"));
  const drawn = [];
  // the rejected ones first and faint, the verified ones last and on top (as render=png draws them)
  for (const kind of ["rejected", "unverified", "verified"]) {
    ctx.globalAlpha = kind === "rejected" ? 0.45 : 1;
    ctx.strokeStyle = ctx.fillStyle = COLOURS[kind];
    body.matches.forEach((m, i) => {
      if (kinds[i] !== kind || (m.confidence != null && m.confidence < least)) return;
      drawn.push(kind);
      const [xa, ya] = toCanvas("a", m.xa, m.ya), [xb, yb] = toCanvas("b", m.xb, m.yb);
      ctx.beginPath(); ctx.moveTo(xa, ya); ctx.lineTo(xb, yb); ctx.stroke();
      ctx.fillRect(xa - 2, ya - 2, 4, 4); ctx.fillRect(xb - 2, yb - 2, 4, 4);
    });
  }
  ctx.globalAlpha = 1;
  $("view").dataset.drawn = drawn.join(",");  // the kinds in the order drawn
  return drawn.length;
}

function verifiedBy(inliers, geometry, coverage) {
  // the status line's clause for a verified answer ("homography" or "fundamental"; none: nothing),
  // with the share of image a its RANSAC inliers span when the answer says
  const span = coverage == null ? "" : ` spanning ${Math.round(100 * coverage)} % of image a`;
  return geometry ? `, ${inliers} verified by a ${geometry === "fundamental" ? "fundamental matrix" : geometry}${span}`
    : "";
}

function fromTheSide(seen, what) {
  // the clause of an answer (or of its guide: what) found in a copy of image a seen from the side
  return seen ? `, ${what} in a copy of image a seen from the side: squeezed ${seen.tilt}x along ` +
    `${seen.direction_deg} degrees` : "";
}

function describe(body) {
  // the status line of an answer: its matches, those shown, what verified them
  const shown = drawMatches(body);
  const inliers = body.inliers ? body.inliers.filter(Boolean).length : 0;
  const geometry = body.geometry || null;  // what verified the matches (with auto, the one that fitted best)
  const least = Number($("least").value);
  // answered twice: the fast descriptor's first answer was in doubt, and the default one answered again
  const again = body.timing_ms && body.timing_ms.first_try !== undefined;
  // without a geometry: how many the geometry RANSAC found among them explains (the rest drawn faint red)
  const explained = body.explained ? `, ${body.explained.filter(Boolean).length} of them fit one geometry` : "";
  $("status").textContent = `${body.matches.length} matches (${body.method}, ${body.model}` +
    (again ? ", which answered again: the fast descriptor's answer was in doubt" : "") + ")" +
    verifiedBy(inliers, geometry, body.coverage) +
    fromTheSide(body.seen_from_side, body.method === "sparse" ? "found" : "their guide found") + explained +
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
    if (!shown()) return await drawnByTheService(form);
    const body = await (await call("/v1/correspondences", form)).json();
    state.last = body;
    describe(body);
    warn(body.warnings || []);
  } catch (e) {
    state.last = null;
    if (shown()) drawImages(); else clearCanvas();  // no lines of an earlier answer beside the failure
    $("status").textContent = `Failed: ${e.message}`;
  }
});

function warn(warnings) {
  for (const w of warnings) { const li = document.createElement("li"); li.textContent = w; $("warnings").append(li); }
}

async function drawnByTheService(form) {
  // an image this browser cannot show: the service draws the answer (render=png), its counts in headers
  form.append("render", "png");
  const r = await call("/v1/correspondences", form);
  const picture = await createImageBitmap(await r.blob());
  const canvas = $("view");
  canvas.width = picture.width; canvas.height = picture.height;
  canvas.getContext("2d").drawImage(picture, 0, 0);
  const h = (k) => r.headers.get(k);
  $("status").textContent = `${h("X-Matches")} matches (${h("X-Method")})` +
    (h("X-Inliers") ? verifiedBy(h("X-Inliers"), h("X-Geometry"), h("X-Coverage")) : "") +
    fromTheSide(JSON.parse(h("X-Seen-From-Side") || "null"), h("X-Method") === "sparse" ? "found" : "their guide found") +
    "; drawn by the service, as this browser cannot show an image (no confidence filter or click transfer)";
  $("status").dataset.matches = h("X-Matches");
  $("status").dataset.shown = h("X-Matches");
  warn(h("X-Warnings") ? h("X-Warnings").split(" | ") : []);
}

$("view").addEventListener("click", async (e) => {
  if (!state.files.a || !state.files.b) return;
  if (!shown()) { $("transfer").textContent = "Transfer by click needs both images shown by this browser."; return; }
  const rect = $("view").getBoundingClientRect();
  const cx = (e.clientX - rect.left) * $("view").width / rect.width;
  const cy = (e.clientY - rect.top) * $("view").height / rect.height;
  if (cx >= state.size.a[0] || cy >= state.size.a[1]) return;  // only points of image a
  const [x, y] = fromCanvas(cx, cy);
  const form = pairForm();
  form.append("keypoints", JSON.stringify([[x, y]]));
  const how = $("transfer-geometry").value;  // a geometry to fit, or the MRF alignment's field
  form.append(how === "align" ? "method" : "geometry", how);
  $("transfer").textContent = "Transferring...";
  try {
    const body = await (await call("/v1/keypoints/transfer", form)).json();
    const p = body.keypoints[0];
    const ctx = $("view").getContext("2d");
    const [xa, ya] = toCanvas("a", x, y), [xb, yb] = toCanvas("b", p.x, p.y);
    ctx.lineWidth = 2;
    ctx.strokeStyle = "#ffffff"; ctx.beginPath(); ctx.arc(xa, ya, 6, 0, 2 * Math.PI); ctx.stroke();
    ctx.fillStyle = confidenceColour(p.confidence);
    ctx.beginPath(); ctx.arc(xb, yb, 6, 0, 2 * Math.PI); ctx.fill();
    if (!p.consistent) {  // a cross where the round trip did not come back
      ctx.strokeStyle = "rgb(230, 40, 40)"; ctx.beginPath();
      ctx.moveTo(xb - 5, yb - 5); ctx.lineTo(xb + 5, yb + 5); ctx.moveTo(xb + 5, yb - 5); ctx.lineTo(xb - 5, yb + 5);
      ctx.stroke();
    }
    $("transfer").textContent = `(${x.toFixed(1)}, ${y.toFixed(1)}) in a -> (${p.x.toFixed(1)}, ${p.y.toFixed(1)}) in b, ` +
      `score ${p.score.toFixed(3)}` + (p.confidence != null ? `, confidence ${p.confidence.toFixed(2)}` : "") +
      (p.support != null ? `, support ${p.support.toFixed(2)}` : "") +
      (p.in_view === false ? ", outside b (held at its border)" : "") +
      (p.by_plane === true ? ", by the plane" : p.by_plane === false ? ", by its epipolar line" : "") +
      (p.second_motion ? ", following a second motion" : "") +
      (p.local_warp ? ", by a local map of the matches around it" : "") +
      `, ${p.consistent ? "consistent" : "not consistent"} (guided by ${body.guidance}` +
      `${fromTheSide(body.seen_from_side, "found")})` +
      (body.prealigned ? `, b brought onto a first (scale ${body.prealigned.scale.toFixed(2)}, turned ` +
        `${Math.round(body.prealigned.rotation_deg) || 0} degrees)` : "") +
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
    const r = await call("/v1/align", form);
    $("alignment-img").src = URL.createObjectURL(await r.blob());
    $("alignment").hidden = false;
    const pre = JSON.parse(r.headers.get("X-Prealigned") || "null");
    $("status").textContent = "Alignment shown below" +
      (pre ? `: b brought onto a first (scale ${pre.scale.toFixed(2)}, turned ${Math.round(pre.rotation_deg) || 0} ` +
        "degrees)" : "") + fromTheSide(JSON.parse(r.headers.get("X-Seen-From-Side") || "null"), "its guide found") + ".";
  } catch (e) {
    $("status").textContent = `Failed: ${e.message}`;
  }
});
