// gridcrm's only script besides htmx: keyboard shortcuts, confirmations,
// printing and the language switch. No inline script anywhere (CSP).
(function () {
  "use strict";
  // "/" jumps to the search box, as in many counter applications.
  document.addEventListener("keydown", function (e) {
    if (e.key !== "/" || e.ctrlKey || e.metaKey || e.altKey) return;
    var t = e.target;
    if (t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT" || t.isContentEditable)) return;
    var box = document.querySelector("[data-shortcut='/']");
    if (box) { e.preventDefault(); box.focus(); box.select(); }
  });
  // Destructive forms ask first.
  document.addEventListener("submit", function (e) {
    var msg = e.target.getAttribute && e.target.getAttribute("data-confirm");
    if (msg && !window.confirm(msg)) e.preventDefault();
  });
  document.addEventListener("click", function (e) {
    if (e.target.closest && e.target.closest("[data-print]")) window.print();
  });
  // The language switch comes back to the page it was used on.
  document.querySelectorAll("[data-current-path]").forEach(function (input) {
    input.value = window.location.pathname + window.location.search;
  });
})();

// The segment condition builder: rows of field / operator / value in AND/OR
// groups, kept in step with the definition's JSON textarea (which stays the
// source of truth, and the fallback without script).
(function () {
  "use strict";
  var form = document.getElementById("segment-form");
  var box = document.getElementById("segment-builder");
  var text = document.getElementById("segment-definition");
  var labels = document.getElementById("segment-builder-labels");
  if (!form || !box || !text || !labels) return;
  var L = labels.dataset;
  function pairs(s) {
    return s.split("|").map(function (p) { var i = p.indexOf("="); return [p.slice(0, i), p.slice(i + 1)]; });
  }
  var FIELDS = pairs(L.fields), METRICS = pairs(L.metrics);
  var CODE_OPS = ["eq", "ne", "in", "not_in"];
  var NUM_OPS = ["eq", "ne", "lt", "le", "gt", "ge", "between"];
  var OPS = {
    class: CODE_OPS, industry: CODE_OPS, voltage: CODE_OPS, tariff: CODE_OPS, route: CODE_OPS,
    status: CODE_OPS, tier: CODE_OPS, importance: CODE_OPS.concat(["is_null", "not_null"]),
    account_manager: CODE_OPS.concat(["is_null", "not_null"]), capacity: NUM_OPS,
    tags: ["has", "has_any", "has_none"]
  };
  var LIST_OPS = ["in", "not_in", "has_any", "has_none"];
  var root = box.querySelector("[data-builder-root]");
  var model;

  function isGroup(n) { return n && typeof n === "object" && (Array.isArray(n.all) || Array.isArray(n.any)); }
  function valueText(leaf) {
    if (Array.isArray(leaf.value)) return leaf.value.join(", ");
    return leaf.value === undefined || leaf.value === null ? "" : String(leaf.value);
  }
  function parseValue(op, s) {
    if (op === "is_null" || op === "not_null") return undefined;
    if (LIST_OPS.indexOf(op) >= 0 || op === "between") {
      return s.split(",").map(function (v) { return v.trim(); }).filter(function (v) { return v !== ""; });
    }
    return s.trim();
  }
  function sync() { text.value = JSON.stringify(model, null, 2); }

  function el(tag, attrs, children) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") e.textContent = attrs[k]; else e.setAttribute(k, attrs[k]);
    });
    (children || []).forEach(function (c) { e.appendChild(c); });
    return e;
  }
  function select(options, current, label, onChange) {
    var s = el("select", { "aria-label": label });
    options.forEach(function (o) {
      var opt = el("option", { value: o[0], text: o[1] });
      if (o[0] === current) opt.selected = true;
      s.appendChild(opt);
    });
    s.addEventListener("change", function () { onChange(s.value); });
    return s;
  }
  function button(label, onClick) {
    var b = el("button", { type: "button", "class": "link", text: label });
    b.addEventListener("click", onClick);
    return b;
  }
  function same(list) { return list.map(function (o) { return [o, o]; }); }

  function leafRow(leaf, parent, index) {
    var row = el("div", { "class": "builder-row", role: "group" });
    if (leaf.metric !== undefined) {
      row.appendChild(select(METRICS, leaf.metric, "metric", function (v) { leaf.metric = v; sync(); }));
      row.appendChild(select(same(["sum", "avg", "max", "min", "latest"]), leaf.agg, "agg", function (v) { leaf.agg = v; sync(); }));
      var months = el("input", { type: "number", min: "1", max: "36", value: String(leaf.months || 12), "aria-label": L.months, size: "3" });
      months.addEventListener("input", function () { leaf.months = parseInt(months.value, 10) || 0; sync(); });
      row.appendChild(months);
      row.appendChild(el("span", { text: L.months }));
    } else {
      row.appendChild(select(FIELDS, leaf.field, "field", function (v) {
        leaf.field = v;
        if ((OPS[v] || []).indexOf(leaf.op) < 0) leaf.op = (OPS[v] || ["eq"])[0];
        sync(); render();
      }));
    }
    var ops = leaf.metric !== undefined ? NUM_OPS : (OPS[leaf.field] || CODE_OPS);
    row.appendChild(select(same(ops), leaf.op, "op", function (v) {
      leaf.op = v; leaf.value = parseValue(v, input.value);
      if (leaf.value === undefined) delete leaf.value;
      sync(); render();
    }));
    var input = el("input", { value: valueText(leaf), "aria-label": L.value });
    input.hidden = leaf.op === "is_null" || leaf.op === "not_null";
    input.addEventListener("input", function () { leaf.value = parseValue(leaf.op, input.value); sync(); });
    row.appendChild(input);
    row.appendChild(button(L.remove, function () { parent.splice(index, 1); sync(); render(); }));
    return row;
  }

  function groupBox(group, depth, onRemove) {
    var key = Array.isArray(group.all) ? "all" : "any";
    var items = group[key];
    var fs = el("div", { "class": "builder-group", role: "group" });
    var head = el("div", { "class": "builder-head" });
    head.appendChild(select([["all", L.all], ["any", L.any]], key, key, function (v) {
      delete group[key]; group[v] = items; sync(); render();
    }));
    if (onRemove) head.appendChild(button(L.remove, onRemove));
    fs.appendChild(head);
    items.forEach(function (item, i) {
      if (isGroup(item)) {
        fs.appendChild(groupBox(item, depth + 1, function () { items.splice(i, 1); sync(); render(); }));
      } else {
        fs.appendChild(leafRow(item, items, i));
      }
    });
    var actions = el("div", { "class": "builder-actions" });
    actions.appendChild(button(L.addCondition, function () {
      items.push({ field: "class", op: "eq", value: "" }); sync(); render(true);
    }));
    actions.appendChild(button(L.addMetric, function () {
      items.push({ metric: "energy_kwh", agg: "sum", months: 12, op: "ge", value: "" }); sync(); render(true);
    }));
    if (depth < 5) {
      actions.appendChild(button(L.addGroup, function () {
        items.push({ any: [{ field: "class", op: "eq", value: "" }] }); sync(); render(true);
      }));
    }
    fs.appendChild(actions);
    return fs;
  }

  function render(focusLast) {
    root.textContent = "";
    root.appendChild(groupBox(model, 1, null));
    if (focusLast) {
      var inputs = root.querySelectorAll("select, input");
      if (inputs.length) inputs[inputs.length - 1].focus();
    }
  }

  function load() {
    try {
      var parsed = JSON.parse(text.value);
      if (!isGroup(parsed)) return false;
      model = parsed;
    } catch (e) {
      return false;
    }
    box.hidden = false;
    render();
    return true;
  }
  // Typing JSON by hand rebuilds the rows once it parses again.
  text.addEventListener("change", load);
  if (!load()) {
    model = { all: [] };
  }
})();

// The counter's payment form: the cash fields show for cash and the scanned
// reference for a QR code; the change due follows the amount and the cash
// received as typed (full-width digits, ¥ and thousands commas too). The
// server checks and computes both again.
(function () {
  "use strict";
  var form = document.querySelector("[data-cash-form]");
  if (!form) return;
  var channel = form.querySelector("select[name=channel]");
  var amount = form.querySelector("[data-amount]");
  var cash = form.querySelector("[data-cash-received]");
  var out = form.querySelector("[data-change]");
  function plain(s) {
    s = (s || "").replace(/[\uFF10-\uFF19]/g, function (c) { return String.fromCharCode(c.charCodeAt(0) - 0xFEE0); })
      .replace(/[\uFF0E\u3002]/g, ".").replace(/\uFF0C/g, ",").replace(/\s/g, "").replace(/^[\u00A5\uFFE5]/, "").replace(/\u5143$/, "");
    if (/^\d{1,3}(,\d{3})+(\.\d+)?$/.test(s)) s = s.replace(/,/g, "");
    return /^\d+(\.\d{1,2})?$/.test(s) ? Math.round(parseFloat(s) * 100) : null;
  }
  function show() {
    form.querySelectorAll("[data-for-channel]").forEach(function (box) {
      box.hidden = box.getAttribute("data-for-channel").split(" ").indexOf(channel.value) < 0;
    });
    if (!out) return;
    var a = plain(amount.value), c = cash.value.trim() === "" ? a : plain(cash.value);
    if (a === null || c === null) { out.textContent = "—"; return; }
    var fen = c - a;
    out.textContent = (fen < 0 ? "-" : "") + "\u00A5" + (Math.abs(fen) / 100).toFixed(2).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
    out.classList.toggle("short", fen < 0);
  }
  [channel, amount, cash].forEach(function (el) { if (el) { el.addEventListener("input", show); el.addEventListener("change", show); } });
  show();
})();
