// Provenance web interface: drag-and-drop enrollment with per-file progress, and confirmations.
// Served from /static (no inline script: the pages' CSP allows scripts from this origin only).
"use strict";

(function () {
  function csrfToken(form) {
    const input = form.querySelector('input[name="_csrf_token"]');
    return input ? input.value : "";
  }

  function termsFields(form) {
    const data = new FormData(form);
    data.delete("file");
    data.delete("_csrf_token");
    return data;
  }

  function formatSize(bytes) {
    if (bytes < 1024) return bytes + " B";
    if (bytes < 1048576) return (bytes / 1024).toFixed(1) + " KB";
    return (bytes / 1048576).toFixed(1) + " MB";
  }

  function setupEnroll() {
    const form = document.getElementById("enroll-form");
    const zone = document.getElementById("dropzone");
    const input = document.getElementById("files");
    if (!form || !zone || !input) return;
    const rows = document.getElementById("upload-rows");
    const section = document.getElementById("uploads");
    const summary = document.getElementById("upload-summary");
    const counts = { enrolled: 0, already_enrolled: 0, rejected: 0, pending: 0 };
    const queue = [];
    let running = 0;
    const PARALLEL = 2;

    function showSummary() {
      const done = counts.enrolled + counts.already_enrolled + counts.rejected;
      summary.textContent = counts.enrolled + " enrolled, " + counts.already_enrolled + " already enrolled, " +
        counts.rejected + " rejected" + (counts.pending ? " — " + counts.pending + " to go" : " — done") +
        " (" + done + " files)";
      summary.dataset.state = counts.pending ? "running" : "done";
    }

    function addRow(file) {
      const tr = document.createElement("tr");
      const name = document.createElement("td");
      name.textContent = file.name + " (" + formatSize(file.size) + ")";
      const progressCell = document.createElement("td");
      const bar = document.createElement("progress");
      bar.max = 100;
      bar.value = 0;
      progressCell.appendChild(bar);
      const outcome = document.createElement("td");
      outcome.textContent = "waiting";
      outcome.className = "outcome";
      name.dataset.label = "File";
      progressCell.dataset.label = "Progress";
      outcome.dataset.label = "Outcome";
      tr.append(name, progressCell, outcome);
      tr.dataset.file = file.name;
      rows.appendChild(tr);
      return { tr: tr, bar: bar, outcome: outcome };
    }

    function finish(row, kind, message, workId) {
      counts.pending -= 1;
      counts[kind] += 1;
      row.tr.className = "outcome-" + kind;
      row.tr.dataset.outcome = kind;
      row.bar.value = 100;
      row.outcome.textContent = "";
      const label = { enrolled: "Enrolled", already_enrolled: "Already enrolled", rejected: "Rejected" }[kind];
      if (workId) {
        const link = document.createElement("a");
        link.href = "/works/" + encodeURIComponent(workId);
        link.textContent = label + (message ? " " + message : "");
        row.outcome.appendChild(link);
      } else {
        row.outcome.textContent = label + (message ? ": " + message : "");
      }
      showSummary();
    }

    function upload(job) {
      running += 1;
      const data = termsFields(form);
      data.append("file", job.file, job.file.name);
      const xhr = new XMLHttpRequest();
      xhr.open("POST", "/works/upload");
      xhr.setRequestHeader("Accept", "application/json");
      xhr.setRequestHeader("X-CSRFToken", csrfToken(form));
      job.row.outcome.textContent = "uploading";
      xhr.upload.addEventListener("progress", function (e) {
        if (e.lengthComputable) job.row.bar.value = Math.round((e.loaded / e.total) * 90);
      });
      xhr.upload.addEventListener("load", function () { job.row.outcome.textContent = "fingerprinting"; });
      xhr.addEventListener("load", function () {
        let body = null;
        try { body = JSON.parse(xhr.responseText); } catch (err) { body = null; }
        if (body && body.outcome) {
          const note = body.outcome === "enrolled" && body.code !== "contested" ? "" : body.message;
          finish(job.row, body.outcome, note, body.work_id);
        } else if (body && body.error) {
          finish(job.row, "rejected", body.error.message, null);
        } else {
          finish(job.row, "rejected", "the server answered " + xhr.status, null);
        }
      });
      xhr.addEventListener("error", function () { finish(job.row, "rejected", "the upload failed (network)", null); });
      xhr.addEventListener("loadend", function () { running -= 1; next(); });
      xhr.send(data);
    }

    function next() {
      while (running < PARALLEL && queue.length) upload(queue.shift());
    }

    function enqueue(files) {
      if (!files || !files.length) return;
      const first = !rows.children.length;
      section.hidden = false;
      for (const file of files) {
        counts.pending += 1;
        queue.push({ file: file, row: addRow(file) });
      }
      showSummary();
      // the progress is where the user looks: bring the files' table into view (its top, or the new rows)
      (first ? section : rows.lastElementChild).scrollIntoView({ block: first ? "start" : "nearest", behavior: "smooth" });
      next();
    }

    ["dragenter", "dragover"].forEach(function (type) {
      zone.addEventListener(type, function (e) { e.preventDefault(); zone.classList.add("over"); });
    });
    ["dragleave", "drop"].forEach(function (type) {
      zone.addEventListener(type, function (e) { e.preventDefault(); zone.classList.remove("over"); });
    });
    zone.addEventListener("drop", function (e) { enqueue(e.dataTransfer ? e.dataTransfer.files : null); });
    zone.addEventListener("keydown", function (e) {  // the drop zone is focusable: Enter or Space opens the picker
      if ((e.key === "Enter" || e.key === " ") && e.target === zone) { e.preventDefault(); input.click(); }
    });
    input.addEventListener("change", function () { enqueue(input.files); input.value = ""; });
    form.addEventListener("submit", function (e) {
      if (e.submitter && e.submitter.id === "save-defaults") return;  // an ordinary form post
      e.preventDefault();
      enqueue(input.files);
    });
    // dropping a file elsewhere on the page should not navigate away from it
    window.addEventListener("dragover", function (e) { e.preventDefault(); });
    window.addEventListener("drop", function (e) { e.preventDefault(); });
    // on a phone the terms fold (their summary says what they are), so the file chooser is on the first screen
    const terms = form.querySelector("details.terms-box");
    if (terms && window.matchMedia("(max-width: 640px)").matches) terms.open = false;
    const submit = document.getElementById("enroll-submit");
    if (submit) submit.hidden = true;  // with this script, files upload as soon as they are dropped or chosen
    form.dataset.ready = "true";
  }

  function setupConfirms() {
    document.querySelectorAll("form[data-confirm]").forEach(function (form) {
      form.addEventListener("submit", function (e) {
        if (!window.confirm(form.dataset.confirm)) e.preventDefault();
      });
    });
  }

  // on a phone, tables become stacked cards: each cell is labelled with its column's heading
  function labelCells() {
    document.querySelectorAll("table.stack-on-phone").forEach(function (table) {
      const heads = Array.from(table.querySelectorAll("thead th")).map(function (th) { return th.textContent.trim(); });
      table.querySelectorAll("tbody tr").forEach(function (tr) {
        Array.from(tr.children).forEach(function (td, i) {
          if (!td.dataset.label && heads[i]) td.dataset.label = heads[i];
        });
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    labelCells();
    setupEnroll();
    setupConfirms();
  });
})();
