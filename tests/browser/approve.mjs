// Drives rectify's approval console in headless Chromium, as a person
// would: connect with the token, find the job waiting for approval with
// its planned change, check that text from a finding is shown as text,
// approve, see the job leave the list, then undo the change it made and
// approve the undo. Prints "undo <job id>" for the caller to check.
//
//   node approve.mjs BASE_URL TOKEN JOB_ID RESOURCE_ID HOSTILE_TEXT
//
// Exits 0 when every step held; otherwise prints what did not and exits 1.
import { chromium } from "playwright-core";

const [base, token, jobId, resource, hostile] = process.argv.slice(2);
const fail = (why) => {
  console.error("console test: " + why);
  process.exit(1);
};

const browser = await chromium.launch({
  executablePath: process.env.RECTIFY_CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox"],
});
try {
  const page = await browser.newPage();
  const problems = [];
  page.on("pageerror", (e) => problems.push("page error: " + e.message));
  page.on("console", (m) => {
    if (m.type() === "error") problems.push("console error: " + m.text());
  });
  page.on("dialog", (d) => {
    problems.push("a dialog opened: " + d.message());
    d.dismiss();
  });

  await page.goto(base + "/");
  // Nothing is shown before the token is given.
  if ((await page.locator("#waiting tbody tr").count()) !== 0) fail("jobs shown without a token");

  // A wrong token is refused, and said so.
  await page.fill("#token", "wrong-token-0123456789");
  await page.click("#login button[type=submit]");
  await page.waitForFunction(() => document.querySelector("#status").textContent.includes("401"));
  // (The browser logs the refused requests; they were meant to fail.)
  problems.length = 0;

  await page.fill("#token", token);
  await page.click("#login button[type=submit]");
  const row = page.locator(`#waiting tr[data-job="${jobId}"]`);
  await row.waitFor({ timeout: 15000 });
  const text = await row.innerText();
  if (!text.includes(resource)) fail("the waiting row lacks the resource: " + text);
  if (!text.includes("before:") || !text.includes("after:")) fail("the planned change is not shown: " + text);

  // The hostile resource id from another finding is on the page as text.
  const recent = page.locator("#recent");
  await page.waitForFunction(
    (needle) => document.querySelector("#recent").textContent.includes(needle),
    hostile,
  );
  if ((await recent.locator("img, script").count()) !== 0) fail("markup from a finding was rendered");

  await row.locator("button.approve").click();
  await row.waitFor({ state: "detached", timeout: 15000 });
  const status = await page.textContent("#status");
  if (!status.includes("Approved " + jobId)) fail("no confirmation: " + status);

  // Once the change is made, it can be undone from the recent jobs: the
  // undo is a job of its own that waits for approval with its plan.
  const done = page.locator(`#recent tr[data-job="${jobId}"] button.revert`);
  await done.waitFor({ timeout: 20000 });
  await done.click();
  await page.waitForFunction(
    (id) => document.querySelector("#status").textContent.includes("Undo of " + id + " queued as "),
    jobId,
  );
  const queued = (await page.textContent("#status")).match(/queued as ([0-9a-f-]+)/);
  if (!queued) fail("the undo's job id is not shown");
  const undo = page.locator(`#waiting tr[data-job="${queued[1]}"]`);
  await undo.waitFor({ timeout: 15000 });
  const undoText = await undo.innerText();
  if (!undoText.includes("before:")) fail("the undo's planned restore is not shown: " + undoText);
  await undo.locator("button.approve").click();
  await undo.waitFor({ state: "detached", timeout: 15000 });
  console.log("undo " + queued[1]);

  // The token stays in this tab only, and can be forgotten.
  await page.click("#logout");
  const kept = await page.evaluate(() => sessionStorage.getItem("rectify.token"));
  if (kept !== null) fail("the token was not forgotten");
  if (problems.length) fail(problems.join("; "));
  console.log("console test: ok");
} finally {
  await browser.close();
}
