// Opens the HTML report of `rectify scan --output html` in headless
// Chromium, as a person who was sent the file would, and checks what is
// drawn. The Rust test that starts it (crates/rectify/tests/scan_reports.rs)
// seeded the account and says what the page must show.
//
//   node scan_report.mjs SETUP_JSON
//
// SETUP_JSON: {file, shot, verdicts, failed, account, hostile,
// compliance: {TITLE: {CONTROL: "50%", ...}}, resources: [id, ...]}.
// Prints "scan report test: ok" at the end; exits 1 with the reason when
// a check does not hold.
import { chromium } from "playwright-core";
import { pathToFileURL } from "node:url";

const setup = JSON.parse(process.argv[2]);
const fail = (why) => {
  console.error("scan report test: " + why);
  process.exit(1);
};

const browser = await chromium.launch({
  executablePath: process.env.RECTIFY_CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox"],
});
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const url = pathToFileURL(setup.file).href;
  const requests = [];
  const problems = [];
  page.on("request", (r) => requests.push(r.url()));
  page.on("pageerror", (e) => problems.push("page error: " + e.message));
  page.on("dialog", (d) => {
    problems.push("a dialog opened: " + d.message());
    d.dismiss();
  });
  await page.goto(url, { waitUntil: "load" });
  // Give anything the page might start (an image, a script) time to ask.
  await page.waitForTimeout(500);

  // Nothing fetched but the file itself.
  const outside = requests.filter((r) => r !== url);
  if (outside.length) fail("the report asked for " + outside.join(", "));
  // No script ran: none is in the document, none changed it.
  const state = await page.evaluate(() => ({
    scripts: document.scripts.length,
    images: document.images.length,
    title: document.title,
    pwned: window.__pwned === true,
    handlers: [...document.querySelectorAll("*")].filter((e) =>
      [...e.attributes].some((a) => a.name.startsWith("on")),
    ).length,
  }));
  if (state.scripts || state.images || state.handlers)
    fail("the report holds active content: " + JSON.stringify(state));
  if (state.pwned || state.title !== "rectify scan") fail("a script ran: " + JSON.stringify(state));
  if (problems.length) fail(problems.join("; "));

  // One row per verdict, with the failures counted as the scan counted.
  const rows = await page.$$eval("table.verdicts tr", (trs) =>
    trs.slice(1).map((tr) => [...tr.cells].map((c) => c.textContent)),
  );
  if (rows.length !== setup.verdicts) fail(`${rows.length} verdict rows, expected ${setup.verdicts}`);
  const failed = rows.filter((r) => r[0] === "FAIL").length;
  if (failed !== setup.failed) fail(`${failed} FAIL rows, expected ${setup.failed}`);
  // Failures come first.
  if (rows.slice(0, failed).some((r) => r[0] !== "FAIL")) fail("failures are not listed first");
  for (const id of setup.resources) {
    if (!rows.some((r) => r[6] === id)) fail("no verdict row for " + id);
  }
  // The hostile text is shown as text, whole.
  const evidence = rows.map((r) => r[7]).join("\n");
  if (!evidence.includes(setup.hostile)) fail("the hostile description is not shown as text");
  // The account's summary table.
  const heading = await page.textContent("h3");
  if (!heading.includes(setup.account)) fail("no summary for account " + setup.account + ": " + heading);
  // Each standard's pass rates, as the scan computed them.
  const tables = await page.$$eval("table.compliance", (ts) =>
    ts.map((t) => ({
      title: t.previousElementSibling.previousElementSibling.textContent,
      rows: [...t.rows].slice(1).map((tr) => [tr.cells[0].textContent, tr.cells[5].textContent]),
    })),
  );
  for (const [title, rates] of Object.entries(setup.compliance)) {
    const table = tables.find((t) => t.title === title);
    if (!table) fail("no compliance table for " + title + " in " + tables.map((t) => t.title));
    const shown = Object.fromEntries(table.rows);
    for (const [control, rate] of Object.entries(rates)) {
      if (shown[control] !== rate) fail(`${title} ${control}: page shows ${shown[control]}, scan says ${rate}`);
    }
  }
  // Drawn as a page to read: the table text is visible, not collapsed.
  const visible = await page.isVisible("table.verdicts");
  if (!visible) fail("the verdicts table is not visible");
  if (setup.shot) await page.screenshot({ path: setup.shot, fullPage: false });
  console.log("scan report test: ok");
} finally {
  await browser.close();
}
