// rectify's console: a few pages over the HTTP API (overview, jobs,
// findings, fix on demand, rules, audit), chosen by the address's
// fragment (#/jobs?state=dead) so that every view can be linked and the
// back button works. The person's token stays in this tab
// (sessionStorage) and is sent only to this origin; what the token may
// do comes from GET /v1/whoami, and the API checks every call again.
// The page polls the API every few seconds and redraws only what changed.
import { api, el, say, session, setToken, token } from "./dom.js";
import { jobsView, jobView, loadJob, loadJobs } from "./jobs.js";
import { findingsView, findingView, loadFinding, loadFindings } from "./findings.js";
import { loadOverview, overviewView } from "./overview.js";
import { fixView, loadFix } from "./fix.js";
import { loadRules, rulesView } from "./rules.js";
import { auditView, loadAudit } from "./audit.js";

const POLL_MS = 5000;

// name -> how to read the page's data and draw it; `poll: false` pages
// hold a form the person fills in, and are not redrawn under them.
const PAGES = {
  overview: { load: loadOverview, view: overviewView },
  jobs: { load: loadJobs, view: jobsView },
  job: { load: (_params, arg) => loadJob(arg), view: jobView },
  findings: { load: loadFindings, view: findingsView },
  finding: { load: loadFinding, view: findingView },
  fix: { load: loadFix, view: fixView, poll: false },
  rules: { load: loadRules, view: rulesView },
  audit: { load: loadAudit, view: auditView },
};

// What is on screen: its route and the data it was drawn from.
let shown = { key: "", data: "" };

function route() {
  const hash = location.hash.replace(/^#\/?/, "");
  const [path, query] = hash.split("?");
  const [name, ...rest] = path.split("/");
  const page = PAGES[name] ? name : "overview";
  return { page, arg: decodeURIComponent(rest.join("/")), params: new URLSearchParams(query || ""), key: hash };
}

function editing() {
  const active = document.activeElement;
  return active && document.getElementById("page").contains(active) && /^(INPUT|TEXTAREA|SELECT)$/.test(active.tagName);
}

// Draws the current page; with `force`, even when its data did not change.
async function render(force) {
  const main = document.getElementById("page");
  const r = route();
  for (const a of document.querySelectorAll("nav a")) {
    if (a.dataset.page === (r.page === "job" ? "jobs" : r.page === "finding" ? "findings" : r.page)) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  if (!token()) {
    main.replaceChildren(el("p", { class: "empty", id: "signed-out" }, "Sign in with an API token (from the config's api.tokens) to see findings and jobs."));
    shown = { key: "", data: "" };
    return;
  }
  const page = PAGES[r.page];
  const moved = r.key !== shown.key;
  if (!force && !moved && (page.poll === false || editing())) return;
  let data;
  try {
    data = await page.load(r.params, r.arg);
  } catch (e) {
    say("Could not read the page's data: " + e.message, true);
    if (moved) main.replaceChildren(el("p", { class: "empty" }, "Nothing to show."));
    shown = { key: r.key, data: "" };
    return;
  }
  if (route().key !== r.key) return; // the person moved on meanwhile
  const text = JSON.stringify(data);
  if (!force && !moved && text === shown.data) return;
  shown = { key: r.key, data: text };
  main.replaceChildren(page.view(data, r.params, render));
  main.dataset.page = r.page;
  if (moved) {
    // Keyboard and screen reader users land on the new page's heading.
    const title = document.getElementById("page-title");
    if (title) {
      title.setAttribute("tabindex", "-1");
      title.focus({ preventScroll: true });
    }
  }
}

async function signIn() {
  try {
    const me = await api("GET", "/v1/whoami");
    session.name = me.name;
    session.scopes = me.scopes;
    document.getElementById("session").textContent = "Signed in as " + me.name + " (" + me.scopes.join(", ") + ")";
    showSignedIn(true);
    say("", false);
    return true;
  } catch (e) {
    say("Could not sign in: " + e.message, true);
    return false;
  }
}

function showSignedIn(on) {
  document.getElementById("logout").hidden = !on;
  document.getElementById("login-fields").hidden = on;
  if (!on) document.getElementById("session").textContent = "";
}

document.addEventListener("DOMContentLoaded", async () => {
  const form = document.getElementById("login");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const input = document.getElementById("token");
    setToken(input.value);
    input.value = "";
    if (await signIn()) await render(true);
    else setToken(null);
  });
  document.getElementById("logout").addEventListener("click", () => {
    setToken(null);
    session.name = "";
    session.scopes = [];
    showSignedIn(false);
    say("Token forgotten.", false);
    render(true);
  });
  window.addEventListener("hashchange", () => render(true));
  if (token() && !(await signIn())) setToken(null);
  showSignedIn(!!token());
  await render(true);
  setInterval(() => {
    if (document.visibilityState === "visible") render(false);
  }, POLL_MS);
});
