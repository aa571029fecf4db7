import { accessMatrixMarkdown } from "../../core/access.js";

/**
 * The API's own description, served as the OpenAPI document's
 * `info.description` (and rendered at /api/v1/docs): what holds for every
 * route. What holds for one route is in that route's description.
 */
export const API_DESCRIPTION = `The history, resume, rewind and fork service of the Makima agent platform.

## Keys

Every /api/v1 request needs \`Authorization: Bearer <key>\`: a user key (\`mk_…\`), a contract's tool key (\`mkt_…\`: that contract's supervisor and history routes, see the table below), or a JWT from the configured issuer (its \`sub\` is the owner: 1–128 of \`A–Z a–z 0–9 . _ - | : @ +\`; a token without \`exp\` is refused). Daemon keys (\`mkd_…\`) only connect daemons to the WebSocket API. Keys are stored hashed: \`POST /api/v1/keys\` shows a key once. \`DELETE /api/v1/keys/{id}\` takes effect at once.

## Errors

\`{"error": {"code", "message", "details"?}}\`; a 400 lists each field at fault by path (\`body.name\`, \`query.limit\`, \`path.id\`), and a body field the operation does not take is a 400 naming it. Another owner's resource is a 404, like a missing one. A method a path does not take is a 405 with \`Allow\`. A body over 1 MB is a 413 (with \`Connection: close\`). From a daemon: 409 \`foreign_changes\` (repeat with \`force: true\`), \`branch_exists\`, \`not_a_commit\`; 502 \`daemon_error\`; 503 \`no_daemon\` (none online); 504 \`daemon_timeout\` or \`daemon_disconnected\`. DynamoDB or S3 throttled or unavailable is 503 \`unavailable\` with \`Retry-After\`: retry later. On AWS, requests past the stage's rate get API Gateway's own 429. Every status an operation can answer is listed with it.

## Commands relayed to a daemon

A route that needs a daemon (a diff, a code rewind or its undo, a branch, starting a resumed or forked task) sends it a command and waits up to 5 s; a slower daemon gets you \`202 {operationId}\`: follow it with \`GET /api/v1/operations/{id}?wait=20\`, which answers as soon as the operation settles. A daemon has 120 s. Operations are kept a week.

## Lists

\`{"items", "nextCursor"}\`, newest first unless stated (conversations and checkpoints are oldest first), \`limit\` 1–200. Cursors are signed and belong to the list that gave them. A page of conversation stays under 1 MB: a field over 16 KB comes cut, with \`truncated: true\`; \`GET /api/v1/mesh/tasks/{id}/messages/{messageId}\` returns the whole message. A history page filtered by both \`phase\` and \`eventTypes\` reads at most 1,000 events and may come back short, with a cursor.

## Nothing is lost by going back

A conversation rewind hides messages (restore it with \`…/conversation/restore\`); a code rewind saves the worktree under a safety ref first (undo with \`…/rewind/undo\`).

## Idempotency

\`Idempotency-Key\` (1–200 visible ASCII characters) on a POST or PATCH: the same key and body within 24 h return the first answer and do nothing again; the same key with another body is a 409. An answer belongs to the credential (key or JWT subject), method and path that made it: another credential using the same Idempotency-Key makes a fresh request, and the key scope below is checked before anything is replayed. A request still running holds its key for at most a minute (409 \`request_in_progress\` meanwhile). A replayed key creation returns the key's id and metadata, never its secret.

## Limits

At most 100 messages per append; a message id, tool name or tool call id at most 200 characters; a plan at most 50,000 characters, extra resume context 20,000. Free-form JSON (snapshot \`metadata\`, checkpoint \`filesChanged\`, tool inputs): no empty keys, keys at most 200 characters, numbers DynamoDB stores exactly, \`metadata\` and \`filesChanged\` at most 16 KB and 16 levels deep, tool inputs 32. Branch names are judged as \`git check-ref-format --branch\` judges them; a full ref (\`refs/…\`) or \`@\` is refused too.

## Key scope

Which routes a key may call (another contract's resources answer 403 to a tool key; another owner's, 404 to everyone; a tool key creates tasks only in its contract, never a supervisor task):

${accessMatrixMarkdown()}`;
