import { createRoute } from "@hono/zod-openapi";
import { stream } from "hono/streaming";
import * as z from "zod";
import { ExportLink, ExportQuery, ImportIntoTaskRequest, ImportResult, ImportTranscriptRequest } from "../../../core/transcripts/requests.js";
import { importIntoTask, importTranscript, parseForImport } from "../../../core/services/importTranscript.js";
import { exportLink, exportTask } from "../../../core/services/exportTranscript.js";
import { bearer, failures, IdempotencyHeader, IdParam, json, jsonBody, router } from "../route.js";

export const transcriptRoutes = router();

const IMPORT_TEXT =
  "The transcript is parsed whole first: a line that is not what its format says answers 400 `transcript_line_invalid` naming `file:line`, and nothing is stored; a transcript with no message in it (a session started and left at once) answers 400 `transcript_empty`. Ids are the transcript's own, so importing it again adds nothing (and finishes an import that stopped). History events are dated by the messages. Formats: `claude-code` (session JSONL: branches become forks, a sub-agent's `agent-*.jsonl` a child task), `codex` (rollout JSONL), `openai` (Chat Completions messages), `makima` (this service's export).";

transcriptRoutes.openapi(
  createRoute({
    operationId: "importTranscript",
    method: "post",
    path: "/api/v1/mesh/tasks/import",
    tags: ["transcripts"],
    summary: "Create a task from an agent's transcript",
    description: `${IMPORT_TEXT} The task's id is derived from the owner and the transcript's own session id: the same session is always the same task. A transcript over 900 KB is sent in pages by the CLI (\`makima import\`) as this service's own format, the first page here and the rest to \`/mesh/tasks/{id}/import\`.`,
    security: bearer,
    request: { headers: IdempotencyHeader, body: jsonBody(ImportTranscriptRequest.strict()) },
    responses: {
      200: json(ImportResult, "An earlier import made this task; what it lacked was added"),
      201: json(ImportResult, "The new task"),
      ...failures({ body: true, idempotent: true, also: [404, 409] }),
    },
  }),
  async (c) => {
    const body = c.req.valid("json");
    const transcript = parseForImport(body.content, body.fileName ?? "transcript", body.format);
    const result = await importTranscript(c.get("service"), transcript, { contractId: body.contractId, name: body.name, parentTaskId: body.parentTaskId });
    return result.created ? c.json(result, 201) : c.json(result, 200);
  },
);

transcriptRoutes.openapi(
  createRoute({
    operationId: "importIntoTask",
    method: "post",
    path: "/api/v1/mesh/tasks/{id}/import",
    tags: ["transcripts"],
    summary: "Add a transcript's messages to a task",
    description: `${IMPORT_TEXT} A message id the task has already is skipped; the transcript's branches become forks of this task.`,
    security: bearer,
    request: { params: IdParam, headers: IdempotencyHeader, body: jsonBody(ImportIntoTaskRequest.strict()) },
    responses: { 200: json(ImportResult), ...failures({ body: true, idempotent: true, also: [404, 409] }) },
  }),
  async (c) => {
    const body = c.req.valid("json");
    const transcript = parseForImport(body.content, body.fileName ?? "transcript", body.format);
    return c.json(await importIntoTask(c.get("service"), c.req.valid("param").id, transcript), 200);
  },
);

const text = (type: string) => ({ [type]: { schema: z.string() } });

transcriptRoutes.openapi(
  createRoute({
    operationId: "exportTask",
    method: "get",
    path: "/api/v1/mesh/tasks/{id}/export",
    tags: ["transcripts"],
    summary: "Export a task's conversation",
    description:
      "The whole visible conversation with tool calls and results, checkpoints where the conversation reached them and the task's forks, streamed. `jsonl` imports back (`POST /mesh/tasks/import`) to the same conversation; `html` is one self-contained page with everything the agent wrote escaped. With `redact=true` secrets are removed first and `Makima-Redacted` says how many.",
    security: bearer,
    request: { params: IdParam, query: ExportQuery },
    responses: {
      200: {
        description: "The export, as a download (`Content-Disposition`)",
        headers: z.object({ "Makima-Redacted": z.string().optional().describe("With redact=true: how many secrets were removed") }),
        content: { ...text("application/x-ndjson"), ...text("text/markdown"), ...text("text/html") },
      },
      ...failures({ input: true, also: [404] }),
    },
  }),
  async (c) => {
    const { format, redact } = c.req.valid("query");
    const out = await exportTask(c.get("service"), c.req.valid("param").id, format, { redact });
    c.header("Content-Type", out.contentType);
    c.header("Content-Disposition", `attachment; filename="${out.fileName}"`);
    c.header("X-Content-Type-Options", "nosniff");
    if (redact) {
      // The count is known once every message is read: the redacted export is assembled, then sent.
      let body = "";
      for await (const chunk of out.chunks) body += chunk;
      c.header("Makima-Redacted", String(out.redacted()));
      return c.body(body, 200);
    }
    return stream(c, async (s) => {
      for await (const chunk of out.chunks) if (chunk) await s.write(chunk);
    });
  },
);

transcriptRoutes.openapi(
  createRoute({
    operationId: "exportTaskLink",
    method: "get",
    path: "/api/v1/mesh/tasks/{id}/export/link",
    tags: ["transcripts"],
    summary: "Export a task's conversation to a download link",
    description: "The same export as `/export`, stored for an hour and answered as a presigned link: for a log too large for one response.",
    security: bearer,
    request: { params: IdParam, query: ExportQuery },
    responses: { 200: json(ExportLink), ...failures({ input: true, also: [404] }) },
  }),
  async (c) => {
    const { format, redact } = c.req.valid("query");
    return c.json(await exportLink(c.get("service"), c.req.valid("param").id, format, { redact }), 200);
  },
);
