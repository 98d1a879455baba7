/* underway dashboard: keeps pages live. A job page follows its job's event stream (a whole
   document, then changes; or polls its status document every 3 s when the stream cannot be used)
   and, once the job ends, swaps in the final server-rendered page. Other pages follow a stream of their own rendered content. */
(function () {
  "use strict";
  var POLL_MS = 3000;
  var FINISHED = { completed: 1, failed: 1, cancelled: 1 };
  var live = document.getElementById("live");
  if (!live) return;

  function get(url, as, done) {
    fetch(url, { credentials: "same-origin", headers: { Accept: as } })
      .then(function (r) {
        // Redirected: the session ended and the server sent us to sign in; go there for real.
        if (r.redirected) { location.href = r.url; return null; }
        return r.ok ? (as === "application/json" ? r.json() : r.text()) : null;
      })
      .then(function (body) { if (body !== null) done(body); })
      .catch(function () { /* the next tick tries again */ });
  }

  /* Subscribe to an event stream; after three failures in a row, poll instead. A job's stream
     sends named `change` and `output` events between whole documents: onChange and onOutput
     get those. */
  function follow(streamUrl, onData, poll, onChange, onOutput) {
    var timer = null, source = null, failures = 0;
    function fallback() { if (!timer) { timer = setInterval(poll, POLL_MS); poll(); } }
    function stop() { if (source) source.close(); if (timer) clearInterval(timer); }
    if (!window.EventSource) { fallback(); return stop; }
    source = new EventSource(streamUrl);
    source.onopen = function () { failures = 0; };
    source.onmessage = function (e) { failures = 0; onData(e.data); };
    if (onChange) source.addEventListener("change", function (e) { failures = 0; onChange(e.data); });
    if (onOutput) source.addEventListener("output", function (e) { failures = 0; onOutput(e.data); });
    source.addEventListener("gone", function () { stop(); location.reload(); });
    source.addEventListener("end", stop);  /* the job is over: do not reconnect */
    source.onerror = function () {
      if (++failures >= 3) { source.close(); source = null; fallback(); }
    };
    return stop;
  }

  function text(el, value) { if (el) el.textContent = value; }
  function field(root, name) { return root.querySelector('[data-field="' + name + '"]'); }
  function money(v) { return typeof v === "number" ? "$" + v.toFixed(4) : String(v); }
  function labelOf(r) {
    var keys = ["item", "issue_id", "file", "name", "id"];
    for (var i = 0; i < keys.length; i++) if (r[keys[i]] !== undefined) return String(r[keys[i]]);
    return "";
  }
  function when(iso) { return iso ? iso.slice(0, 19).replace("T", " ") : "-"; }
  function seconds(v) {  /* as the page's server-side filter writes them */
    if (v === null || v === undefined) return "-";
    if (v < 60) return v < 10 ? v.toFixed(1) + " s" : Math.round(v) + " s";
    var m = Math.floor(Math.round(v) / 60), s = Math.round(v) % 60;
    return m < 60 ? m + " min " + s + " s" : Math.floor(m / 60) + " h " + (m % 60) + " min";
  }

  function resultItem(r) {
    var ok = r.success !== false && r.ok !== false;
    var li = document.createElement("li");
    li.className = ok ? "ok" : "fail";
    var mark = document.createElement("span"); mark.className = "mark"; mark.textContent = ok ? "✓" : "✗";
    var label = document.createElement("strong"); label.textContent = labelOf(r);
    var msg = document.createElement("span"); msg.className = "msg"; msg.textContent = r.message || "";
    li.append(mark, " ", label, " ", msg);
    if (r.ai_cost !== undefined) {
      var cost = document.createElement("small"); cost.textContent = money(r.ai_cost);
      li.append(" ", cost);
    }
    return li;
  }

  function showJob(job, doc) {
    var p = doc.progress, bar = job.querySelector(".meter progress");
    var badge = field(job, "status");
    badge.textContent = "";
    var span = document.createElement("span");
    span.className = "badge s-" + doc.status; span.textContent = doc.status;
    badge.append(span);
    if (p.percent === null) { if (doc.status === "processing") bar.removeAttribute("value"); }
    else bar.value = p.percent;
    var none = doc.status === "pending" ? "not started" : "…";
    text(field(job, "percent"), p.percent === null ? none : p.percent + " %");
    text(field(job, "counts"), p.total === null ? String(p.processed) : p.processed + " / " + p.total);
    text(field(job, "current"), p.current || "-");
    text(field(job, "rate"), p.rate_per_s === null || p.rate_per_s === undefined ? "-" : p.rate_per_s + " / s");
    text(field(job, "eta"), seconds(p.eta_s));
    text(field(job, "attempts"), doc.attempts + " / " + doc.max_attempts);
    text(field(job, "started"), when(doc.started_at));
    text(field(job, "completed"), when(doc.completed_at));
    var results = job.querySelector("#results");
    for (var i = results.children.length; i < doc.results.length; i++) {
      results.append(resultItem(doc.results[i]));
    }
    text(field(job, "result-count"), String(doc.results.length));
    var errors = job.querySelector("#errors");
    if (errors.children.length !== doc.errors.length) {
      errors.textContent = "";
      doc.errors.forEach(function (e) {
        var li = document.createElement("li"); li.className = "err"; li.textContent = e; errors.append(li);
      });
      text(field(job, "error-count"), String(doc.errors.length));
    }
    var usage = field(job, "usage"), keys = Object.keys(doc.usage);
    if (keys.length) {
      usage.textContent = "";
      keys.forEach(function (k) {
        var li = document.createElement("li"), b = document.createElement("strong");
        b.textContent = k.toLowerCase().indexOf("cost") >= 0 ? money(doc.usage[k]) : String(doc.usage[k]);
        li.append(k + ": ", b); usage.append(li);
      });
    }
    var warning = field(job, "warning"), banner = document.getElementById("no-worker");
    if (warning) warning.hidden = !doc.warning;
    if (banner && doc.status !== "pending") banner.hidden = true;
    job.dataset.status = doc.status;
    document.title = (p.percent === null ? "" : p.percent + "% · ") + doc.task + " · underway";
  }

  function followJob(job) {
    var ended = false, stop = null;
    function apply(doc) {
      if (ended) return;
      showJob(job, doc);
      if (FINISHED[doc.status]) {
        ended = true;
        if (stop) stop();
        get(job.dataset.final, "text/html", function (html) { live.innerHTML = html; });
      }
    }
    var doc = null;
    function whole(d) { doc = d; apply(d); }
    function change(data) {  /* the fields that changed, and the entries that are new */
      if (!doc) return;
      var c = JSON.parse(data), results = c.new_results || [], errors = c.new_errors || [];
      delete c.new_results; delete c.new_errors;
      Object.assign(doc, c);
      doc.results = doc.results.concat(results); doc.errors = doc.errors.concat(errors);
      apply(doc);
    }
    var output = "", pre = field(job, "output"), section = field(job, "output-section");
    function streamed(data) {
      /* The stream sends the output from its start, then what is new, in order (offsets count
         code points, not the UTF-16 units of .length: so appended, never sliced). */
      var d = JSON.parse(data);
      output = (d.offset === 0 ? "" : output) + d.text;
      if (pre) pre.textContent = output;
      if (section) section.hidden = false;
    }
    stop = follow(job.dataset.events, function (data) { whole(JSON.parse(data)); }, function () {
      get(job.dataset.poll, "application/json", whole);
    }, change, streamed);
    if (ended) stop();
  }

  var job = document.getElementById("job");
  if (job) {
    if (job.dataset.events) followJob(job);
  } else if (live.dataset.stream) {
    follow(live.dataset.stream, function (html) { live.innerHTML = html; }, function () {
      get(live.dataset.fragment, "text/html", function (html) { live.innerHTML = html; });
    });
  }
})();
