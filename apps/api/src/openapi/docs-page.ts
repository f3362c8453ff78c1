import { createHash } from "node:crypto";

// The rendered docs: one self-contained page (no CDN, no external asset) whose script fetches
// /openapi.json and draws each operation. Its text is built with the DOM, never as HTML.

const STYLE = `
:root {
  color-scheme: light dark;
  --bg: #f7f7f8; --panel: #fff; --text: #1d1d20; --muted: #62636b; --line: #e2e2e6; --code: #f0f0f3;
  --get: #1f6feb; --post: #1a7f37; --put: #9a6700; --patch: #8250df; --delete: #cf222e;
}
@media (prefers-color-scheme: dark) {
  :root { --bg: #111214; --panel: #1a1b1e; --text: #e6e6e9; --muted: #9b9ca3; --line: #2c2d31; --code: #24252a; }
}
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--text); font: 15px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; }
code, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 13px; }
a { color: var(--get); text-decoration: none; }
a:hover { text-decoration: underline; }
.layout { display: grid; grid-template-columns: 260px 1fr; min-height: 100vh; }
nav { position: sticky; top: 0; height: 100vh; overflow-y: auto; padding: 20px 16px; border-right: 1px solid var(--line); background: var(--panel); }
nav h2 { font-size: 12px; text-transform: uppercase; letter-spacing: .06em; color: var(--muted); margin: 18px 0 6px; }
nav a { display: flex; gap: 8px; align-items: baseline; padding: 3px 0; color: var(--text); }
nav a code { overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
main { padding: 28px 36px; max-width: 1100px; }
header h1 { margin: 0 0 4px; font-size: 26px; }
header p { color: var(--muted); margin: 4px 0; }
.tag-title { margin: 36px 0 4px; font-size: 20px; text-transform: capitalize; }
.tag-desc { margin: 0 0 12px; color: var(--muted); }
.op { background: var(--panel); border: 1px solid var(--line); border-radius: 8px; padding: 16px 20px; margin: 14px 0; }
.op-head { display: flex; flex-wrap: wrap; gap: 10px; align-items: center; }
.method { font: 700 12px/1 ui-monospace, monospace; text-transform: uppercase; color: #fff; padding: 5px 8px; border-radius: 4px; min-width: 56px; text-align: center; }
.m-get { background: var(--get); } .m-post { background: var(--post); } .m-put { background: var(--put); }
.m-patch { background: var(--patch); } .m-delete { background: var(--delete); }
nav .method { min-width: 44px; padding: 3px 5px; font-size: 10px; }
.path { font-size: 15px; font-weight: 600; }
.scope { margin-left: auto; font-size: 12px; padding: 2px 8px; border-radius: 999px; border: 1px solid var(--line); color: var(--muted); }
.summary { margin: 8px 0 0; font-weight: 500; }
.desc { margin: 4px 0 0; color: var(--muted); }
h4 { margin: 16px 0 6px; font-size: 12px; text-transform: uppercase; letter-spacing: .06em; color: var(--muted); }
.resp { border-top: 1px solid var(--line); padding: 8px 0; }
.status { font: 700 13px ui-monospace, monospace; margin-right: 8px; }
.s2 { color: var(--post); } .s4 { color: var(--put); } .s5 { color: var(--delete); }
.type { color: var(--patch); }
.schema { margin-top: 6px; }
.fields { border-left: 2px solid var(--line); margin: 6px 0 0 2px; padding-left: 12px; }
.field { padding: 4px 0; }
.field-top { display: flex; flex-wrap: wrap; gap: 8px; align-items: baseline; }
.fname { font-weight: 600; }
.req { font-size: 11px; color: var(--delete); }
.note { color: var(--muted); font-size: 13px; }
.closed { color: var(--muted); font-size: 12px; font-style: italic; padding-top: 2px; }
details > summary { cursor: pointer; color: var(--muted); font-size: 12px; margin-top: 2px; }
table { border-collapse: collapse; width: 100%; }
td, th { text-align: left; padding: 4px 8px 4px 0; vertical-align: top; border-bottom: 1px solid var(--line); font-size: 14px; }
th { font-size: 12px; color: var(--muted); font-weight: 500; }
.error { color: var(--delete); }
@media (max-width: 800px) { .layout { grid-template-columns: 1fr; } nav { position: static; height: auto; } main { padding: 20px; } }
`;

// Plain script (no template literals inside, so it sits in this one as is).
const SCRIPT = `
"use strict";
const REF = "#/components/schemas/";
let doc;

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined && text !== null) e.textContent = String(text);
  return e;
}

function resolve(s) {
  if (s && typeof s.$ref === "string" && s.$ref.startsWith(REF)) {
    const name = s.$ref.slice(REF.length);
    return { name: name, schema: doc.components.schemas[name] || {} };
  }
  return { name: null, schema: s || {} };
}

function label(s) {
  if (!s || typeof s !== "object") return "any";
  if (s.$ref) return s.$ref.split("/").pop();
  if (s.const !== undefined) return JSON.stringify(s.const);
  if (Array.isArray(s.enum)) return s.enum.map((v) => JSON.stringify(v)).join(" | ");
  const alts = s.anyOf || s.oneOf;
  if (Array.isArray(alts)) return alts.map(label).join(" | ");
  if (s.type === "array") {
    const inner = label(s.items);
    return (inner.includes(" | ") ? "(" + inner + ")" : inner) + "[]";
  }
  if (s.type === "object" && !s.properties && s.additionalProperties && typeof s.additionalProperties === "object") {
    return "map of " + label(s.additionalProperties);
  }
  if (Array.isArray(s.type)) return s.type.join(" | ");
  if (s.type) return s.type + (s.format ? " (" + s.format + ")" : "");
  return "any JSON";
}

function notes(s) {
  const r = resolve(s).schema;
  const out = [];
  if (s.description || r.description) out.push(s.description || r.description);
  const range = (lo, hi, unit) => {
    if (lo !== undefined && hi !== undefined) out.push(unit + lo + " to " + hi);
    else if (lo !== undefined) out.push(unit + "at least " + lo);
    else if (hi !== undefined) out.push(unit + "at most " + hi);
  };
  range(r.minimum, r.maximum, "");
  range(r.minLength, r.maxLength, "length ");
  range(r.minItems, r.maxItems, "items ");
  if (r.default !== undefined) out.push("default " + JSON.stringify(r.default));
  if (r.pattern) out.push("matches " + r.pattern);
  return out.join(" · ");
}

// The object behind a schema, through $refs, arrays and "| null"; null when there is none
// or when expanding it would loop (a recursive schema).
function objectOf(s, stack) {
  const names = [];
  for (let i = 0; i < 8 && s; i++) {
    if (s.$ref) {
      const r = resolve(s);
      if (stack.includes(r.name) || names.includes(r.name)) return null;
      names.push(r.name);
      s = r.schema;
    } else if (s.type === "array") s = s.items;
    else if (Array.isArray(s.anyOf || s.oneOf)) {
      const some = (s.anyOf || s.oneOf).filter((a) => a.type !== "null");
      if (some.length !== 1) return null;
      s = some[0];
    } else break;
  }
  return s && s.properties ? { schema: s, stack: stack.concat(names) } : null;
}

function fields(obj, stack) {
  const list = el("div", "fields");
  const required = obj.required || [];
  for (const [name, prop] of Object.entries(obj.properties)) {
    const row = el("div", "field");
    const top = el("div", "field-top");
    top.append(el("code", "fname", name), el("code", "type", label(prop)));
    if (required.includes(name)) top.append(el("span", "req", "required"));
    row.append(top);
    const text = notes(prop);
    if (text) row.append(el("div", "note", text));
    const inner = objectOf(prop, stack);
    if (inner) {
      const more = el("details");
      more.append(el("summary", null, "fields of " + name), fields(inner.schema, inner.stack));
      row.append(more);
    }
    list.append(row);
  }
  if (obj.additionalProperties === false) list.append(el("div", "closed", "No other fields are accepted."));
  return list;
}

function schemaView(s) {
  const box = el("div", "schema");
  const top = el("div", "field-top");
  top.append(el("code", "type", label(s)));
  const text = notes(s);
  if (text) top.append(el("span", "note", text));
  box.append(top);
  const inner = objectOf(s, []);
  if (inner) box.append(fields(inner.schema, inner.stack));
  return box;
}

function parametersView(params) {
  const table = el("table");
  const head = el("tr");
  for (const h of ["name", "in", "type", "", "about"]) head.append(el("th", null, h));
  table.append(head);
  for (const p of params) {
    const tr = el("tr");
    const name = el("td");
    name.append(el("code", "fname", p.name));
    const type = el("td");
    type.append(el("code", "type", label(p.schema)));
    tr.append(name, el("td", "note", p.in), type, el("td", "req", p.required ? "required" : ""));
    tr.append(el("td", "note", [p.description, notes(p.schema || {})].filter(Boolean).join(" · ")));
    table.append(tr);
  }
  return table;
}

function operationView(method, path, op) {
  const card = el("section", "op");
  card.id = op.operationId || method + path;
  const head = el("div", "op-head");
  const scope = op["x-scope"];
  head.append(el("span", "method m-" + method, method), el("code", "path", path));
  head.append(el("span", "scope", scope === "none" ? "no auth" : scope === "any" ? "any key" : "scope " + scope));
  card.append(head, el("p", "summary", op.summary || ""));
  if (op.description) card.append(el("p", "desc", op.description));
  if (op.parameters && op.parameters.length) card.append(el("h4", null, "Parameters"), parametersView(op.parameters));
  const body = op.requestBody && op.requestBody.content && op.requestBody.content["application/json"];
  if (body) card.append(el("h4", null, "Request body (application/json)"), schemaView(body.schema));
  card.append(el("h4", null, "Responses"));
  for (const [status, res] of Object.entries(op.responses || {})) {
    const row = el("div", "resp");
    row.append(el("span", "status s" + status.charAt(0), status), el("span", null, res.description || ""));
    const json = res.content && res.content["application/json"];
    if (json) row.append(schemaView(json.schema));
    card.append(row);
  }
  return card;
}

function render() {
  document.title = doc.info.title;
  document.getElementById("title").textContent = doc.info.title + " " + doc.info.version;
  document.getElementById("about").textContent = doc.info.description || "";
  const scheme = doc.components.securitySchemes && doc.components.securitySchemes.bearerAuth;
  document.getElementById("auth").textContent = scheme ? scheme.description : "";
  const nav = document.getElementById("nav");
  const main = document.getElementById("ops");
  const byTag = new Map((doc.tags || []).map((t) => [t.name, { tag: t, ops: [] }]));
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(item)) {
      const name = (op.tags && op.tags[0]) || "other";
      if (!byTag.has(name)) byTag.set(name, { tag: { name: name }, ops: [] });
      byTag.get(name).ops.push([method, path, op]);
    }
  }
  for (const { tag, ops } of byTag.values()) {
    if (!ops.length) continue;
    nav.append(el("h2", null, tag.name));
    main.append(el("h2", "tag-title", tag.name));
    if (tag.description) main.append(el("p", "tag-desc", tag.description));
    for (const [method, path, op] of ops) {
      const view = operationView(method, path, op);
      main.append(view);
      const link = el("a");
      link.href = "#" + view.id;
      link.append(el("span", "method m-" + method, method), el("code", null, path));
      nav.append(link);
    }
  }
}

fetch("/openapi.json", { headers: { accept: "application/json" } })
  .then((res) => {
    if (!res.ok) throw new Error("GET /openapi.json answered " + res.status);
    return res.json();
  })
  .then((json) => {
    doc = json;
    render();
  })
  .catch((err) => {
    document.getElementById("ops").append(el("p", "error", "Could not load the API description: " + err.message));
  });
`;

const sha256 = (text: string) => `'sha256-${createHash("sha256").update(text).digest("base64")}'`;

/** The docs page. */
export const DOCS_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Conveyor API</title>
<style>${STYLE}</style>
</head>
<body>
<div class="layout">
<nav id="nav" aria-label="Operations"><a href="/openapi.json"><code>openapi.json</code></a></nav>
<main>
<header>
<h1 id="title">Conveyor API</h1>
<p id="about"></p>
<p id="auth"></p>
</header>
<div id="ops"></div>
</main>
</div>
<script>${SCRIPT}</script>
</body>
</html>
`;

/**
 * Lets the page run its own inline script and style (by hash) and fetch from its own origin,
 * and nothing else: a later edit that adds an external asset is blocked in the browser too.
 */
export const DOCS_CSP = [
  "default-src 'none'",
  `script-src ${sha256(SCRIPT)}`,
  `style-src ${sha256(STYLE)}`,
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");
