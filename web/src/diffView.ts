import { html } from "diff2html";
import { Diff2HtmlUI } from "diff2html/lib-esm/ui/js/diff2html-ui-base.js";
import hljs from "highlight.js/lib/core";
import bash from "highlight.js/lib/languages/bash";
import css from "highlight.js/lib/languages/css";
import go from "highlight.js/lib/languages/go";
import javascript from "highlight.js/lib/languages/javascript";
import json from "highlight.js/lib/languages/json";
import markdown from "highlight.js/lib/languages/markdown";
import python from "highlight.js/lib/languages/python";
import rust from "highlight.js/lib/languages/rust";
import typescript from "highlight.js/lib/languages/typescript";
import xml from "highlight.js/lib/languages/xml";
import yaml from "highlight.js/lib/languages/yaml";
import { sanitizeRendered } from "./safeHtml.js";
import type { FileDiffInfo } from "./types.js";

for (const [name, language] of Object.entries({ bash, css, go, javascript, json, markdown, python, rust, typescript, xml, yaml })) hljs.registerLanguage(name, language);

/** A file's diff as the unified text diff2html reads. */
export function unifiedText(file: FileDiffInfo): string {
  const oldPath = file.oldPath ?? file.path;
  const from = file.action === "added" ? "/dev/null" : `a/${oldPath}`;
  const to = file.action === "deleted" ? "/dev/null" : `b/${file.path}`;
  const head = [`diff --git a/${oldPath} b/${file.path}`];
  if (file.action === "renamed") head.push(`rename from ${oldPath}`, `rename to ${file.path}`);
  if (file.binary) return [...head, `Binary files ${from} and ${to} differ`, ""].join("\n");
  const hunks = (file.hunks ?? []).flatMap((h) => [h.header, ...h.lines]);
  return [...head, `--- ${from}`, `+++ ${to}`, ...hunks, ""].join("\n");
}

/**
 * Draws one file's diff into `target`: diff2html's HTML (which escapes the
 * text it is given) sanitized again, then syntax highlighted by highlight.js.
 */
export function drawDiff(target: HTMLElement, file: FileDiffInfo, sideBySide: boolean): void {
  const config = { outputFormat: sideBySide ? ("side-by-side" as const) : ("line-by-line" as const), drawFileList: false, matching: "none" as const, highlight: true, fileContentToggle: false, stickyFileHeaders: false, synchronisedScroll: true, fileListToggle: false };
  target.innerHTML = sanitizeRendered(html(unifiedText(file), config));
  new Diff2HtmlUI(target, undefined, config, hljs).draw();
}
