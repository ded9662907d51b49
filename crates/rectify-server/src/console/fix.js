// Fix on demand: a person picks a stored finding (or pastes one) and a
// rule; rectify takes it as a Security Hub custom action would send it, so
// the job plans the change against the live resource and waits for
// approval; the planned change is shown here to approve or reject.
import { api, can, el, jobHref, link, qs, say } from "./dom.js";

export async function loadFix(params) {
  const rules = await api("GET", "/v1/rules");
  const findings = await api("GET", "/v1/findings" + qs({ limit: 50 }));
  return { rules: rules.rules, findings: findings.findings, params: params.toString() };
}

export function fixView(data, params) {
  const picked = params.get("id") || "";
  const findingSelect = el("select", { id: "fix-finding", name: "finding" },
    el("option", { value: "" }, "(paste one below instead)"),
    data.findings.map((f) => el("option", {
      value: JSON.stringify([f.id, f.product_arn]), selected: f.id === picked,
    }, (f.control || "?") + " · " + f.account + " · " + f.id)));
  if (picked && !data.findings.some((f) => f.id === picked)) {
    findingSelect.appendChild(el("option", { value: JSON.stringify([picked, params.get("product_arn") || ""]), selected: true }, picked));
  }
  const ruleSelect = el("select", { id: "fix-rule", name: "rule" },
    el("option", { value: "" }, "any rule that matches"),
    data.rules.filter((r) => r.enabled).map((r) => el("option", { value: r.id }, r.id + " (" + r.action + ")")));
  const pasted = el("textarea", { id: "fix-asff", name: "asff", rows: 8, cols: 80, spellcheck: "false" });
  const result = el("div", { id: "fix-result", "aria-live": "polite" });
  const form = el("form", { id: "fix" },
    el("p", {}, el("label", { for: "fix-finding" }, "Finding"), findingSelect),
    el("p", {}, el("label", { for: "fix-asff" }, "…or paste one finding in ASFF (JSON)"), el("br"), pasted),
    el("p", {}, el("label", { for: "fix-rule" }, "Rule"), ruleSelect),
    el("p", {}, el("button", { type: "submit", disabled: !can("approve") }, "Plan the fix")),
    can("approve") ? null : el("p", { class: "hint" }, "Your token cannot ask for fixes (it lacks the approve scope)."));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = {};
    if (pasted.value.trim()) {
      try {
        body.finding = JSON.parse(pasted.value);
      } catch (e) {
        say("The pasted finding is not JSON: " + e.message, true);
        return;
      }
    } else if (findingSelect.value) {
      const [id, productArn] = JSON.parse(findingSelect.value);
      body.id = id;
      if (productArn) body.product_arn = productArn;
    } else {
      say("Pick a finding or paste one.", true);
      return;
    }
    if (ruleSelect.value) body.rule = ruleSelect.value;
    try {
      const reply = await api("POST", "/v1/fix", body);
      const jobs = (reply.submitted && reply.submitted.jobs) || [];
      const chosen = jobs.filter((j) => !body.rule || j.rule_id === body.rule);
      result.replaceChildren(
        el("p", {}, "Queued as a custom action: " + jobs.length + " job(s). Each plans its change against the live resource and waits for approval; open it to see the change and approve it."),
        el("ul", { id: "fix-jobs" }, jobs.map((j) => el("li", {}, link(jobHref(j.id), j.id), " " + j.rule_id + (j.duplicate ? " (already queued)" : "")))));
      say("Fix queued.", false);
      // With one job (of the rule chosen), go straight to it: its page
      // shows the plan once made. Every job is listed here.
      if (chosen.length === 1) location.hash = jobHref(chosen[0].id);
    } catch (e) {
      say("Refused: " + e.message, true);
    }
  });
  return el("section", { "aria-labelledby": "page-title" },
    el("h2", { id: "page-title" }, "Fix on demand"),
    el("p", { class: "hint" }, "Asks rectify to fix one finding now. It goes in as a Security Hub custom action would send it: the job reads the live resource, plans the change and waits for a person's approval (unless its rule sets a mode itself)."),
    form, result);
}
