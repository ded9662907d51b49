// rectify's approval console: lists the jobs waiting for approval and the
// recent ones through the HTTP API, approves a job with a click (bound to
// the change shown) and queues the undo of a change. The
// token stays in this tab (sessionStorage) and is sent only to this
// origin. Everything from the API is put on the page as text, never as
// markup: findings carry text from outside.
"use strict";

const TOKEN_KEY = "rectify.token";
// The last thing done on this page, kept in the status line.
let lastDone = "";

function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

function say(text, isError) {
  const status = document.getElementById("status");
  status.textContent = text;
  status.className = isError ? "error" : "";
}

async function api(method, path) {
  const response = await fetch(path, {
    method,
    headers: { Authorization: "Bearer " + token() },
    cache: "no-store",
  });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    const reason = body.error || response.statusText;
    throw new Error(response.status + ": " + reason);
  }
  return body;
}

function cell(row, text, className) {
  const td = document.createElement("td");
  td.textContent = text == null ? "" : String(text);
  if (className) td.className = className;
  row.appendChild(td);
  return td;
}

function place(job) {
  return job.target.account + " / " + job.target.region;
}

function planCell(row, job) {
  const td = cell(row, job.plan ? job.plan.summary : "(no plan recorded)");
  if (job.plan) {
    const pre = document.createElement("pre");
    pre.textContent =
      "before: " + JSON.stringify(job.plan.before) + "\nafter:  " + JSON.stringify(job.plan.after);
    td.appendChild(pre);
  }
}

// Why rectify asks before this change: signs that the state is meant
// to be so, or a change that differs from one approved before.
function whyCell(row, job) {
  const outcome = job.outcome || {};
  const replanned = (outcome.reason || "").includes("differs from the one");
  const td = cell(row, replanned ? outcome.reason : "");
  const reasons = outcome.intent || [];
  if (reasons.length) {
    const list = document.createElement("ul");
    list.className = "intent";
    for (const reason of reasons) {
      const item = document.createElement("li");
      item.textContent = reason;
      list.appendChild(item);
    }
    td.appendChild(list);
  }
}

function renderWaiting(jobs) {
  const body = document.querySelector("#waiting tbody");
  body.replaceChildren();
  document.getElementById("waiting-empty").hidden = jobs.length > 0;
  for (const job of jobs) {
    const row = document.createElement("tr");
    row.dataset.job = job.id;
    cell(row, job.id, "job");
    cell(row, job.rule_id);
    cell(row, place(job));
    cell(row, job.target.resource_id, "resource");
    planCell(row, job);
    whyCell(row, job);
    const td = cell(row, "");
    const button = document.createElement("button");
    button.className = "approve";
    button.textContent = "Approve";
    // The approval names the change shown: if the job plans another one
    // by the time it runs, it asks again.
    button.addEventListener("click", () => approve(job.id, job.plan_digest, button));
    td.appendChild(button);
    body.appendChild(row);
  }
}

function renderRecent(jobs) {
  const body = document.querySelector("#recent tbody");
  body.replaceChildren();
  for (const job of jobs) {
    const row = document.createElement("tr");
    row.dataset.job = job.id;
    cell(row, job.updated_at);
    cell(row, job.state, "state");
    cell(row, job.outcome ? job.outcome.kind + ": " + job.outcome.reason : "");
    cell(row, job.rule_id);
    cell(row, place(job));
    cell(row, job.target.resource_id, "resource");
    const td = cell(row, "");
    if (undoable(job)) {
      const button = document.createElement("button");
      button.className = "revert";
      button.textContent = "Undo";
      button.addEventListener("click", () => revert(job.id, button));
      td.appendChild(button);
    }
    body.appendChild(row);
  }
}

// A change rectify made, other than an undo itself.
function undoable(job) {
  return (
    job.state === "succeeded" &&
    job.outcome &&
    job.outcome.kind === "changed" &&
    !job.event_id.startsWith("revert:")
  );
}

async function refresh() {
  if (!token()) return;
  try {
    const waiting = await api("GET", "/v1/jobs?state=waiting-approval&limit=200");
    const recent = await api("GET", "/v1/jobs?limit=50");
    renderWaiting(waiting.jobs);
    renderRecent(recent.jobs);
    say(("Connected. " + waiting.jobs.length + " waiting for approval. " + lastDone).trim(), false);
  } catch (e) {
    say("Could not read the jobs: " + e.message, true);
  }
}

async function approve(id, digest, button) {
  button.disabled = true;
  const bound = digest ? "?plan_digest=" + encodeURIComponent(digest) : "";
  try {
    await api("POST", "/v1/jobs/" + encodeURIComponent(id) + "/approve" + bound);
    lastDone = "Approved " + id + ".";
  } catch (e) {
    say("Could not approve " + id + ": " + e.message, true);
    button.disabled = false;
    return;
  }
  await refresh();
}

// Queues the undo of a job's change; it waits for approval in the list
// above, with the restore it plans.
async function revert(id, button) {
  button.disabled = true;
  try {
    const job = await api("POST", "/v1/jobs/" + encodeURIComponent(id) + "/revert");
    lastDone = "Undo of " + id + " queued as " + job.id + "; it waits for approval.";
  } catch (e) {
    say("Could not undo " + id + ": " + e.message, true);
    button.disabled = false;
    return;
  }
  await refresh();
}

function showLoggedIn(on) {
  document.getElementById("logout").hidden = !on;
}

document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("login");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const input = document.getElementById("token");
    sessionStorage.setItem(TOKEN_KEY, input.value);
    input.value = "";
    showLoggedIn(true);
    refresh();
  });
  document.getElementById("logout").addEventListener("click", () => {
    sessionStorage.removeItem(TOKEN_KEY);
    lastDone = "";
    showLoggedIn(false);
    renderWaiting([]);
    renderRecent([]);
    say("Token forgotten.", false);
  });
  showLoggedIn(!!token());
  refresh();
  setInterval(refresh, 5000);
});
