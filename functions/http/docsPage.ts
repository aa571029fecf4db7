/**
 * A self-contained page that renders the OpenAPI document: no scripts or
 * styles from elsewhere, so it also works on a machine without internet.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the OpenAPI document is walked as it is served
type Json = any;

const esc = (s: unknown) =>
  String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);

function schemaText(schema: Json, doc: Json, depth = 0): string {
  if (!schema) return "";
  if (schema.$ref) {
    const name = String(schema.$ref).split("/").pop();
    return `<a href="#schema-${esc(name)}">${esc(name)}</a>`;
  }
  if (depth > 3) return "…";
  if (schema.type === "array") return `${schemaText(schema.items, doc, depth + 1)}[]`;
  if (schema.enum) return schema.enum.map((v: unknown) => `<code>${esc(v)}</code>`).join(" | ");
  if (schema.anyOf || schema.oneOf) return (schema.anyOf ?? schema.oneOf).map((s: Json) => schemaText(s, doc, depth + 1)).join(" | ");
  if (schema.type === "object" && schema.properties) {
    const required = new Set(schema.required ?? []);
    const rows = Object.entries(schema.properties as Record<string, Json>)
      .map(([k, v]) => `<li><code>${esc(k)}</code>${required.has(k) ? "" : "?"}: ${schemaText(v, doc, depth + 1)}${v.description ? ` — ${esc(v.description)}` : ""}</li>`)
      .join("");
    return `{<ul>${rows}</ul>}`;
  }
  const type = Array.isArray(schema.type) ? schema.type.join("|") : (schema.type ?? "any");
  return `<span class="t">${esc(type)}${schema.format ? ` (${esc(schema.format)})` : ""}</span>`;
}

export function renderDocsPage(doc: Json): string {
  const ops: string[] = [];
  for (const [path, methods] of Object.entries(doc.paths ?? {}) as Array<[string, Json]>) {
    for (const [method, op] of Object.entries(methods) as Array<[string, Json]>) {
      const params = (op.parameters ?? [])
        .map((p: Json) => `<li><code>${esc(p.name)}</code> (${esc(p.in)}${p.required ? ", required" : ""}): ${schemaText(p.schema, doc)}</li>`)
        .join("");
      const body = op.requestBody?.content?.["application/json"]?.schema;
      const responses = Object.entries(op.responses ?? {})
        .map(([status, r]: [string, Json]) => `<li><b>${esc(status)}</b> ${esc(r.description)} ${schemaText(r.content?.["application/json"]?.schema, doc)}</li>`)
        .join("");
      ops.push(`<section class="op" id="${esc(method + path)}">
<h3><span class="m ${esc(method)}">${esc(method.toUpperCase())}</span> <code>${esc(path)}</code></h3>
<p><b>${esc(op.summary)}</b></p>${op.description ? `<p>${esc(op.description)}</p>` : ""}
${params ? `<h4>Parameters</h4><ul>${params}</ul>` : ""}
${body ? `<h4>Body</h4><div>${schemaText(body, doc)}</div>` : ""}
<h4>Responses</h4><ul>${responses}</ul></section>`);
    }
  }
  const schemas = Object.entries(doc.components?.schemas ?? {})
    .map(([name, s]) => `<section id="schema-${esc(name)}"><h3>${esc(name)}</h3><div>${schemaText(s, doc)}</div></section>`)
    .join("");
  return `<!doctype html><html><head><meta charset="utf-8"><title>${esc(doc.info?.title)} — API</title>
<style>body{font:14px/1.5 system-ui,sans-serif;max-width:980px;margin:2em auto;padding:0 1em;color:#222}
code{background:#f3f3f3;padding:0 3px;border-radius:3px}.op{border-top:1px solid #ddd;padding:.5em 0}
.m{display:inline-block;min-width:4.5em;text-align:center;color:#fff;border-radius:3px;padding:0 4px;font-size:12px}
.get{background:#2b7}.post{background:#27b}.patch,.put{background:#b72}.delete{background:#b33}ul{margin:.2em 0}.t{color:#777}.intro{white-space:pre-wrap}</style>
</head><body><h1>${esc(doc.info?.title)} <small>${esc(doc.info?.version)}</small></h1><div class="intro">${esc(doc.info?.description)}</div>
<p>The machine-readable document: <a href="/api/v1/openapi.json">/api/v1/openapi.json</a></p>
<h2>Endpoints</h2>${ops.join("\n")}<h2>Schemas</h2>${schemas}</body></html>`;
}
