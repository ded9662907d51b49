// What every page of the console shares: the API call with the person's
// token, building elements (text is always put in as text, never as
// markup: findings carry text from outside), and small views used on
// several pages.

const TOKEN_KEY = "rectify.token";

export function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function setToken(value) {
  if (value === null) sessionStorage.removeItem(TOKEN_KEY);
  else sessionStorage.setItem(TOKEN_KEY, value);
}

// The token's scopes, as GET /v1/whoami says (the routes check again).
export const session = { name: "", scopes: [] };

export function can(scope) {
  return session.scopes.includes(scope);
}

export class ApiError extends Error {
  constructor(status, message) {
    super(status + ": " + message);
    this.status = status;
  }
}

export async function api(method, path, body) {
  const headers = { Authorization: "Bearer " + token() };
  const init = { method, headers, cache: "no-store" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  const reply = await response.json().catch(() => ({}));
  if (!response.ok) throw new ApiError(response.status, reply.error || response.statusText);
  return reply;
}

// A query string from the non-empty fields of `params`.
export function qs(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== "") q.set(k, v);
  const text = q.toString();
  return text ? "?" + text : "";
}

// el("p", {class: "hint"}, "text", child): attributes are set as
// attributes or properties (on... names take a function), children as
// text nodes or elements.
export function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") node.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key === "class") node.className = value;
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue;
    if (Array.isArray(child)) append(node, child);
    else if (child instanceof Node) node.appendChild(child);
    else node.appendChild(document.createTextNode(String(child)));
  }
}

export function say(text, isError) {
  const status = document.getElementById("status");
  status.textContent = text;
  status.className = isError ? "error" : "";
}

export function link(href, text) {
  return el("a", { href }, text);
}

export function jobHref(id) {
  return "#/job/" + encodeURIComponent(id);
}

export function findingHref(id, productArn) {
  return "#/finding" + qs({ id, product_arn: productArn });
}

// A table from a header and rows of cells (text or elements).
export function table(id, headers, rows, rowData) {
  const body = el("tbody");
  rows.forEach((cells, i) => {
    const tr = el("tr", rowData ? { dataset: rowData(i) } : {});
    for (const c of cells) tr.appendChild(c instanceof Node && c.tagName === "TD" ? c : el("td", {}, c));
    body.appendChild(tr);
  });
  const head = el("thead", {}, el("tr", {}, headers.map((h) => el("th", { scope: "col" }, h))));
  // Focusable, so that a table wider than the window scrolls from the keyboard.
  return el("div", { class: "table-frame", tabindex: 0, role: "region", "aria-label": id.replace(/-/g, " ") },
    el("table", { id }, head, body));
}

// A filter form: fields [{name, label, options?}] with the current values
// from `params`; submitting goes to `route` with the values in the hash.
export function filterForm(route, fields, params) {
  const form = el("form", { class: "filters", id: "filters", role: "search" });
  for (const field of fields) {
    const id = "filter-" + field.name;
    let input;
    if (field.options) {
      input = el("select", { id, name: field.name }, el("option", { value: "" }, "any"));
      for (const option of field.options) {
        input.appendChild(el("option", { value: option, selected: params.get(field.name) === option }, option));
      }
    } else {
      input = el("input", { id, name: field.name, value: params.get(field.name) || "", size: 14 });
    }
    form.appendChild(el("label", { for: id }, field.label));
    form.appendChild(input);
  }
  form.appendChild(el("button", { type: "submit" }, "Filter"));
  form.appendChild(el("a", { href: "#/" + route, class: "clear" }, "Clear"));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const values = {};
    for (const field of fields) values[field.name] = form.elements[field.name].value.trim();
    location.hash = "#/" + route + qs(values);
  });
  return form;
}

// A JSON value as indented text.
export function jsonText(value) {
  return el("pre", { class: "json" }, JSON.stringify(value, null, 2));
}

// Flattens a JSON value to [path, value] pairs (leaves), for the diff.
function leaves(value, path, out) {
  if (value !== null && typeof value === "object") {
    const keys = Object.keys(value);
    if (keys.length === 0) out.set(path || "(value)", Array.isArray(value) ? "[]" : "{}");
    for (const key of keys) {
      const next = Array.isArray(value) ? path + "[" + key + "]" : path ? path + "." + key : key;
      leaves(value[key], next, out);
    }
  } else {
    out.set(path || "(value)", value === undefined ? "(none)" : JSON.stringify(value));
  }
  return out;
}

// A planned change as a readable diff: one row per setting, what it is
// now and what it will be, with the kind of difference said in words.
export function diffView(plan) {
  if (!plan) return el("p", { class: "empty" }, "No change planned yet: the job plans it against the live resource when it runs.");
  const before = leaves(plan.before, "", new Map());
  const after = leaves(plan.after, "", new Map());
  const paths = [...new Set([...before.keys(), ...after.keys()])].sort();
  const rows = paths.map((path) => {
    const b = before.get(path);
    const a = after.get(path);
    // The plan's `after` holds only what the action sets: a setting read
    // but not in it stays as it is.
    const kind = b === undefined ? "added" : a === undefined || a === b ? "same" : "changed";
    const words = { added: "added", changed: "changed", same: "stays" }[kind];
    return el(
      "tr",
      { class: "diff-" + kind },
      el("th", { scope: "row" }, path),
      el("td", {}, b === undefined ? "(not set)" : kind === "same" ? b : el("del", {}, b)),
      el("td", {}, a === undefined ? b : kind === "same" ? a : el("ins", {}, a)),
      el("td", { class: "kind" }, words),
    );
  });
  return el(
    "div",
    { class: "diff" },
    el("p", { class: "summary" }, plan.summary),
    el("div", { class: "table-frame", tabindex: 0, role: "region", "aria-label": "planned change" }, el(
      "table",
      { class: "diff-table" },
      el("caption", {}, "Setting by setting: now, after the change"),
      el("thead", {}, el("tr", {}, ["Setting", "Now", "After", "Difference"].map((h) => el("th", { scope: "col" }, h)))),
      el("tbody", {}, rows),
    )),
  );
}

export function auditTable(records) {
  if (!records.length) return el("p", { class: "empty" }, "No audit records.");
  return table(
    "audit-trail",
    ["Seq", "Time", "Kind", "Subject", "Data"],
    records.map((r) => [String(r.seq), r.time, r.kind, el("td", { class: "mono" }, r.subject), el("td", {}, jsonText(r.data))]),
  );
}

export function place(job) {
  return job.target.account + " / " + job.target.region;
}

export function outcomeText(job) {
  return job.outcome ? job.outcome.kind + ": " + job.outcome.reason : "";
}

export function dl(pairs) {
  const list = el("dl", { class: "facts" });
  for (const [term, value] of pairs) {
    if (value === undefined || value === null || value === "") continue;
    list.appendChild(el("dt", {}, term));
    list.appendChild(el("dd", {}, value));
  }
  return list;
}
