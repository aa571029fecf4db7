import DOMPurify from "dompurify";
import { Marked } from "marked";

/**
 * Everything the viewer shows comes from agents: untrusted. Markdown becomes
 * HTML only through DOMPurify, which keeps formatting and drops scripts,
 * handlers, styles, forms, frames and any link that is not http(s), mailto
 * or relative. Links open in a new tab without a referrer.
 */
const purify = DOMPurify(window);
purify.addHook("afterSanitizeAttributes", (node) => {
  if (node.tagName === "A") {
    node.setAttribute("rel", "noopener noreferrer nofollow");
    node.setAttribute("target", "_blank");
  }
});

const SANITIZE = {
  USE_PROFILES: { html: true },
  FORBID_TAGS: ["style", "form", "input", "button", "textarea", "select", "iframe", "object", "embed", "svg", "math", "img", "video", "audio", "source"],
  FORBID_ATTR: ["style", "class", "id", "srcset"],
  ALLOWED_URI_REGEXP: /^(?:https?:|mailto:|#|\/|\.\/)/i,
};

const marked = new Marked({ gfm: true, breaks: true, async: false });

export function sanitize(html: string): string {
  return purify.sanitize(html, SANITIZE) as string;
}

export function markdownToSafeHtml(markdown: string): string {
  return sanitize(marked.parse(markdown, { async: false }));
}

/** HTML made by a trusted renderer from untrusted text (a diff): sanitized anyway, classes kept for its styles. */
export function sanitizeRendered(html: string): string {
  return purify.sanitize(html, { USE_PROFILES: { html: true, svg: true }, FORBID_TAGS: ["style", "form", "input", "iframe", "script"], FORBID_ATTR: ["style"] }) as string;
}
