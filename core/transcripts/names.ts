/** The formats' names, without zod (the CLI lists them before it loads anything else). */
export const TRANSCRIPT_FORMATS = ["claude-code", "codex", "openai", "makima"] as const;
export const EXPORT_FORMATS = ["jsonl", "markdown", "html", "claude-code", "openai"] as const;
