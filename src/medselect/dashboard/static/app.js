// medselect dashboard: charts, client-side table sorting, filtering and paging, enlarging,
// and the New cases form and progress.
"use strict";

// plotly.js, named by the page when it has charts (the script tag's data-plotly).
const PLOTLY_BUNDLE = document.currentScript ? document.currentScript.dataset.plotly : undefined;
const CHART_CONFIG = { responsive: true, displaylogo: false };

// Charts are drawn once the page has loaded, so the tables and text show without waiting for
// plotly.js (1.5 MB to run) and for the charts: plotly.js is fetched then, the charts in the
// window are drawn first and the others after them, one per task so the page still answers
// a click between two charts. Marks record when plotly.js has run ("medselect:plotly-ready"),
// when the charts in the window are drawn ("medselect:view-drawn"; at once when none is) and
// when the last chart is ("medselect:charts-drawn"): benchmarks/bench_pages.py reports them.
function drawCharts() {
  const pending = Array.from(document.querySelectorAll("script[data-chart]"))
    .map((script) => [script, document.getElementById(script.dataset.chart)])
    .filter(([, target]) => target);
  if (!PLOTLY_BUNDLE || !pending.length) return;
  const inView = ([, target]) => {
    const box = target.getBoundingClientRect();
    return box.top < window.innerHeight && box.bottom > 0 ? 1 : 0;
  };
  pending.sort((a, b) => inView(b) - inView(a));
  const visible = pending.filter(inView).length;
  if (!visible) performance.mark("medselect:view-drawn");
  const script = document.createElement("script");
  script.src = PLOTLY_BUNDLE;
  script.addEventListener("load", () => {
    performance.mark("medselect:plotly-ready");
    drawNext(pending, visible);
  });
  document.head.append(script);
}

// Draw the first of ``pending``; ``visible``: how many of them are in the window.
async function drawNext(pending, visible) {
  const [script, target] = pending.shift();
  const figure = JSON.parse(script.textContent);
  await Plotly.newPlot(target, figure.data, figure.layout, CHART_CONFIG);
  if (visible === 1) performance.mark("medselect:view-drawn");
  if (pending.length) window.setTimeout(() => drawNext(pending, visible - 1), 0);
  else performance.mark("medselect:charts-drawn");
}

function cellValue(row, key, numeric) {
  const cell = row.querySelector(`td[data-key="${CSS.escape(key)}"]`);
  const raw = cell ? cell.dataset.value : "";
  if (!numeric) return raw || "";
  return raw === "" || raw === undefined ? NaN : parseFloat(raw);
}

// Sort a table's rows by a column; a missing number always goes last.
function sortTable(table, th) {
  const key = th.dataset.key;
  const numeric = th.dataset.type === "num";
  const ascending = th.classList.contains("sorted-asc") ? false
    : th.classList.contains("sorted-desc") ? true : th.dataset.direction !== "higher";
  const body = table.tBodies[0];
  const rows = Array.from(body.rows);
  rows.sort((a, b) => {
    const x = cellValue(a, key, numeric), y = cellValue(b, key, numeric);
    if (numeric) {
      if (Number.isNaN(x)) return Number.isNaN(y) ? 0 : 1;
      if (Number.isNaN(y)) return -1;
      return ascending ? x - y : y - x;
    }
    return ascending ? x.localeCompare(y) : y.localeCompare(x);
  });
  rows.forEach((row) => body.appendChild(row));
  table.querySelectorAll("th").forEach((h) => h.classList.remove("sorted-asc", "sorted-desc"));
  th.classList.add(ascending ? "sorted-asc" : "sorted-desc");
  paginate(table);
}

// Show only the first rows of a long table (data-page-size), with a button for more.
function paginate(table, reset = true) {
  const size = parseInt(table.dataset.pageSize || "0", 10);
  if (!size) return;
  if (reset) table.dataset.shown = String(size);
  const shown = parseInt(table.dataset.shown, 10);
  let visible = 0;
  Array.from(table.tBodies[0].rows).forEach((row) => {
    const filtered = row.dataset.filtered === "1";
    row.hidden = filtered || visible >= shown;
    if (!filtered) visible += 1;
  });
  let more = table.nextElementSibling;
  if (!more || !more.classList.contains("more")) {
    more = document.createElement("button");
    more.className = "more";
    more.type = "button";
    more.addEventListener("click", () => {
      table.dataset.shown = String(parseInt(table.dataset.shown, 10) + size);
      paginate(table, false);
    });
    table.after(more);
  }
  const hidden = Array.from(table.tBodies[0].rows).filter((r) => r.dataset.filtered !== "1").length - shown;
  more.hidden = hidden <= 0;
  more.textContent = `Show ${Math.min(size, hidden)} more (${hidden} hidden)`;
}

function setupTables() {
  document.querySelectorAll("table[data-sortable]").forEach((table) => {
    table.querySelectorAll("th[data-key]").forEach((th) => {
      th.addEventListener("click", (event) => {
        if (event.target.closest("a")) return;
        sortTable(table, th);
      });
    });
    paginate(table);
  });
  document.querySelectorAll("select[data-filter-site]").forEach((select) => {
    const table = document.getElementById(select.dataset.filterSite);
    select.addEventListener("change", () => {
      Array.from(table.tBodies[0].rows).forEach((row) => {
        row.dataset.filtered = select.value && row.dataset.site !== select.value ? "1" : "0";
        row.hidden = row.dataset.filtered === "1";
      });
      paginate(table);
    });
  });
}

function setupEnlarge() {
  const dialog = document.getElementById("enlarge");
  if (!dialog) return;
  document.addEventListener("click", (event) => {
    const link = event.target.closest("a[data-enlarge]");
    if (!link || typeof dialog.showModal !== "function") return;
    event.preventDefault();
    dialog.querySelector("img").src = link.href;
    dialog.querySelector(".caption").textContent = link.dataset.caption || "";
    const viewer = dialog.querySelector("[data-dialog-viewer]");
    viewer.hidden = !link.dataset.viewer;
    if (link.dataset.viewer) viewer.href = link.dataset.viewer;
    dialog.showModal();
  });
  dialog.addEventListener("click", (event) => { if (event.target === dialog) dialog.close(); });
}

// The New cases pages: send the form with fetch (then go to the upload's page), and on that
// page poll the upload's status, moving the progress bar, until it has finished or failed.
// The form's token goes in the X-CSRF-Token header: the server reads no multipart body to
// find it.
function setupUpload() {
  const form = document.getElementById("upload-form");
  if (form) {
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const message = document.getElementById("upload-message");
      const button = form.querySelector("button[type=submit]");
      message.textContent = "";
      button.disabled = true;
      try {
        const response = await fetch(form.action, {
          method: "POST",
          body: new FormData(form),
          headers: { "X-CSRF-Token": form.elements.csrf_token.value },
        });
        const body = await response.json().catch(() => ({}));
        if (!response.ok) {
          const detail = typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail);
          message.textContent = `Not accepted (${response.status}): ${detail || response.statusText}`;
          return;
        }
        window.location.assign(body.page_url);
      } catch (error) {
        message.textContent = `The upload did not reach the server: ${error}`;
      } finally {
        button.disabled = false;
      }
    });
  }
  const status = document.getElementById("upload-status");
  if (!status || !["queued", "running"].includes(status.dataset.status)) return;
  const bar = status.querySelector("progress");
  async function poll() {
    try {
      const response = await fetch(status.dataset.statusUrl);
      if (response.ok) {
        const s = await response.json();
        status.querySelector(".upload-state").textContent = s.status;
        bar.max = s.total || 1;
        bar.value = s.done;
        status.querySelector(".upload-count").textContent = `${s.done} of ${s.total}`;
        if (s.status === "finished" || s.status === "failed") {
          window.location.reload();
          return;
        }
      }
    } catch (error) {
      // the server may be restarting: try again
    }
    window.setTimeout(poll, 700);
  }
  window.setTimeout(poll, 300);
}

window.addEventListener("load", drawCharts);
document.addEventListener("DOMContentLoaded", () => {
  setupTables();
  setupEnlarge();
  setupUpload();
});
