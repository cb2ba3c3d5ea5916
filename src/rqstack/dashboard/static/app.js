/* rqstack dashboard: confirmations, live cron preview, a job page that follows its job. No inline code. */
(function () {
  "use strict";

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  function getJSON(url) {
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } }).then(function (r) {
      return r.json().then(function (body) { return { ok: r.ok, status: r.status, body: body }; });
    });
  }

  function text(el, value) { if (el) { el.textContent = value; } }

  /* 2026-11-25T14:12:29.385+00:00 -> 2026-11-25 14:12:29 UTC, as the server renders it. */
  function when(iso) {
    return iso ? iso.replace("T", " ").replace(/\.\d+/, "").replace(/(\+00:00|Z)$/, " UTC") : "—";
  }

  /* Forms with data-confirm ask first. */
  document.querySelectorAll("form[data-confirm]:not(#cancel-form)").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.getAttribute("data-confirm"))) { event.preventDefault(); }
    });
  });

  /* Schedule form: preview the next fire times of the cron expression in the chosen zone. */
  var cron = document.getElementById("cron");
  var preview = document.getElementById("cron-preview");
  if (cron && preview) {
    var zone = document.getElementById("timezone");
    var timer = null;
    var serial = 0;
    var radios = document.querySelectorAll('input[name="timing"]');
    var syncTiming = function () {
      var every = document.querySelector('input[name="timing"][value="every"]');
      var useEvery = every && every.checked;
      cron.disabled = useEvery;
      document.getElementById("every").disabled = !useEvery;
      preview.hidden = useEvery;
    };
    radios.forEach(function (r) { r.addEventListener("change", syncTiming); });
    syncTiming();
    var render = function () {
      var expr = cron.value.trim();
      preview.replaceChildren();
      preview.className = "preview";
      if (!expr) { return; }
      var mine = ++serial;
      var url = cron.getAttribute("data-preview") + "?n=5&expr=" + encodeURIComponent(expr) +
        "&tz=" + encodeURIComponent(zone ? zone.value.trim() : "");
      getJSON(url).then(function (res) {
        if (mine !== serial) { return; }
        if (!res.ok) {
          preview.className = "preview preview-error";
          text(preview, res.body && res.body.error ? res.body.error.message : "invalid");
          return;
        }
        preview.className = "preview preview-ok";
        var head = document.createElement("p");
        head.className = "preview-words";
        text(head, res.body.description + " (" + res.body.timezone + ")");
        var list = document.createElement("ol");
        res.body.local.forEach(function (local, i) {
          var item = document.createElement("li");
          text(item, local.replace("T", " ") + "  ·  " + res.body.times[i].replace("T", " ").replace("+00:00", " UTC"));
          list.appendChild(item);
        });
        preview.appendChild(head);
        preview.appendChild(list);
      }).catch(function () { /* offline: keep quiet, the server checks on save */ });
    };
    var schedule = function () { clearTimeout(timer); timer = setTimeout(render, 250); };
    cron.addEventListener("input", schedule);
    if (zone) { zone.addEventListener("input", schedule); zone.addEventListener("change", schedule); }
    render();
  }

  /* Job page: poll the API until the job is final; cancel through the API with the CSRF header. */
  var job = document.getElementById("job");
  if (job) {
    var api = job.getAttribute("data-api");
    var bar = document.getElementById("job-progress");
    var final = ["finished", "failed", "canceled", "stopped"];
    var cancelForm = document.getElementById("cancel-form");
    var show = function (d) {
      var badge = document.createElement("span");
      badge.className = "badge badge-" + d.status;
      text(badge, d.status);
      document.getElementById("job-status").replaceChildren(badge);
      text(document.getElementById("job-started"), when(d.started_at));
      text(document.getElementById("job-ended"), when(d.ended_at));
      var pct = d.progress && d.progress.percent !== null && d.progress.percent !== undefined ? d.progress.percent :
        (d.status === "finished" ? 100 : Number(bar.value));
      bar.value = pct;
      text(document.getElementById("job-progress-text"), Math.round(pct) + "%");
      text(document.getElementById("job-progress-message"), d.progress && d.progress.message ? d.progress.message : "");
      text(document.getElementById("job-result"), d.result === null || d.result === undefined ? "—" : JSON.stringify(d.result, null, 2));
      var err = document.getElementById("job-error");
      text(err, d.error || "—");
      err.className = d.error ? "error-box" : "";
      if (final.indexOf(d.status) >= 0 && cancelForm) { cancelForm.hidden = true; }
      return final.indexOf(d.status) < 0;
    };
    var poll = function () {
      getJSON(api).then(function (res) {
        if (res.ok && show(res.body)) { setTimeout(poll, 1000); }
      }).catch(function () { setTimeout(poll, 3000); });
    };
    if (job.getAttribute("data-final") !== "true") { setTimeout(poll, 500); }
    if (cancelForm) {
      cancelForm.addEventListener("submit", function (event) {
        event.preventDefault();
        if (!window.confirm(cancelForm.getAttribute("data-confirm"))) { return; }
        fetch(job.getAttribute("data-cancel"), {
          method: "POST", credentials: "same-origin", headers: { "X-CSRF-Token": csrfToken(), Accept: "application/json" }
        }).then(function () { poll(); });
      });
    }
  }
})();
