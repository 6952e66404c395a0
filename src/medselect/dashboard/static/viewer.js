// medselect case viewer (templates/_viewer.html): Niivue, vendored in static/vendor/niivue, draws
// the case's image, its ground truth (green) and one model's prediction (red) as separate layers,
// in 2D or in three planes. Every volume comes from this server (/api/cases/<id>/volumes/...).
// Where WebGL2 is missing, the section says so and shows the model's static overlay instead.
"use strict";

const SOURCE_COLOURS = { reference: [0, 255, 0], prediction: [255, 0, 0] };
// Okabe-Ito: colours most colour-blind readers still tell apart.
const CLASS_COLOURS = [[230, 159, 0], [86, 180, 233], [0, 158, 115], [240, 228, 66],
  [0, 114, 178], [213, 94, 0], [204, 121, 167]];
const SLICE_TYPES = { axial: 0, coronal: 1, sagittal: 2, multi: 3 };
const PLANE_AXIS = { axial: 2, coronal: 1, sagittal: 0 }; // the RAS axis a plane cuts across
const ZOOM_STEP = 1.25;
const FILL_ALPHA = 0.45; // a filled class's opacity at full slider, so the image shows through

function hasWebGL2() {
  try {
    return Boolean(document.createElement("canvas").getContext("webgl2"));
  } catch (_) {
    return false;
  }
}

// One volume from this server as a Niivue image; a refusal raises the server's message.
async function fetchVolume(url, name) {
  const response = await fetch(url, { credentials: "same-origin" });
  if (!response.ok) {
    let detail = `${response.status} ${response.statusText}`;
    try {
      detail = (await response.json()).detail || detail;
    } catch (_) { /* not JSON: keep the status */ }
    throw new Error(`${name}: ${detail}`);
  }
  return niivue.NVImage.loadFromUrl({ url: await response.arrayBuffer(), name });
}

// The voxel axis each RAS axis mostly runs along, from a NIfTI affine (rows of 4).
function rasAxesOf(affine) {
  const axisOf = [0, 0, 0];
  for (let ras = 0; ras < 3; ras += 1) {
    let best = 0;
    for (let j = 0; j < 3; j += 1) {
      if (Math.abs(affine[ras][j]) > Math.abs(affine[ras][best])) best = j;
    }
    axisOf[ras] = best;
  }
  return axisOf;
}

// Which label values to paint into `target`: a hidden class none of its voxels; outlined, only
// a boundary within the viewing plane's `axes` (voxel axes): a class's own edge voxels
// ("inner", the prediction) or the voxels just outside it ("outer", the ground truth), so where
// both agree the red and the green line lie side by side instead of one hiding the other.
// Written as one flat loop: it runs over every voxel (8 million in a 256 x 256 x 128 volume)
// each time a class, the style or the plane changes.
function paintLabels(source, target, dims, axes, shown, outline, side) {
  const [nx, ny, nz] = dims;
  if (!outline) {
    for (let i = 0; i < source.length; i += 1) target[i] = shown[source[i]] ? source[i] : 0;
    return;
  }
  const [useX, useY, useZ] = [0, 1, 2].map((axis) => axes.includes(axis));
  const inner = side === "inner";
  const sy = nx;
  const sz = nx * ny;
  let i = 0;
  for (let z = 0; z < nz; z += 1) {
    for (let y = 0; y < ny; y += 1) {
      for (let x = 0; x < nx; x += 1, i += 1) {
        const v = source[i];
        // A neighbour outside the volume: background for an inner edge, nothing for an outer.
        const away = inner ? 0 : v;
        const n1 = useX ? (x > 0 ? source[i - 1] : away) : v;
        const n2 = useX ? (x < nx - 1 ? source[i + 1] : away) : v;
        const n3 = useY ? (y > 0 ? source[i - sy] : away) : v;
        const n4 = useY ? (y < ny - 1 ? source[i + sy] : away) : v;
        const n5 = useZ ? (z > 0 ? source[i - sz] : away) : v;
        const n6 = useZ ? (z < nz - 1 ? source[i + sz] : away) : v;
        if (n1 === v && n2 === v && n3 === v && n4 === v && n5 === v && n6 === v) {
          target[i] = 0;
        } else if (inner) {
          target[i] = v !== 0 && shown[v] ? v : 0;
        } else {
          let paint = 0;
          for (const other of [n1, n2, n3, n4, n5, n6]) {
            if (other !== v && other !== 0 && shown[other]) { paint = other; break; }
          }
          target[i] = paint;
        }
      }
    }
  }
}

class CaseViewer {
  constructor(section) {
    this.section = section;
    this.ndim = Number(section.dataset.ndim);
    this.status = section.querySelector("[data-status]");
    this.modelSelect = section.querySelector("select[data-model]");
    this.layers = {}; // role -> {volume, source (the served labels), side}
    this.plane = "axial";
    this.raw = false;
  }

  control(selector) {
    return this.section.querySelector(selector);
  }

  checked(selector, fallback = true) {
    const box = this.control(selector);
    return box ? box.checked : fallback;
  }

  async start() {
    if (!hasWebGL2() || typeof niivue === "undefined") {
      this.fallBack("This browser cannot run the interactive viewer: WebGL2 is unavailable "
        + "(it may be switched off, or the graphics driver blocked). The static overlay of "
        + "the chosen model is shown instead; every model's is below.");
      return;
    }
    const canvas = this.control("[data-canvas]");
    this.nv = new niivue.Niivue({
      backColor: [0, 0, 0, 1],
      isNearestInterpolation: true,
      show3Dcrosshair: false,
      isOrientCube: false,
      crosshairColor: [1, 1, 0, 0.6],
      crosshairWidth: 0.4,
      crosshairWidthUnit: "percent", // of the field of view: thin at any matrix size
      multiplanarShowRender: niivue.SHOW_RENDER.NEVER,
      // 2D: the wheel zooms; 3D: it scrolls slices.
      dragMode: this.ndim === 2 ? niivue.DRAG_MODE.pan : niivue.DRAG_MODE.contrast,
      logLevel: "error",
    });
    // Not a constructor option (Niivue drops options without a default): the right button pans.
    this.nv.setMouseEventConfig({ leftButton: { primary: niivue.DRAG_MODE.crosshair },
      rightButton: niivue.DRAG_MODE.pan, centerButton: niivue.DRAG_MODE.pan });
    try {
      await this.nv.attachToCanvas(canvas);
      await this.load();
    } catch (error) {
      this.fallBack(`The viewer could not load this case (${error.message}). The static `
        + "overlay is shown instead.");
      return;
    }
    this.wire();
    this.section.dataset.state = "ready";
  }

  // Image, ground truth and the chosen model's prediction, fetched in parallel and drawn in
  // one pass (each pass recomputes every layer's texture: seconds without a GPU).
  async load() {
    const sd = this.section.dataset;
    const [image, reference, prediction] = await Promise.all([
      fetchVolume(sd.image, "image.nii"),
      sd.reference ? fetchVolume(sd.reference, "reference.nii.gz") : null,
      this.predictionUrl() ? fetchVolume(this.predictionUrl(), "prediction.nii.gz") : null,
    ]);
    this.image = image;
    this.rasAxes = rasAxesOf(image.hdr.affine);
    this.setLayer("reference", reference);
    this.setLayer("prediction", prediction);
    this.nv.setSliceType(SLICE_TYPES.axial);
    this.refresh();
    this.addPoints();
    this.syncSlice();
  }

  predictionUrl() {
    const option = this.modelSelect && this.modelSelect.selectedOptions[0];
    return option ? option.dataset.url : undefined;
  }

  // A label layer (null removes it); `source` keeps the served labels, which painting edits.
  setLayer(role, volume) {
    if (!volume) {
      delete this.layers[role];
      return;
    }
    const side = role === "reference" ? "outer" : "inner";
    this.layers[role] = { volume, source: volume.img.slice(), side };
  }

  // Repaint every label layer (classes shown, style, colours, opacities) and redraw the stack
  // image, ground truth, prediction in one pass. Niivue's addVolume would redraw once per
  // volume; its volumes, back and overlays are what addVolume sets.
  refresh() {
    const outline = (this.control("select[data-style]") || {}).value !== "filled";
    const byClass = (this.control("select[data-colours]") || {}).value === "class";
    const shown = this.shownClasses();
    const axes = this.planeAxes();
    const stack = [this.image];
    for (const role of ["reference", "prediction"]) {
      const layer = this.layers[role];
      if (!layer) continue;
      const { volume } = layer;
      const dims = volume.hdr.dims.slice(1, 4).map((n) => Math.max(1, n));
      paintLabels(layer.source, volume.img, dims, axes, shown, outline, layer.side);
      volume.setColormapLabel(this.lut(role, byClass, outline));
      const slider = this.control(`input[data-opacity="${role}"]`);
      const visible = !this.raw && this.checked(`input[data-layer="${role}"]`);
      volume.opacity = visible ? Number(slider ? slider.value : 1) : 0;
      stack.push(volume);
    }
    this.image.opacity = this.checked('input[data-layer="image"]') ? 1 : 0;
    this.nv.volumes = stack;
    this.nv.back = this.image;
    this.nv.overlays = stack.slice(1);
    this.nv.updateGLVolume();
    this.paintSwatches(byClass);
    this.section.dataset.layers = Object.keys(this.layers)
      .filter((role) => this.layers[role].volume.opacity > 0).join(" ");
  }

  // refresh() once at the next frame, however many slider events come before it.
  refreshSoon() {
    if (this.pending) return;
    this.pending = requestAnimationFrame(() => {
      this.pending = 0;
      this.refresh();
    });
  }

  // Label value -> whether it is painted (0, the background, never is).
  shownClasses() {
    const boxes = Array.from(this.section.querySelectorAll("input[data-class]"));
    const top = Math.max(0, ...boxes.map((b) => Number(b.dataset.class)));
    const shown = new Uint8Array(top + 1);
    boxes.forEach((b) => { shown[Number(b.dataset.class)] = b.checked ? 1 : 0; });
    return shown;
  }

  // The voxel axes an outline follows: those in the viewing plane (all three in 3 planes).
  planeAxes() {
    if (this.ndim === 2) return [0, 1];
    if (this.plane === "multi") return [0, 1, 2];
    const across = this.rasAxes[PLANE_AXIS[this.plane]];
    return [0, 1, 2].filter((axis) => axis !== across);
  }

  classColour(value, role, byClass) {
    return byClass ? CLASS_COLOURS[(value - 1) % CLASS_COLOURS.length] : SOURCE_COLOURS[role];
  }

  lut(role, byClass, outline) {
    const boxes = Array.from(this.section.querySelectorAll("input[data-class]"));
    const values = boxes.length ? boxes.map((b) => Number(b.dataset.class)) : [1];
    const cm = { R: [0], G: [0], B: [0], A: [0], I: [0], labels: [""] };
    for (const value of values) {
      const [r, g, b] = this.classColour(value, role, byClass);
      const slider = this.control(`input[data-class-opacity="${value}"]`);
      const alpha = (slider ? Number(slider.value) : 1) * (outline ? 1 : FILL_ALPHA);
      cm.R.push(r); cm.G.push(g); cm.B.push(b); cm.A.push(Math.round(255 * alpha));
      cm.I.push(value);
      cm.labels.push(boxes.length ? boxes[values.indexOf(value)].parentElement.textContent.trim() : "");
    }
    return cm;
  }

  paintSwatches(byClass) {
    this.section.querySelectorAll("[data-swatch]").forEach((swatch) => {
      const [r, g, b] = this.classColour(Number(swatch.dataset.swatch), "reference", byClass);
      swatch.style.background = byClass ? `rgb(${r}, ${g}, ${b})` : "transparent";
      swatch.hidden = !byClass;
    });
  }

  // Landmarks: reference points green, predicted red, each pair joined by a yellow line.
  addPoints() {
    const spec = document.getElementById("viewer-points");
    if (!spec) return;
    const { reference, models } = JSON.parse(spec.textContent);
    const predicted = models[this.modelSelect ? this.modelSelect.value : ""] || {};
    const image = this.nv.volumes[0];
    const affine = image.hdr.affine;
    const radius = 1.5 * Math.min(...image.hdr.pixDims.slice(1, this.ndim + 1));
    const toMm = (xyz) => [0, 1, 2].map((r) => affine[r][0] * xyz[0] + affine[r][1] * xyz[1]
      + affine[r][2] * (xyz[2] || 0) + affine[r][3]);
    const nodes = [];
    const edges = [];
    for (const [points, colour] of [[reference || {}, 0], [predicted, 1]]) {
      for (const [name, xyz] of Object.entries(points)) {
        const [x, y, z] = toMm(xyz);
        nodes.push({ name, x, y, z, colorValue: colour, sizeValue: 1 });
      }
    }
    nodes.forEach((node, i) => {
      const twin = nodes.findIndex((other, j) => j > i && other.name === node.name);
      if (twin >= 0) edges.push({ first: i, second: twin, colorValue: 1 });
    });
    this.nv.meshes = [];
    if (!nodes.length || this.raw || !this.checked('input[data-layer="points"]')) {
      this.nv.drawScene();
      return;
    }
    this.nv.addColormap("medselect-points", { R: [0, 255], G: [255, 0], B: [0, 0], A: [255, 255], I: [0, 255] });
    this.nv.addColormap("medselect-errors", { R: [255, 255], G: [230, 230], B: [0, 0], A: [255, 255], I: [0, 255] });
    this.nv.loadConnectome({
      name: "landmarks", nodeColormap: "medselect-points", nodeColormapNegative: "medselect-points",
      nodeMinColor: 0, nodeMaxColor: 1, nodeScale: radius, edgeColormap: "medselect-errors",
      edgeColormapNegative: "medselect-errors", edgeMin: 0, edgeMax: 1, edgeScale: radius / 4,
      nodes, edges,
    });
  }

  async choosePrediction() {
    const url = this.predictionUrl();
    let volume = null;
    let problem = "";
    if (url) {
      this.showStatus("Loading the prediction…");
      try {
        volume = await fetchVolume(url, "prediction.nii.gz");
      } catch (error) {
        problem = `The prediction could not be loaded (${error.message}).`;
      }
    } else if (this.modelSelect.querySelector("option[data-url]")) {
      problem = "This model has no label map for this case.";
    }
    this.setLayer("prediction", volume);
    this.refresh();
    this.addPoints();
    this.syncSlice();
    if (problem) this.showStatus(problem);
  }

  setPlane(plane) {
    this.plane = plane;
    this.nv.setSliceType(SLICE_TYPES[plane]);
    this.section.querySelectorAll("button[data-plane]").forEach((b) => {
      b.setAttribute("aria-pressed", String(b.dataset.plane === plane));
    });
    this.refresh();
    this.syncSlice();
  }

  // The slice shown across the current plane's axis (in the 3 planes, the axial one).
  sliceAxis() {
    return PLANE_AXIS[this.plane] ?? PLANE_AXIS.axial;
  }

  sliceCount() {
    return this.nv.volumes[0].dimsRAS[this.sliceAxis() + 1];
  }

  setSlice(index) {
    const n = this.sliceCount();
    const k = Math.min(n - 1, Math.max(0, index));
    this.nv.scene.crosshairPos[this.sliceAxis()] = (k + 0.5) / n;
    this.nv.createOnLocationChange();
    this.nv.drawScene();
    this.syncSlice();
  }

  currentSlice() {
    const n = this.sliceCount();
    return Math.min(n - 1, Math.floor(this.nv.scene.crosshairPos[this.sliceAxis()] * n));
  }

  zoom(factor) {
    const pan = Array.from(this.nv.scene.pan2Dxyzmm);
    this.nv.setPan2Dxyzmm(factor ? [pan[0], pan[1], pan[2], pan[3] * factor] : [0, 0, 0, 1]);
    this.syncSlice();
  }

  // Slider, its label, the status line and the data-* state tests and scripts read.
  syncSlice() {
    const sd = this.section.dataset;
    sd.zoom = this.nv.scene.pan2Dxyzmm[3].toFixed(3);
    sd.plane = this.plane;
    let where = "";
    if (this.ndim === 3) {
      const slider = this.control("input[data-slice]");
      const n = this.sliceCount();
      const k = this.currentSlice();
      slider.max = String(n - 1);
      slider.value = String(k);
      this.control("output[data-slice-label]").textContent = `${k + 1} / ${n}`;
      sd.slice = String(k);
      where = `${this.plane === "multi" ? "axial " : ""}slice ${k + 1} of ${n}, `;
    }
    const model = this.modelSelect ? ` · prediction of ${this.modelSelect.value}` : "";
    this.showStatus(`${where}zoom ${Number(sd.zoom).toFixed(2)}×${model}`);
  }

  showStatus(text) {
    this.status.textContent = text;
  }

  wire() {
    const on = (selector, event, handler) => {
      this.section.querySelectorAll(selector).forEach((el) => el.addEventListener(event, handler));
    };
    on("input[data-layer], input[data-class], select[data-style], select[data-colours]", "change",
      (event) => (event.target.dataset.layer === "points" ? this.addPoints() : this.refresh()));
    on("input[data-opacity], input[data-class-opacity]", "input", () => this.refreshSoon());
    on("select[data-model]", "change", () => this.choosePrediction());
    on("select[data-channel]", "change", (event) => this.chooseChannel(event.target.value));
    on("button[data-raw]", "click", (event) => {
      this.raw = !this.raw;
      event.target.setAttribute("aria-pressed", String(this.raw));
      this.refresh();
      this.addPoints();
    });
    on("button[data-plane]", "click", (event) => this.setPlane(event.target.dataset.plane));
    on("input[data-slice]", "input", (event) => this.setSlice(Number(event.target.value)));
    on("button[data-zoom]", "click", (event) => {
      const how = event.target.dataset.zoom;
      this.zoom(how === "reset" ? 0 : how === "in" ? ZOOM_STEP : 1 / ZOOM_STEP);
    });
    this.nv.onLocationChange = () => this.syncSlice();
    this.nv.canvas.addEventListener("wheel", () => this.syncSlice());
    this.nv.canvas.addEventListener("keydown", (event) => {
      const step = { PageUp: 1, PageDown: -1 }[event.key];
      if (step && this.ndim === 3) {
        event.preventDefault();
        this.setSlice(this.currentSlice() + step);
      }
    });
    document.addEventListener("click", (event) => {
      const button = event.target.closest("button[data-view-model]");
      if (!button || !this.modelSelect) return;
      this.modelSelect.value = button.dataset.viewModel;
      this.choosePrediction();
      this.section.scrollIntoView({ behavior: "smooth" });
    });
  }

  async chooseChannel(url) {
    try {
      this.image = await fetchVolume(url, "image.nii");
    } catch (error) {
      this.showStatus(`The channel could not be loaded (${error.message}).`);
    }
    this.refresh();
  }

  fallBack(reason) {
    const box = this.control("[data-fallback]");
    const option = this.modelSelect && this.modelSelect.selectedOptions[0];
    const img = box.querySelector("img");
    if (option && option.dataset.overlay) {
      img.src = option.dataset.overlay;
      img.hidden = false;
    }
    box.querySelector("[data-fallback-reason]").textContent = reason;
    box.hidden = false;
    this.control(".viewer-stage").hidden = true;
    this.control(".viewer-tools").hidden = true;
    this.section.querySelectorAll(".viewer-help, [data-status]").forEach((el) => { el.hidden = true; });
    this.section.dataset.state = "fallback";
  }
}

document.addEventListener("DOMContentLoaded", () => {
  const section = document.getElementById("viewer");
  if (section) {
    section.viewer = new CaseViewer(section); // for scripts and tests: section.viewer.nv
    section.viewer.start();
  }
});
