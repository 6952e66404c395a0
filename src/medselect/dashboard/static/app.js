// medselect dashboard: charts, client-side table sorting, filtering and paging, enlarging.
"use strict";

function drawCharts() {
  if (typeof Plotly === "undefined") return;
  document.querySelectorAll("script[data-chart]").forEach((script) => {
    const target = document.getElementById(script.dataset.chart);
    if (!target) return;
    const figure = JSON.parse(script.textContent);
    Plotly.newPlot(target, figure.data, figure.layout, { responsive: true, displaylogo: false });
  });
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

// Show only the first rows of a long static table, with a button for more.
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

document.addEventListener("DOMContentLoaded", () => {
  drawCharts();
  setupTables();
  setupEnlarge();
});
