/* <underway-progress job="ID" src="/jobs" view="TOKEN" cancel markdown>: an underway job, live,
   in a host application's page. src: where underway is mounted; view: a view link's token;
   cancel: a Cancel button (not with view); markdown: output as safe Markdown (DOM nodes only).

   Shadow DOM (open): page styles cannot break it nor its markup clash with the page's. The CSS
   is linked in the shadow root (its :host rules) and may be in the page (its first rule only).
   Theme: --underway-* properties, ::part(<class>). The light-DOM children (no-JS fallback) are
   not slotted: they hide once this runs.

   Follows the event stream (Last-Event-ID resume; closed for good at `end`), else polls every
   2 s (no EventSource, or 3 failures in a row). Fires `underway:progress` (detail: document)
   per update, `underway:done` (final document) once; both bubble, composed. */
(function () {
"use strict";
if (!window.customElements || customElements.get("underway-progress")) return;
var POLL_MS = 2000, FINISHED = { completed: 1, failed: 1, cancelled: 1 };
var INLINE = /`([^`]+)`|\*\*(.+?)\*\*|\b__(.+?)__\b|\*(.+?)\*|\b_(.+?)_\b/g;

function el(tag, cls, parent, text) {
  var e = document.createElement(tag);
  if (cls) { e.className = cls; e.setAttribute("part", cls); }
  if (text != null) e.textContent = text;
  if (parent) parent.append(e);
  return e;
}
function show(node, text) { node.textContent = text; }  // empty: not displayed (CSS)
function keepEnd(node, update) {  // a scrolled box stays at its end, unless scrolled up
  var top = node.scrollTop, end = top + node.clientHeight >= node.scrollHeight - 4;
  update();
  node.scrollTop = end ? node.scrollHeight : top;
}
function labelOf(r) {
  var key = ["item", "issue_id", "file", "name", "id"].find((k) => r[k] !== undefined);
  return key ? String(r[key]) : "";
}
function duration(s) {
  s = Math.max(0, Math.round(s));
  var m = Math.floor(s / 60), h = Math.floor(m / 60);
  return h ? h + " h " + (m % 60) + " min" : m ? m + " min " + (s % 60) + " s" : s + " s";
}
async function call(url, method) {
  var r = await fetch(url, { method, credentials: "same-origin", headers: { Accept: "application/json" } });
  var body = await r.json().catch(() => ({}));
  return { ok: r.ok, status: r.status, body, why: typeof body.detail === "string" ? body.detail : "HTTP " + r.status };
}

/* Markdown subset, text nodes only: code spans, bold, italic... */
function inline(parent, text) {
  var re = new RegExp(INLINE), at = 0, m;
  while ((m = re.exec(text))) {
    parent.append(text.slice(at, m.index));
    if (m[1] != null) el("code", null, parent, m[1]);
    else inline(el(m[2] || m[3] ? "strong" : "em", null, parent), m[2] || m[3] || m[4] || m[5]);
    at = re.lastIndex;
  }
  parent.append(text.slice(at));
}
/* ...in headings, paragraphs, flat lists; and fenced code (open while the output grows). */
function markdown(root, text) {
  root.textContent = "";
  var lines = text.split("\n"), i = 0, para = null, list = null, line, m;
  while (i < lines.length) {
    line = lines[i++];
    if (/^\s*```/.test(line)) {
      var code = [];
      while (i < lines.length && !/^\s*```/.test(lines[i])) code.push(lines[i++]);
      i++;
      el("code", null, el("pre", null, root), code.join("\n"));
      para = list = null;
    } else if ((m = /^(#{1,6})\s+(.*)$/.exec(line))) {
      inline(el("h" + m[1].length, null, root), m[2]);
      para = list = null;
    } else if ((m = /^\s*([-*+]|(\d+)[.)])\s+(.*)$/.exec(line))) {
      if (!list || list.localName !== (m[2] ? "ol" : "ul")) list = el(m[2] ? "ol" : "ul", null, root);
      inline(el("li", null, list), m[3]);
      para = null;
    } else if (line.trim()) {
      if (para) para.append("\n"); else para = el("p", null, root);
      inline(para, line);
      list = null;
    } else para = list = null;
  }
}

class UnderwayProgress extends HTMLElement {
  connectedCallback() {
    if (!this.f) this.build();
    if (!this.ended) {
      this.tick = setInterval(() => this.times(), 1000);
      if (window.EventSource) this.listen(); else this.poll();
    }
  }
  disconnectedCallback() { this.stop(); }

  base() { return (this.getAttribute("src") ?? "/jobs").replace(/\/$/, ""); }
  url(path, query) {
    var q = query ? [query] : [], view = this.getAttribute("view");
    if (view) q.push("view=" + encodeURIComponent(view));
    return this.base() + "/api/jobs/" + encodeURIComponent(this.getAttribute("job") || "") +
      path + (q.length ? "?" + q.join("&") : "");
  }

  build() {
    var root = this.attachShadow({ mode: "open" }), css = el("link", null, root), f = (this.f = {});
    var box = el("div", "box", root), head = el("div", "head", box), line;
    this.out = ""; this.n = 0; this.md = this.hasAttribute("markdown");
    box.hidden = true;  // until styled: no flash of bare markup
    css.onload = css.onerror = () => { box.hidden = false; };
    css.rel = "stylesheet";
    css.href = this.base() + "/static/underway-progress.css";
    f.status = el("span", "status", head, "…");
    f.current = el("span", "current", head);
    f.bar = el("div", "bar", box);
    [["role", "progressbar"], ["aria-valuemin", 0], ["aria-valuemax", 100], ["aria-label", "Job progress"]]
      .forEach((a) => f.bar.setAttribute(a[0], a[1]));
    f.fill = el("div", "fill", f.bar);
    line = el("div", "line", box);
    ["percent", "counts", "elapsed", "eta", "cost"].forEach((n) => { f[n] = el("span", n, line); });
    ["p warning", "ul results", "ul errors", (this.md ? "div" : "pre") + " output", "pre result", "pre error", "p note"]
      .forEach((a) => { a = a.split(" "); f[a[1]] = el(a[0], a[1], box); });
    if (this.hasAttribute("cancel") && !this.getAttribute("view")) {
      f.cancel = el("button", "cancel", box, "Cancel");
      f.cancel.type = "button";
      f.cancel.onclick = () => this.cancel();
      f.refused = el("p", "note", box);
    }
  }

  stop() {
    if (this.source) this.source.close();
    clearInterval(this.timer); clearInterval(this.tick);
    this.source = null;
  }
  emit(name, doc) { this.dispatchEvent(new CustomEvent(name, { detail: doc, bubbles: true, composed: true })); }

  listen() {
    var s = (this.source = new EventSource(this.url("/events")));
    this.fails = 0;
    var on = (name, handle) => s.addEventListener(name, (e) => { this.fails = 0; handle(JSON.parse(e.data)); });
    s.onopen = () => { this.fails = 0; show(this.f.note, ""); };
    on("message", (doc) => this.apply(doc));
    on("change", (c) => this.merge(c));
    on("output", (o) => { this.chunk(o); this.paintOutput(); });
    on("end", () => this.finish());
    on("gone", () => this.drop("This job is not available."));
    s.onerror = () => {
      if (this.source !== s) return;
      if (++this.fails >= 3 || s.readyState === 2) { s.close(); this.source = null; this.poll(); }
      else show(this.f.note, "Reconnecting…");
    };
  }
  poll() {
    show(this.f.note, "");
    this.timer = setInterval(() => this.pollOnce(), POLL_MS);
    this.pollOnce();
  }
  async pollOnce() {
    if (this.busy || this.ended) return;
    this.busy = true;
    try {
      var d = await this.get("");
      if (d && d.output_length > this.n) await this.readOutput();
      if (d) this.apply(d);
    } catch (e) { /* the next tick tries again */ }
    this.busy = false;
  }
  async get(path, query) {  // a 404 ends it; other refusals may pass (a new session...)
    var a = await call(this.url(path, query));
    show(this.f.note, a.ok ? "" : a.why);
    if (a.status === 404) this.drop(a.why);
    return a.ok && a.body;
  }
  async readOutput() {
    var o = await this.get("/output", "offset=" + this.n);
    if (o && o.text) { this.chunk(o); this.paintOutput(); return true; }
  }
  chunk(o) {  // offsets count code points, as the server does (a JS length counts UTF-16 units)
    if (o.offset > this.n) return;
    this.out = (o.offset < this.n ? Array.from(this.out).slice(0, o.offset).join("") : this.out) + o.text;
    this.n = o.offset + Array.from(o.text).length;
  }
  drop(why) { this.stop(); this.ended = true; show(this.f.note, why); }

  merge(change) {
    var d = this.doc || { results: [], errors: [] };
    for (var k in change) if (k !== "new_results" && k !== "new_errors") d[k] = change[k];
    d.results = d.results.concat(change.new_results || []);
    d.errors = d.errors.concat(change.new_errors || []);
    this.apply(d);
  }
  apply(doc) {
    if (this.ended) return;
    this.doc = doc; this.at = Date.now();
    this.paint();
    this.emit("underway:progress", doc);
    if (FINISHED[doc.status]) this.finish();
  }
  async finish() {
    if (this.ended) return;
    this.ended = true;
    this.stop();
    try {  // what the stream did not bring (it brings all the output before the end)
      if (!this.doc || !FINISHED[this.doc.status]) this.doc = (await this.get("")) || this.doc;
      while (this.doc && this.doc.output_length > this.n && (await this.readOutput()));
    } catch (e) { show(this.f.note, "Output incomplete: " + e.message); }
    this.paint();
    if (this.doc) this.emit("underway:done", this.doc);
  }

  async cancel() {
    var b = this.f.cancel;
    b.disabled = true;
    try {
      var a = await call(this.url("/cancel"), "POST");
      show(this.f.refused, a.ok ? "" : "Cancel refused: " + a.why);
      if (a.ok) this.apply(a.body);
    } catch (e) { show(this.f.refused, "Cancel failed: " + e.message); }
    b.disabled = false;
  }

  paint() {
    var d = this.doc, f = this.f, p = d?.progress || {}, pct = p.percent, cost = null, k;
    if (!d) return;
    var over = FINISHED[d.status];
    f.status.textContent = d.status;
    f.status.className = "status s-" + d.status;
    show(f.current, over ? "" : p.current || "");
    f.bar.classList.toggle("busy", pct == null && d.status === "processing");
    if (pct == null) f.bar.removeAttribute("aria-valuenow"); else f.bar.setAttribute("aria-valuenow", pct);
    show(f.percent, pct == null ? "" : pct + " %");
    f.bar.setAttribute("aria-valuetext", (f.percent.textContent || d.status) +
      (p.total == null ? "" : ", " + p.processed + " of " + p.total));
    f.fill.style.width = (pct || 0) + "%";
    show(f.counts, p.total == null ? String(p.processed || 0) : p.processed + " / " + p.total);
    for (k in d.usage) if (/cost/i.test(k) && typeof d.usage[k] === "number") cost = (cost || 0) + d.usage[k];
    show(f.cost, cost == null ? "" : "Cost $" + cost.toFixed(cost < 1 ? 4 : 2));
    show(f.warning, (d.status === "pending" && d.warning) || "");
    this.list(f.results, d.results, (r) => {
      var ok = r.success !== false && r.ok !== false, li = el("li", ok ? "ok" : "fail");
      li.append(el("span", "mark", null, ok ? "✓" : "✗"), " ", el("strong", "label", null, labelOf(r)),
        " ", el("span", "msg", null, String(r.message ?? "")));
      return li;
    });
    this.list(f.errors, d.errors, (e) => el("li", "err", null, String(e)));
    show(f.result, over && d.result != null ? JSON.stringify(d.result, null, 2) : "");
    show(f.error, over && d.error ? String(d.error) : "");
    if (f.cancel) f.cancel.hidden = !!over;
    this.times();
    this.paintOutput();
  }
  list(ul, items, make) {
    items = items || [];
    keepEnd(ul, () => {
      if (ul.children.length > items.length) ul.textContent = "";
      for (var i = ul.children.length; i < items.length; i++) ul.append(make(items[i]));
    });
  }
  paintOutput() {
    var o = this.f.output, text = this.out;
    if (o.shown !== text.length) keepEnd(o, () => {
      o.shown = text.length;
      if (this.md) markdown(o, text); else o.textContent = text;
    });
  }
  times() {
    var d = this.doc, f = this.f;
    if (!d) return;
    var start = Date.parse(d.started_at), end = d.completed_at ? Date.parse(d.completed_at) : Date.now();
    var eta = d.progress?.eta_s;  // as of the document: counted down since it came
    show(f.elapsed, start ? "Elapsed " + duration((end - start) / 1000) : "");
    show(f.eta, eta == null || FINISHED[d.status] ? "" : "ETA " + duration(eta - (Date.now() - this.at) / 1000));
  }
}
customElements.define("underway-progress", UnderwayProgress);
})();
