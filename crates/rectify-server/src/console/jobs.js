// Jobs: the list with its filters, and one job with its planned change as
// a diff, why it waits, its attempts and errors, its audit trail, and what
// a person can do with it: approve the change shown, reject it with a
// reason, undo a change, retry a dead or failed job.
import {
  api, auditTable, can, diffView, dl, el, filterForm, findingHref, jobHref, link, outcomeText,
  place, qs, say, table,
} from "./dom.js";

export const STATES = [
  "pending", "waiting-approval", "running", "retrying", "succeeded", "skipped", "failed", "dead",
];

export async function loadJobs(params) {
  const q = {
    state: params.get("state"), account: params.get("account"), rule: params.get("rule"),
    action: params.get("action"), limit: 100,
  };
  return api("GET", "/v1/jobs" + qs(q));
}

export function jobsView(data, params) {
  const rows = data.jobs.map((job) => [
    el("td", { class: "mono" }, link(jobHref(job.id), job.id)),
    job.state,
    job.rule_id,
    job.action,
    place(job),
    el("td", { class: "mono" }, job.target.resource_id),
    job.plan ? job.plan.summary : "",
    outcomeText(job),
    job.updated_at,
  ]);
  return el(
    "section",
    { "aria-labelledby": "page-title" },
    el("h2", { id: "page-title" }, "Jobs"),
    el("p", { class: "hint" }, "Every change rectify planned or made. Open a job to see its change setting by setting and to approve, reject, undo or retry it. A job waiting for approval runs only once a person approves the change shown."),
    filterForm("jobs", [
      { name: "state", label: "State", options: STATES },
      { name: "account", label: "Account" },
      { name: "rule", label: "Rule" },
      { name: "action", label: "Action" },
    ], params),
    rows.length
      ? table("jobs", ["Job", "State", "Rule", "Action", "Account / region", "Resource", "Planned change", "Outcome", "Updated"], rows, (i) => ({ job: data.jobs[i].id, state: data.jobs[i].state }))
      : el("p", { class: "empty", id: "jobs-empty" }, "No jobs match."),
    data.next ? el("p", { class: "hint" }, "Showing the newest 100; narrow the filters to see others.") : null,
  );
}

export async function loadJob(id) {
  const job = await api("GET", "/v1/jobs/" + encodeURIComponent(id));
  const audit = await api("GET", "/v1/jobs/" + encodeURIComponent(id) + "/audit");
  return { job, audit: audit.records };
}

// A change rectify made, other than an undo itself.
function undoable(job) {
  return job.state === "succeeded" && job.outcome && job.outcome.kind === "changed" && !job.event_id.startsWith("revert:");
}

// Why rectify asks before this change: signs that the state is meant to
// be so, or a change that differs from one approved before.
function whyView(job) {
  const outcome = job.outcome || {};
  const reasons = outcome.intent || [];
  const items = [];
  if (job.state === "waiting-approval" && outcome.reason) items.push(outcome.reason);
  for (const r of reasons) items.push(r);
  if (!items.length) return null;
  return el("section", { "aria-labelledby": "why-title" },
    el("h3", { id: "why-title" }, "Why it waits for a person"),
    el("ul", { class: "intent" }, items.map((r) => el("li", {}, r))));
}

export function jobView(data, _params, refresh) {
  const { job } = data;
  const actions = el("div", { class: "actions", id: "job-actions" });
  if (job.state === "waiting-approval" && can("approve")) {
    const approve = el("button", { class: "approve", id: "approve", type: "button" }, "Approve this change");
    // The approval names the change shown (its digest): if the job plans
    // another change by now, the API refuses and the page shows the new one.
    approve.addEventListener("click", () => act(approve, "Approved " + job.id + ".", () =>
      api("POST", "/v1/jobs/" + encodeURIComponent(job.id) + "/approve" + qs({ plan_digest: job.plan_digest })), refresh));
    actions.appendChild(approve);
    const reason = el("input", { id: "reject-reason", name: "reason", size: 40, maxlength: 1000, required: true });
    const reject = el("form", { id: "reject", class: "reject" },
      el("label", { for: "reject-reason" }, "Reason to reject"), reason,
      el("button", { type: "submit", class: "reject" }, "Reject"));
    reject.addEventListener("submit", (event) => {
      event.preventDefault();
      const button = reject.querySelector("button");
      act(button, "Rejected " + job.id + ".", () =>
        api("POST", "/v1/jobs/" + encodeURIComponent(job.id) + "/reject" + qs({ reason: reason.value })), refresh);
    });
    actions.appendChild(reject);
  }
  if (undoable(job) && can("approve")) {
    const undo = el("button", { class: "revert", id: "revert", type: "button" }, "Undo this change");
    undo.addEventListener("click", () => act(undo, null, async () => {
      const queued = await api("POST", "/v1/jobs/" + encodeURIComponent(job.id) + "/revert");
      say("Undo of " + job.id + " queued as " + queued.id + "; it waits for approval.", false);
      location.hash = jobHref(queued.id);
    }));
    actions.appendChild(undo);
  }
  if ((job.state === "dead" || job.state === "failed") && can("approve")) {
    const retry = el("button", { class: "retry", id: "retry", type: "button" }, "Retry");
    retry.addEventListener("click", () => act(retry, null, async () => {
      const queued = await api("POST", "/v1/jobs/" + encodeURIComponent(job.id) + "/retry");
      say("Retry of " + job.id + " queued as " + queued.id + ".", false);
      location.hash = jobHref(queued.id);
    }));
    actions.appendChild(retry);
  }
  if (!actions.childNodes.length && job.state === "waiting-approval") {
    actions.appendChild(el("p", { class: "hint", id: "read-only" }, "Your token cannot approve or reject (it lacks the approve scope)."));
  }
  const outcome = job.outcome;
  return el(
    "section",
    { "aria-labelledby": "page-title", dataset: { job: job.id, state: job.state } },
    el("h2", { id: "page-title" }, "Job ", el("span", { class: "mono" }, job.id)),
    dl([
      ["State", el("strong", { id: "job-state" }, job.state)],
      ["Rule", job.rule_id],
      ["Action", job.action],
      ["Mode", job.mode],
      ["Account / region", place(job)],
      ["Resource", el("span", { class: "mono", id: "job-resource" }, job.target.resource_id)],
      ["Control", job.control],
      ["Finding", job.finding ? link(findingHref(job.finding.Id, job.finding.ProductArn), job.finding.Id) : null],
      ["Event", job.event_id],
      ["Attempts", String(job.attempts)],
      ["Created", job.created_at],
      ["Updated", job.updated_at],
      ["Next run", job.next_run_at],
      ["Approved by", job.approved_by],
    ]),
    actions,
    el("section", { "aria-labelledby": "plan-title", id: "plan" },
      el("h3", { id: "plan-title" }, "Planned change"),
      diffView(job.plan),
      job.plan_digest ? el("p", { class: "hint" }, "Change digest ", el("span", { class: "mono", id: "plan-digest" }, job.plan_digest)) : null),
    whyView(job),
    outcome ? el("section", { "aria-labelledby": "outcome-title" },
      el("h3", { id: "outcome-title" }, "Outcome"),
      dl([
        ["Kind", outcome.kind],
        ["Reason", el("span", { id: "outcome-reason" }, outcome.reason)],
        ["Finding update", outcome.finding_update],
      ]),
      outcome.after ? el("div", {}, el("h4", {}, "Read back after the change"), el("pre", { class: "json" }, JSON.stringify(outcome.after, null, 2))) : null) : null,
    job.last_error ? el("section", { "aria-labelledby": "error-title" },
      el("h3", { id: "error-title" }, "Last error"), el("pre", { id: "last-error" }, job.last_error)) : null,
    el("section", { "aria-labelledby": "trail-title" },
      el("h3", { id: "trail-title" }, "Audit trail"), auditTable(data.audit)),
  );
}

async function act(button, done, call, refresh) {
  button.disabled = true;
  try {
    await call();
    if (done) say(done, false);
  } catch (e) {
    say("Refused: " + e.message, true);
  }
  button.disabled = false;
  if (refresh) await refresh(true);
}
