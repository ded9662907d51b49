// Findings: the list with its filters, and one finding with its ASFF (as
// text), the rules it matches, its jobs and its audit trail.
import {
  api, auditTable, dl, el, filterForm, findingHref, jobHref, link, outcomeText, qs, table,
} from "./dom.js";

const SEVERITIES = ["CRITICAL", "HIGH", "MEDIUM", "LOW", "INFORMATIONAL"];
const WORKFLOW = ["NEW", "NOTIFIED", "RESOLVED", "SUPPRESSED"];

export async function loadFindings(params) {
  const q = {
    account: params.get("account"), control: params.get("control"), severity: params.get("severity"),
    state: params.get("state"), rule: params.get("rule"), limit: 100,
  };
  return api("GET", "/v1/findings" + qs(q));
}

function severity(finding) {
  return (finding && finding.Severity && finding.Severity.Label) || "";
}

function title(finding) {
  return (finding && finding.Title) || "";
}

export function findingsView(data, params) {
  const rows = data.findings.map((f) => [
    el("td", { class: "mono" }, link(findingHref(f.id, f.product_arn), f.id)),
    f.account,
    f.control || "",
    severity(f.finding),
    f.workflow_status || "",
    title(f.finding),
    f.last_outcome || "",
    f.updated_at,
  ]);
  return el(
    "section",
    { "aria-labelledby": "page-title" },
    el("h2", { id: "page-title" }, "Findings"),
    el("p", { class: "hint" }, "Every finding rectify received, newest first. Workflow state is as Security Hub sent it, or as rectify set it after a change it read back."),
    filterForm("findings", [
      { name: "account", label: "Account" },
      { name: "control", label: "Control" },
      { name: "severity", label: "Severity", options: SEVERITIES },
      { name: "state", label: "Workflow", options: WORKFLOW },
      { name: "rule", label: "Rule" },
    ], params),
    rows.length
      ? table("findings", ["Finding", "Account", "Control", "Severity", "Workflow", "Title", "Last outcome", "Updated"], rows, (i) => ({ finding: data.findings[i].id }))
      : el("p", { class: "empty", id: "findings-empty" }, "No findings match."),
    data.next ? el("p", { class: "hint" }, "Showing the newest 100; narrow the filters to see others.") : null,
  );
}

export async function loadFinding(params) {
  return api("GET", "/v1/finding" + qs({ id: params.get("id"), product_arn: params.get("product_arn") }));
}

export function findingView(data) {
  const f = data.finding;
  const jobs = data.jobs.map((job) => [
    el("td", { class: "mono" }, link(jobHref(job.id), job.id)),
    job.state, job.rule_id, outcomeText(job), job.updated_at,
  ]);
  return el(
    "section",
    { "aria-labelledby": "page-title", dataset: { finding: f.id } },
    el("h2", { id: "page-title" }, "Finding"),
    el("p", { class: "mono", id: "finding-id" }, f.id),
    dl([
      ["Title", el("span", { id: "finding-title" }, title(f.finding))],
      ["Account / region", f.account + " / " + f.region],
      ["Control", f.control],
      ["Severity", severity(f.finding)],
      ["Workflow", f.workflow_status],
      ["Product", f.product_arn],
      ["Updated", f.updated_at],
      ["Last outcome", f.last_outcome],
    ]),
    el("p", {}, link("#/fix" + qs({ id: f.id, product_arn: f.product_arn }), "Fix this finding now…")),
    el("section", { "aria-labelledby": "rules-title" },
      el("h3", { id: "rules-title" }, "Rules it matches"),
      data.rules.length
        ? el("ul", { id: "finding-rules" }, data.rules.map((r) => el("li", {}, r)))
        : el("p", { class: "empty" }, "No rule matches it now.")),
    el("section", { "aria-labelledby": "fjobs-title" },
      el("h3", { id: "fjobs-title" }, "Jobs"),
      jobs.length ? table("finding-jobs", ["Job", "State", "Rule", "Outcome", "Updated"], jobs) : el("p", { class: "empty" }, "No jobs yet.")),
    el("section", { "aria-labelledby": "trail-title" },
      el("h3", { id: "trail-title" }, "Audit trail"), auditTable(data.audit)),
    el("section", { "aria-labelledby": "asff-title" },
      el("h3", { id: "asff-title" }, "ASFF as received"),
      el("pre", { class: "json", id: "asff" }, JSON.stringify(f.finding, null, 2))),
  );
}
