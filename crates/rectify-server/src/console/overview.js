// Overview: open findings and fixes over time (by severity, account or
// control), what is open now (by account, control and severity), what
// rectify did each day (jobs by outcome), the queue, and what is
// stopped: the kill switch, paused rules and tripped breakers, with a
// resume button for admin tokens. The charts are SVG drawn here, each bar
// labelled with its number and each series with a pattern as well as a
// colour (the patterns are defined once, in index.html), and the same
// numbers are in a table beside them.
import { api, can, el, qs, say, table } from "./dom.js";

const SVG = "http://www.w3.org/2000/svg";
// Outcome series of the daily chart: label, fill pattern id.
const SERIES = [
  ["fixed", "p-solid"],
  ["waiting", "p-dots"],
  ["refused", "p-hatch"],
  ["failed", "p-cross"],
  ["other", "p-grid"],
];
// Fill patterns of the history's series, in order (the ninth is "(other)").
const PATTERNS = ["p-solid", "p-dots", "p-hatch", "p-cross", "p-vert", "p-horiz", "p-back", "p-check", "p-grid"];
// The dimensions the history can be split by: address value, label.
const DIMENSIONS = [["severity", "severity"], ["account", "account"], ["control", "control"]];
const HISTORY_DAYS = 30;
const OPEN = (status) => status !== "RESOLVED" && status !== "SUPPRESSED";

function svg(tag, attrs, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
  for (const c of children) node.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
  return node;
}

function seriesOf(outcome) {
  if (outcome === "fixed" || outcome === "waiting" || outcome === "refused" || outcome === "failed") return outcome;
  return "other";
}

// Stacked bars, one per day, with the day's total above each bar, a
// legend (pattern and name) and the same numbers in a table.
// series: [{name, pattern, values: [one per day]}].
function stackedChart(id, title, days, series) {
  const width = Math.max(720, days.length * 30), height = 260, left = 40, bottom = 40, top = 20;
  const totals = days.map((_, i) => series.reduce((sum, s) => sum + s.values[i], 0));
  const max = Math.max(1, ...totals);
  const slot = (width - left) / days.length;
  const scale = (height - bottom - top) / max;
  const labelEvery = Math.ceil(days.length / 15);
  const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-labelledby": `${id}-title ${id}-desc`, class: "chart", id },
    svg("title", { id: id + "-title" }, title),
    svg("desc", { id: id + "-desc" }, "Stacked bars; the table below the chart has the same numbers."));
  chart.appendChild(svg("line", { x1: left, y1: height - bottom, x2: width, y2: height - bottom, stroke: "#333" }));
  chart.appendChild(svg("text", { x: 4, y: top + 4, "font-size": 11 }, String(max)));
  chart.appendChild(svg("text", { x: 4, y: height - bottom, "font-size": 11 }, "0"));
  days.forEach((day, i) => {
    let y = height - bottom;
    const x = left + i * slot + slot * 0.15;
    const w = slot * 0.7;
    for (const s of series) {
      const n = s.values[i];
      if (!n) continue;
      const h = n * scale;
      y -= h;
      chart.appendChild(svg("rect", { x, y, width: w, height: h, fill: `url(#${s.pattern})`, stroke: "#333", "stroke-width": 0.5 },
        svg("title", {}, `${day}: ${n} ${s.name}`)));
    }
    chart.appendChild(svg("text", { x: x + w / 2, y: y - 4, "text-anchor": "middle", "font-size": 10 }, String(totals[i])));
    // Every few days, counted back from the last, so labels never overlap.
    if ((days.length - 1 - i) % labelEvery === 0) {
      chart.appendChild(svg("text", { x: x + w / 2, y: height - bottom + 14, "text-anchor": "middle", "font-size": 10 }, day.slice(5)));
    }
  });
  const legend = el("ul", { class: "legend" }, series.map((s) => el("li", {}, legendSwatch(s.pattern), " " + s.name)));
  const rows = days.map((day, i) => [day, ...series.map((s) => String(s.values[i])), String(totals[i])]);
  return el("figure", { class: "figure wide" }, chart, legend,
    el("details", {}, el("summary", {}, "The numbers: " + title), table(id + "-table", ["Day", ...series.map((s) => s.name), "total"], rows)));
}

function dailyChart(days) {
  const series = SERIES.map(([name, pattern]) => ({
    name,
    pattern,
    values: days.map((d) => Object.entries(d.outcomes).reduce((sum, [outcome, n]) => sum + (seriesOf(outcome) === name ? n : 0), 0)),
  }));
  return stackedChart("daily-chart", "Jobs per day by outcome, last " + days.length + " days", days.map((d) => d.day), series);
}

// Open findings at the end of each day, and fixes each day, split by the
// dimension the address names (#/overview?by=account).
function historySection(history, by) {
  const lines = history.by[by] || [];
  const series = (what) => lines.map((line, i) => ({ name: line.key, pattern: PATTERNS[i % PATTERNS.length], values: line[what] }));
  const label = DIMENSIONS.find(([d]) => d === by)[1];
  const pick = el("ul", { class: "tabs", id: "history-by", "aria-label": "Split the history by" }, DIMENSIONS.map(([d, text]) =>
    el("li", {}, el("a", { href: "#/overview" + qs({ by: d }), "aria-current": d === by ? "true" : null, dataset: { by: d } }, "by " + text))));
  return el("section", { "aria-labelledby": "history-title" },
    el("h3", { id: "history-title" }, `Open findings and fixes, last ${history.days.length} days, by ${label}`),
    pick,
    el("p", { class: "hint" }, "Open at the end of each day: first observed by then and not resolved or suppressed by then. A fix is a job that changed a resource and read it back compliant."),
    stackedChart("history-open", `Open findings at the end of each day, by ${label}`, history.days, series("open")),
    stackedChart("history-fixed", `Fixes each day, by ${label}`, history.days, series("fixed")));
}

function legendSwatch(pattern) {
  return svg("svg", { width: 16, height: 16, "aria-hidden": "true" }, svg("rect", { width: 16, height: 16, fill: `url(#${pattern})`, stroke: "#333" }));
}

// Horizontal bars: one per key, the count written after each bar.
function barChart(id, caption, counts) {
  const entries = Object.entries(counts).sort((a, b) => b[1] - a[1]).slice(0, 12);
  if (!entries.length) return el("p", { class: "empty" }, caption + ": none open.");
  const row = 22, label = 170, width = 520;
  const max = Math.max(1, ...entries.map((e) => e[1]));
  const chart = svg("svg", { viewBox: `0 0 ${width} ${entries.length * row + 8}`, role: "img", "aria-labelledby": id + "-title", class: "chart bars", id },
    svg("title", { id: id + "-title" }, caption));
  entries.forEach(([key, n], i) => {
    const y = 4 + i * row;
    const w = ((width - label - 50) * n) / max;
    chart.appendChild(svg("text", { x: label - 6, y: y + 14, "text-anchor": "end", "font-size": 11 }, key.length > 26 ? key.slice(0, 25) + "…" : key));
    chart.appendChild(svg("rect", { x: label, y: y + 3, width: Math.max(w, 1), height: row - 8, fill: "#5b7db1", stroke: "#333", "stroke-width": 0.5 }));
    chart.appendChild(svg("text", { x: label + w + 6, y: y + 14, "font-size": 11 }, String(n)));
  });
  return el("figure", { class: "figure" }, el("figcaption", {}, caption), chart);
}

export async function loadOverview() {
  const [overview, history] = await Promise.all([
    api("GET", "/v1/overview"),
    api("GET", "/v1/history" + qs({ days: HISTORY_DAYS })),
  ]);
  // When they were computed is not shown: leaving it out lets the page
  // redraw only when a number changed.
  delete overview.computed_at;
  delete history.computed_at;
  return { ...overview, history };
}

function resumeButton(label, rule, refresh) {
  const button = el("button", { type: "button", class: "resume", dataset: { rule: rule || "" } }, label);
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      await api("POST", "/v1/resume" + qs({ rule }));
      say(rule ? "Rule " + rule + " resumed." : "Remediation resumed.", false);
    } catch (e) {
      say("Refused: " + e.message, true);
    }
    await refresh(true);
  });
  return button;
}

export function overviewView(data, params, refresh) {
  const by = DIMENSIONS.some(([d]) => d === params.get("by")) ? params.get("by") : "severity";
  const byAccount = {}, byControl = {}, bySeverity = {};
  let open = 0;
  for (const c of data.findings) {
    if (!OPEN(c.workflow_status)) continue;
    open += c.findings;
    byAccount[c.account] = (byAccount[c.account] || 0) + c.findings;
    byControl[c.control || "(none)"] = (byControl[c.control || "(none)"] || 0) + c.findings;
    bySeverity[c.severity || "(none)"] = (bySeverity[c.severity || "(none)"] || 0) + c.findings;
  }
  const q = data.queue;
  const queue = [
    ["pending", q.pending], ["waiting for approval", q["waiting-approval"]], ["running", q.running],
    ["retrying", q.retrying], ["dead", q.dead], ["failed", q.failed],
  ];
  const paused = Object.entries(data.paused_rules);
  const admin = can("admin");
  return el(
    "section",
    { "aria-labelledby": "page-title" },
    el("h2", { id: "page-title" }, "Overview"),
    el("section", { "aria-labelledby": "queue-title" },
      el("h3", { id: "queue-title" }, "Queue"),
      el("ul", { class: "tiles", id: "queue" }, queue.map(([name, n]) =>
        el("li", {}, el("a", { href: "#/jobs" + qs({ state: name === "waiting for approval" ? "waiting-approval" : name }) }, el("strong", {}, String(n || 0)), " " + name)))),
      data.oldest_due ? el("p", { class: "hint" }, "Oldest job due since " + data.oldest_due + ".") : null),
    el("section", { "aria-labelledby": "stopped-title", id: "stopped" },
      el("h3", { id: "stopped-title" }, "Stopped"),
      data.paused
        ? el("p", { class: "warning" }, "Remediation is PAUSED for every rule (kill switch). ", admin ? resumeButton("Resume all", null, refresh) : "An admin token can resume it.")
        : el("p", {}, "The kill switch is off: rules run."),
      paused.length
        ? table("paused-rules", ["Rule", "Why", ""], paused.map(([rule, why]) => [rule, why, admin ? el("td", {}, resumeButton("Resume " + rule, rule, refresh)) : ""]))
        : el("p", { class: "empty" }, "No rule is paused and no breaker is tripped.")),
    historySection(data.history, by),
    el("section", { "aria-labelledby": "open-title" },
      el("h3", { id: "open-title" }, "Open findings now: " + open),
      data.findings_truncated ? el("p", { class: "hint" }, "Counted from the first lines only: there are more combinations than the overview reads.") : null,
      el("div", { class: "charts" },
        barChart("by-severity", "Open findings by severity", bySeverity),
        barChart("by-account", "Open findings by account", byAccount),
        barChart("by-control", "Open findings by control (top 12)", byControl))),
    el("section", { "aria-labelledby": "daily-title-h" },
      el("h3", { id: "daily-title-h" }, "What rectify did, day by day"),
      dailyChart(data.days)),
  );
}
