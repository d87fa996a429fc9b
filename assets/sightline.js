// Sightline's optional script: hover read-outs, drag-to-zoom, auto-refresh
// and Explore's query history. Every page works without it. No inline
// scripts anywhere, so a strict Content-Security-Policy holds.
(function () {
  "use strict";

  // Auto-refresh: the picker says how often; pause while the tab is hidden.
  function autoRefresh() {
    var p = document.querySelector(".picker[data-refresh]");
    var secs = p ? parseInt(p.getAttribute("data-refresh"), 10) : 0;
    if (!secs || secs < 5) return;
    setTimeout(function again() {
      if (document.hidden || document.body.classList.contains("dragging")) {
        setTimeout(again, 1000);
        return;
      }
      location.reload();
    }, secs * 1000);
  }

  // Point in an SVG's own coordinates for a mouse event.
  function svgPoint(svg, ev) {
    var m = svg.getScreenCTM();
    if (!m) return null;
    var pt = svg.createSVGPoint();
    pt.x = ev.clientX;
    pt.y = ev.clientY;
    return pt.matrixTransform(m.inverse());
  }

  var tip = null;
  function showTip(text, ev) {
    if (!tip) {
      tip = document.createElement("div");
      tip.className = "readout";
      tip.setAttribute("role", "status");
      document.body.appendChild(tip);
    }
    tip.textContent = text;
    tip.hidden = false;
    var x = ev.clientX + 14, y = ev.clientY + 14;
    var r = tip.getBoundingClientRect();
    if (x + r.width > window.innerWidth - 8) x = ev.clientX - r.width - 14;
    if (y + r.height > window.innerHeight - 8) y = ev.clientY - r.height - 14;
    tip.style.left = Math.max(4, x) + "px";
    tip.style.top = Math.max(4, y) + "px";
  }
  function hideTip() { if (tip) tip.hidden = true; }

  // Hover read-outs: the chart's hover columns carry a <title> per time;
  // show the column under the pointer at once in a styled box (the native
  // tooltip is slow and small). Columns are found by x, so lines and areas
  // drawn on top do not get in the way.
  function hover(svg) {
    var cols = null;
    function columns() {
      if (cols) return cols;
      cols = [];
      svg.querySelectorAll("g.hover > rect").forEach(function (r) {
        var t = r.querySelector("title");
        cols.push({ x: parseFloat(r.getAttribute("x")), w: parseFloat(r.getAttribute("width")), text: t ? t.textContent : "" });
        if (t) t.remove(); // no second, native tooltip
      });
      return cols;
    }
    svg.addEventListener("mousemove", function (ev) {
      var p = svgPoint(svg, ev);
      var c = p && columns().find(function (c) { return p.x >= c.x && p.x < c.x + c.w; });
      if (c && c.text) showTip(c.text, ev);
      else hideTip();
    });
    svg.addEventListener("mouseleave", hideTip);
  }

  // Drag across a time chart to zoom: navigates to the same page with from/to.
  function dragZoom(svg) {
    var start = parseFloat(svg.getAttribute("data-start"));
    var end = parseFloat(svg.getAttribute("data-end"));
    var plot = (svg.getAttribute("data-plot") || "").split(" ").map(parseFloat);
    if (!(end > start) || plot.length !== 4) return;
    var left = plot[0], top = plot[1], right = plot[2], bottom = plot[3];
    var from = null, band = null;
    function timeAt(x) {
      var f = Math.min(1, Math.max(0, (x - left) / (right - left)));
      return Math.round(start + f * (end - start));
    }
    svg.addEventListener("mousedown", function (ev) {
      if (ev.button !== 0) return;
      var p = svgPoint(svg, ev);
      if (!p || p.x < left || p.x > right) return;
      ev.preventDefault();
      from = p.x;
      band = document.createElementNS("http://www.w3.org/2000/svg", "rect");
      band.setAttribute("class", "zoom-band");
      band.setAttribute("y", top);
      band.setAttribute("height", bottom - top);
      band.setAttribute("x", from);
      band.setAttribute("width", 0);
      svg.appendChild(band);
      document.body.classList.add("dragging");
    });
    window.addEventListener("mousemove", function (ev) {
      if (from === null) return;
      var p = svgPoint(svg, ev);
      if (!p) return;
      var x = Math.min(right, Math.max(left, p.x));
      band.setAttribute("x", Math.min(from, x));
      band.setAttribute("width", Math.abs(x - from));
    });
    window.addEventListener("mouseup", function (ev) {
      if (from === null) return;
      var p = svgPoint(svg, ev);
      var a = from;
      from = null;
      document.body.classList.remove("dragging");
      if (band) { band.remove(); band = null; }
      if (!p || Math.abs(p.x - a) < 4) return;
      var t0 = timeAt(Math.min(a, p.x)), t1 = timeAt(Math.max(a, p.x));
      if (t1 - t0 < 1000) return;
      var u = new URL(location.href);
      u.searchParams.delete("range");
      u.searchParams.delete("refresh");
      u.searchParams.set("from", String(t0));
      u.searchParams.set("to", String(t1));
      location.href = u.toString();
    });
  }

  // Explore: remember the last queries run, in this browser only.
  function history() {
    var box = document.getElementById("history");
    var q = document.getElementById("q");
    if (!box || !q) return;
    var key = "sightline.explore.history";
    var list = [];
    try { list = JSON.parse(localStorage.getItem(key) || "[]"); } catch (e) { list = []; }
    if (!Array.isArray(list)) list = [];
    var now = q.value.trim();
    if (now) {
      list = [now].concat(list.filter(function (x) { return x !== now; })).slice(0, 20);
      try { localStorage.setItem(key, JSON.stringify(list)); } catch (e) { /* private mode */ }
    }
    var others = list.filter(function (x) { return x !== now; });
    if (!others.length) return;
    var h = document.createElement("h2");
    h.textContent = "Recent queries";
    box.appendChild(h);
    var ul = document.createElement("ul");
    others.forEach(function (x) {
      var li = document.createElement("li");
      var a = document.createElement("a");
      var u = new URL(location.href);
      u.searchParams.set("q", x);
      a.href = u.pathname + u.search;
      a.textContent = x;
      li.appendChild(a);
      ul.appendChild(li);
    });
    box.appendChild(ul);
    box.hidden = false;
  }

  function init() {
    document.querySelectorAll("svg.chart").forEach(hover);
    document.querySelectorAll("svg.chart-timeseries[data-start]").forEach(dragZoom);
    autoRefresh();
    history();
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
