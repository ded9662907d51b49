// Audit: whether the hash chain verifies, the anchors' check and the
// newest anchors (when audit.anchor is configured), its lane heads, and
// the newest records.
import { api, auditTable, dl, el, table } from "./dom.js";

export async function loadAudit() {
  const verify = await api("GET", "/v1/audit/verify");
  // The newest records: the head's seq bounds the page.
  const head = Math.max(0, ...verify.heads.map((h) => h.seq));
  const records = await api("GET", "/v1/audit?limit=100&after=" + Math.max(0, head - 100));
  return { verify, records: records.records };
}

// The newest anchors the check read, each said to hold or not in words.
function anchorList(anchors) {
  if (!anchors.configured) return null;
  if (!anchors.newest) return null;
  return el("section", { "aria-labelledby": "anchors-title" },
    el("h3", { id: "anchors-title" }, "Anchors (newest " + anchors.newest.length + " of " + anchors.checked + ")"),
    anchors.newest.length
      ? table("anchor-list", ["Object", "Head seq", "Written", "Check"], anchors.newest.map((a) => [
        el("td", { class: "mono" }, a.key), String(a.seq), a.time, a.holds ? "holds" : "DOES NOT HOLD",
      ]))
      : el("p", { class: "empty" }, "No anchor written yet."));
}

export function auditView(data) {
  const v = data.verify;
  const anchors = v.anchors || {};
  let anchorText = "not configured (audit.anchor)";
  if (anchors.configured && anchors.error) anchorText = "could not be checked: " + anchors.error;
  else if (anchors.configured) anchorText = anchors.problems.length
    ? "PROBLEMS: " + anchors.problems.join("; ")
    : anchors.checked + " checked, all hold";
  return el("section", { "aria-labelledby": "page-title" },
    el("h2", { id: "page-title" }, "Audit"),
    dl([
      ["Chain", el("strong", { id: "chain-verdict" }, v.intact ? "INTACT: every record's hash recomputes and links to the one before" : "BROKEN: " + JSON.stringify(v.verdict))],
      ["Checked", v.checked_seconds_ago + " s ago"],
      ["Anchors", el("span", { id: "anchors" }, anchorText)],
    ]),
    anchorList(anchors),
    el("h3", {}, "Lane heads"),
    table("heads", ["Lane", "Seq", "Hash"], v.heads.map((h) => [String(h.lane), String(h.seq), el("td", { class: "mono" }, h.hash)])),
    el("h3", {}, "Newest records"),
    auditTable(data.records.slice().reverse()));
}
