// Rules and coverage: every rule with its pattern, action, mode, pack,
// paused state and its jobs in the last 24 hours; the catalog's coverage
// of each standard's controls.
import { api, el, qs, table } from "./dom.js";

export async function loadRules() {
  return api("GET", "/v1/rules");
}

export function rulesView(data) {
  const rows = data.rules.map((r) => [
    el("td", {}, el("a", { href: "#/jobs" + qs({ rule: r.id }) }, r.id), r.description ? el("div", { class: "hint" }, r.description) : null),
    r.enabled ? "enabled" : "disabled",
    r.paused ? "paused: " + r.paused : "running",
    r.pack || "(config)",
    r.action,
    r.mode,
    (r.controls || []).join(", "),
    String(r.matches_24h),
    String(r.changes_24h),
    el("td", {}, el("details", {}, el("summary", {}, "pattern"), el("pre", { class: "json" }, JSON.stringify(r.pattern, null, 2)))),
  ]);
  const coverage = data.coverage;
  const pct = (s) => (s.controls ? Math.round((100 * s.remediated.length) / s.controls) + "%" : "");
  return el("section", { "aria-labelledby": "page-title" },
    el("h2", { id: "page-title" }, "Rules and coverage"),
    table("rules", ["Rule", "Enabled", "Running", "Pack", "Action", "Mode", "Controls", "Jobs (24 h)", "Fixed (24 h)", "Pattern"], rows, (i) => ({ rule: data.rules[i].id })),
    el("h3", {}, "Coverage of each standard by the built-in pack"),
    coverage && coverage.standards
      ? [
        el("p", { class: "hint" }, "Remediated: " + coverage.definitions.remediated + ". Detected: " + coverage.definitions.detected + "."),
        table("coverage", ["Standard", "Controls", "Remediated", "Share", "Detected only", "Neither"], coverage.standards.map((s) => [
          s.name, String(s.controls), String(s.remediated.length), pct(s), String(s.detected.length), String(s.neither.length),
        ])),
      ]
      : el("p", { class: "empty" }, "Coverage is not available from this server."));
}
