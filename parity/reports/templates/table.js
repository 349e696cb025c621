// Sorting and filtering for report tables, and opening a case's details when a link points at it.
(function () {
  function key(cell) {
    var raw = cell.getAttribute("data-value");
    if (raw === null) raw = cell.textContent.trim();
    var n = Number(raw);
    return raw !== "" && raw !== "-" && !isNaN(n) ? { num: true, v: n } : { num: false, v: raw.toLowerCase() };
  }
  function sortTable(table, col, th) {
    var dir = th.getAttribute("data-dir") === "asc" ? "desc" : "asc";
    Array.prototype.forEach.call(th.parentNode.cells, function (h) { h.removeAttribute("data-dir"); });
    th.setAttribute("data-dir", dir);
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = key(a.cells[col]), y = key(b.cells[col]);
      if (x.num !== y.num) return x.num ? -1 : 1;  // numbers first, '-' and text after, in either direction
      var c = x.v < y.v ? -1 : x.v > y.v ? 1 : 0;
      return dir === "asc" ? c : -c;
    });
    rows.forEach(function (r) { body.appendChild(r); });
  }
  function applyFilter(tableId) {
    var table = document.getElementById(tableId);
    var box = document.querySelector('input[data-filter="' + tableId + '"]');
    var only = document.querySelector('input[data-problems="' + tableId + '"]');
    var q = box ? box.value.trim().toLowerCase() : "";
    var shown = 0;
    Array.prototype.forEach.call(table.tBodies[0].rows, function (r) {
      var hide = (q && r.textContent.toLowerCase().indexOf(q) < 0) || (only && only.checked && !r.classList.contains("problem"));
      r.hidden = !!hide;
      if (!hide) shown += 1;
    });
    var counter = document.querySelector('[data-shown="' + tableId + '"]');
    if (counter) counter.textContent = shown + " of " + table.tBodies[0].rows.length + " shown";
  }
  document.querySelectorAll("table.sortable").forEach(function (table) {
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, col) {
      th.addEventListener("click", function () { sortTable(table, col, th); });
    });
  });
  document.querySelectorAll("input[data-filter], input[data-problems]").forEach(function (input) {
    var id = input.getAttribute("data-filter") || input.getAttribute("data-problems");
    input.addEventListener("input", function () { applyFilter(id); });
    input.addEventListener("change", function () { applyFilter(id); });
  });
  function openTarget() {
    var el = location.hash && document.getElementById(decodeURIComponent(location.hash.slice(1)));
    if (el && el.tagName === "DETAILS") { el.open = true; el.scrollIntoView(); }
  }
  window.addEventListener("hashchange", openTarget);
  openTarget();
})();
