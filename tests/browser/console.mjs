// Drives every page of rectify's console in headless Chromium, as people
// would, and writes a screenshot of each page. The Rust test that starts
// it (crates/rectify/tests/console.rs) prepared the jobs and findings and
// reads back what the clicks did.
//
//   node console.mjs SETUP_JSON
//
// SETUP_JSON: {base, token, viewer, shots, paused: {rule, why},
// approve: {job, account, resource},
// changed: {job}, failed: {job}, hostile: {account, text: [...]},
// fix: {finding, rule, resource}, live: [event, event],
// anchors: {prefix}}.
//
// Protocol on stdout: "shown JOB" (the page shows the job's plan; the
// caller changes the plan, then writes a line on stdin), "undo JOB",
// "retry JOB", "fix JOB", "live JOB" (a job submitted from outside the
// page while it was open); "console test: ok" at the end. Exits 1 with
// the reason when a step did not hold.
import { chromium } from "playwright-core";
import { createInterface } from "node:readline";

const setup = JSON.parse(process.argv[2]);
const { base, shots } = setup;
const fail = (why) => {
  console.error("console test: " + why);
  process.exit(1);
};
const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();

const browser = await chromium.launch({
  executablePath: process.env.RECTIFY_CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox"],
});
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.setDefaultTimeout(30000);
  const problems = [];
  let expectRefusals = false;
  page.on("pageerror", (e) => problems.push("page error: " + e.message));
  page.on("console", (m) => {
    // The browser logs refused requests; some are refused on purpose.
    if (m.type() === "error" && !expectRefusals) problems.push("console error: " + m.text());
  });
  page.on("dialog", (d) => {
    problems.push("a dialog opened: " + d.message());
    d.dismiss();
  });
  const status = () => page.textContent("#status");
  const waitStatus = (needle) =>
    page.waitForFunction((n) => document.querySelector("#status").textContent.includes(n), needle);
  // Goes to a page and waits until it is drawn (the console marks the
  // page it drew on <main>).
  const go = async (hash) => {
    await page.evaluate((h) => {
      if (location.hash === h) return; // drawn already
      document.getElementById("page").dataset.page = "";
      location.hash = h;
    }, hash);
    await page.waitForFunction(() => document.getElementById("page").dataset.page !== "");
  };
  // The whole page, but no more than a few screens (the audit log is long).
  const shot = async (name) => {
    const height = await page.evaluate(() => document.documentElement.scrollHeight);
    await page.screenshot({ path: shots + "/" + name + ".png", fullPage: height <= 3000 });
  };
  const signIn = async (token) => {
    await page.fill("#token", token);
    await page.click("#login button[type=submit]");
    await page.waitForFunction(() => document.querySelector("#session").textContent.startsWith("Signed in"));
  };
  const signOut = async () => {
    await page.click("#logout");
    await page.waitForSelector("#signed-out");
  };
  // At 200% zoom a 1280-pixel window is 640 CSS pixels wide: the page
  // must reflow into it, without scrolling sideways.
  const fitsAtDoubleZoom = async (what) => {
    await page.setViewportSize({ width: 640, height: 900 });
    const [scroll, width] = await page.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
    await page.setViewportSize({ width: 1280, height: 900 });
    if (scroll > width) fail(`${what} scrolls sideways at 200% zoom (${scroll} > ${width} px)`);
  };
  // Submits an event from outside the page (as EventBridge would): the
  // ids of the jobs it made.
  const submitOutside = async (event) => {
    const r = await fetch(base + "/v1/events", {
      method: "POST",
      headers: { Authorization: "Bearer " + setup.token, "Content-Type": "application/json" },
      body: JSON.stringify(event),
    });
    if (r.status !== 202) fail("the live event was refused: " + r.status + " " + (await r.text()));
    const reply = await r.json();
    const jobs = reply.events.flatMap((e) => e.jobs.map((j) => j.id));
    for (const id of jobs) console.log("live " + id);
    return jobs;
  };
  // A mark that a reload would wipe: the page must update without one.
  const markPage = () => page.evaluate(() => { window.__notReloaded = true; });
  const notReloaded = async (what) => {
    if (!(await page.evaluate(() => window.__notReloaded === true))) fail(what + ": the page was reloaded");
  };
  // The cells of a table's rows, by the table's id.
  const cells = (id) => page.$$eval(`#${id} tbody tr`, (rows) => rows.map((r) => [...r.cells].map((c) => c.textContent)));
  const jobState = (state) =>
    page.waitForFunction((s) => (document.querySelector("#job-state") || {}).textContent === s, state, { timeout: 60000 });

  await page.goto(base + "/");
  // Nothing is shown before a token is given.
  await page.waitForSelector("#signed-out");

  // A wrong token is refused, and said so.
  expectRefusals = true;
  await page.fill("#token", "wrong-token-0123456789");
  await page.click("#login button[type=submit]");
  await waitStatus("401");
  expectRefusals = false;

  // A read-only token sees the job waiting for approval, with no way to
  // approve it, and the API refuses it too.
  await signIn(setup.viewer);
  await go("#/job/" + setup.approve.job);
  await page.waitForSelector("#read-only");
  if ((await page.locator("#approve, #reject").count()) !== 0) fail("a read-only token is offered approve or reject");
  expectRefusals = true;
  const refused = await page.evaluate(async (id) => {
    const r = await fetch("/v1/jobs/" + id + "/approve", {
      method: "POST",
      headers: { Authorization: "Bearer " + sessionStorage.getItem("rectify.token") },
    });
    return r.status;
  }, setup.approve.job);
  expectRefusals = false;
  if (refused !== 403) fail("the API let a read-only token approve: " + refused);
  // It sees the paused rule, without a resume button.
  await go("#/overview");
  await page.waitForSelector(`#paused-rules`);
  if ((await page.locator("button.resume").count()) !== 0) fail("a read-only token is offered resume");
  await signOut();

  await signIn(setup.token);

  // Overview: the queue, what is stopped, the charts.
  await go("#/overview");
  await page.waitForSelector("#queue");
  await page.waitForSelector("#daily-chart");
  const queue = await page.textContent("#queue");
  if (!/\d+ waiting for approval/.test(queue)) fail("the queue lacks the waiting jobs: " + queue);
  const paused = await page.textContent("#paused-rules");
  if (!paused.includes(setup.paused.rule) || !paused.includes(setup.paused.why)) fail("the paused rule is not shown with why: " + paused);
  // Open findings over time, by severity: today's line of the table
  // counts the findings the test made (all opened within the window).
  await page.waitForSelector("#history-open");
  await page.waitForSelector("#history-fixed");
  const openToday = async () => {
    const rows = await cells("history-open-table");
    return Number(rows[rows.length - 1].at(-1));
  };
  if ((await openToday()) < 4) fail("the history does not count today's open findings: " + (await openToday()));
  // Split by account: the test's account is a series, named in the table.
  await page.click('#history-by a[data-by="account"]');
  await page.waitForFunction(() => location.hash.includes("by=account"));
  await page.waitForFunction((a) => [...document.querySelectorAll("#history-open-table th")].some((th) => th.textContent === a), setup.approve.account);
  await fitsAtDoubleZoom("the overview");
  // Live: a job made from outside shows in the queue without a reload.
  await markPage();
  const queueBefore = await page.textContent("#queue");
  await submitOutside(setup.live[0]);
  await page.waitForFunction((old) => document.querySelector("#queue").textContent !== old, queueBefore, { timeout: 60000 });
  await notReloaded("the overview");
  await go("#/overview");
  // An admin resumes it.
  await page.click(`button.resume[data-rule="${setup.paused.rule}"]`);
  await waitStatus("Rule " + setup.paused.rule + " resumed.");
  await page.waitForFunction(() => !document.querySelector("#paused-rules"));

  // Jobs: a job made from outside appears without a reload.
  await go("#/jobs");
  await page.waitForSelector("#jobs tbody tr");
  await markPage();
  const [liveJob] = await submitOutside(setup.live[1]);
  await page.waitForSelector(`#jobs tr[data-job="${liveJob}"]`, { timeout: 60000 });
  await notReloaded("the jobs list");

  // Jobs, filtered by the form: state and account.
  await page.selectOption("#filter-state", "waiting-approval");
  await page.fill("#filter-account", setup.approve.account);
  await page.click("#filters button[type=submit]");
  await page.waitForFunction(() => location.hash.includes("state=waiting-approval") && location.hash.includes("account="));
  await page.waitForSelector(`#jobs tr[data-job="${setup.approve.job}"]`);
  const states = await page.$$eval("#jobs tbody tr", (rows) => rows.map((r) => r.dataset.state));
  if (!states.length || states.some((s) => s !== "waiting-approval")) fail("the state filter let other jobs through: " + states);
  if ((await page.locator(`#jobs tr[data-job="${setup.failed.job}"]`).count()) !== 0) fail("a failed job is listed as waiting");
  await shot("jobs");
  await fitsAtDoubleZoom("the jobs list");

  // One job: its change as a diff; approve it.
  await page.click(`#jobs tr[data-job="${setup.approve.job}"] a`);
  await page.waitForSelector("#plan .diff-table");
  const plan = await page.textContent("#plan");
  if (!plan.includes("changed")) fail("the diff names no changed setting: " + plan);
  if (!(await page.textContent("#job-resource")).includes(setup.approve.resource)) fail("the job page lacks the resource");
  await shot("job");
  await fitsAtDoubleZoom("the job page");
  await page.click("#approve");
  await waitStatus("Approved " + setup.approve.job);
  await jobState("succeeded");

  // Undo it: the undo is a job of its own, shown with its planned
  // restore, approved in turn.
  await page.click("#revert");
  await page.waitForFunction(() => document.querySelector("#status").textContent.includes(" queued as "));
  const undo = (await status()).match(/queued as ([0-9a-f-]+)/)[1];
  await page.waitForFunction((id) => location.hash === "#/job/" + id, undo);
  await jobState("waiting-approval");
  await page.waitForSelector("#plan .diff-table");
  await page.click("#approve");
  await jobState("succeeded");
  console.log("undo " + undo);

  // A plan that changes after it was shown is not applied: the approval
  // names the digest of the change on screen.
  await go("#/job/" + setup.changed.job);
  await page.waitForSelector("#plan .diff-table");
  const shownSummary = await page.textContent("#plan .summary");
  console.log("shown " + setup.changed.job);
  await lines.next(); // the caller changed the stored plan
  expectRefusals = true;
  await page.click("#approve");
  await waitStatus("409");
  expectRefusals = false;
  if (!(await status()).includes("now plans another change")) fail("the refusal does not say why: " + (await status()));
  await page.waitForFunction((old) => document.querySelector("#plan .summary").textContent !== old, shownSummary);
  if ((await page.textContent("#job-state")) !== "waiting-approval") fail("the changed plan was approved");
  // Rejected, with a reason.
  await page.fill("#reject-reason", "not during the freeze");
  await page.click("#reject button");
  await jobState("skipped");
  if (!(await page.textContent("#outcome-reason")).includes("not during the freeze")) fail("the rejection's reason is not shown");

  // A failed job shows why it failed, and is retried as a new job.
  await go("#/job/" + setup.failed.job);
  await page.waitForSelector("#retry");
  const why = await page.$$eval("#last-error, #outcome-reason", (nodes) => nodes.map((n) => n.textContent.trim()).join(" "));
  if (!why) fail("the failed job does not say why it failed");
  await page.click("#retry");
  await page.waitForFunction(() => document.querySelector("#status").textContent.includes("Retry of "));
  const retry = (await status()).match(/queued as ([0-9a-f-]+)/)[1];
  console.log("retry " + retry);

  // Findings, filtered by account: the hostile one is text, nothing ran.
  await go("#/findings");
  await page.fill("#filter-account", setup.hostile.account);
  await page.click("#filters button[type=submit]");
  await page.waitForFunction(() => location.hash.includes("account="));
  await page.waitForSelector("#findings tbody tr");
  const accounts = await page.$$eval("#findings tbody tr td:nth-child(2)", (cells) => cells.map((c) => c.textContent));
  if (accounts.some((a) => a !== setup.hostile.account)) fail("the account filter let other findings through: " + accounts);
  await shot("findings");
  await page.click("#findings tbody tr a");
  await page.waitForSelector("#asff");
  const shown = await page.textContent("#page");
  for (const text of setup.hostile.text) if (!shown.includes(text)) fail("hostile text not shown as text: " + text);
  if ((await page.locator("#page img, #page script, #page iframe").count()) !== 0) fail("markup from a finding was rendered");
  if (await page.evaluate(() => window.__pwned)) fail("a script from a finding ran");
  await shot("finding");

  // A finding behind a job, reached from the job's page: the rules it
  // matches, its jobs and its audit trail.
  await go("#/job/" + setup.approve.job);
  await page.click('#page a[href^="#/finding?"]');
  await page.waitForSelector("#asff");
  const matches = await page.textContent("#finding-rules");
  if (!matches.includes("s3-bpa")) fail("the finding page does not name the rule it matches: " + matches);
  const itsJobs = await page.$$eval("#finding-jobs tbody tr", (rows) => rows.map((r) => r.textContent));
  if (!itsJobs.some((r) => r.includes(setup.approve.job))) fail("the finding page does not list its job: " + itsJobs);
  const trail = await page.$$eval("#audit-trail tbody tr", (rows) => rows.map((r) => r.textContent));
  if (!trail.some((r) => r.includes(setup.approve.job))) fail("the finding page's audit trail lacks its job's records");

  // Fix on demand: a pasted finding and a rule; the job plans the change
  // and waits for approval like a custom action's.
  await go("#/fix");
  await page.fill("#fix-asff", JSON.stringify(setup.fix.finding));
  await page.selectOption("#fix-rule", setup.fix.rule);
  await shot("fix");
  await page.click("#fix button[type=submit]");
  await page.waitForFunction(() => location.hash.startsWith("#/job/"));
  const fixed = decodeURIComponent((await page.evaluate(() => location.hash)).slice("#/job/".length));
  await jobState("waiting-approval");
  await page.waitForSelector("#plan .diff-table");
  if (!(await page.textContent("#job-resource")).includes(setup.fix.resource)) fail("the fix is for another resource");
  // Approved with the keyboard alone: Tab to the button, Enter.
  let tabs = 0;
  while ((await page.evaluate(() => document.activeElement && document.activeElement.id)) !== "approve") {
    if (++tabs > 60) fail("Tab never reaches the approve button");
    await page.keyboard.press("Tab");
  }
  await page.keyboard.press("Enter");
  await jobState("succeeded");
  console.log("fix " + fixed);

  // Rules and coverage.
  await go("#/rules");
  await page.waitForSelector(`#rules tr[data-rule="${setup.fix.rule}"]`);
  await page.waitForSelector("#coverage");
  await shot("rules");

  // Fixes over time: the approved change and the fix on demand count
  // today (the history is recomputed every few seconds).
  await go("#/overview");
  await page.waitForFunction(() => {
    const rows = document.querySelectorAll("#history-fixed-table tbody tr");
    const today = rows[rows.length - 1];
    return today && Number(today.cells[today.cells.length - 1].textContent) >= 2;
  }, null, { timeout: 60000 });
  await shot("overview");

  // Audit: the chain verifies, and so do the anchors, listed.
  await go("#/audit");
  await page.waitForSelector("#chain-verdict");
  if (!(await page.textContent("#chain-verdict")).startsWith("INTACT")) fail("the chain is not shown intact");
  const anchorVerdict = await page.textContent("#anchors");
  if (!/^\d+ checked, all hold$/.test(anchorVerdict) || anchorVerdict.startsWith("0 ")) fail("the anchors are not shown holding: " + anchorVerdict);
  const anchorRows = await cells("anchor-list");
  if (!anchorRows.length || anchorRows.some((r) => !r[0].includes(setup.anchors.prefix) || r[3] !== "holds")) fail("the anchors are not listed as holding: " + JSON.stringify(anchorRows));
  await shot("audit");

  // The token stays in this tab only, and can be forgotten.
  await signOut();
  if ((await page.evaluate(() => sessionStorage.getItem("rectify.token"))) !== null) fail("the token was not forgotten");
  if (problems.length) fail(problems.join("; "));
  console.log("console test: ok");
} finally {
  await browser.close();
}
process.exit(0);
