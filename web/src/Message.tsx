import { memo } from "preact/compat";
import { useState } from "preact/hooks";
import { get } from "./api.js";
import { markdownToSafeHtml } from "./safeHtml.js";
import { gist, pretty, when } from "./format.js";
import { splitThinking } from "../../core/transcripts/thinking.js";
import type { ConversationMessage } from "./types.js";

/** Longer messages are cut here, with "Show all". */
export const CUT_CHARS = 3_000;

function Markdown({ text }: { text: string }) {
  return <div class="md" dangerouslySetInnerHTML={{ __html: markdownToSafeHtml(text) }} />;
}

/** A tool's call, input or result, folded under what it is and its gist. */
function Folded({ label, value, error }: { label: string; value: unknown; error?: boolean }) {
  const g = gist(value);
  return (
    <details class={error ? "tool error" : "tool"}>
      <summary>
        {label}
        {g && <span class="gist"> — {g}</span>}
      </summary>
      <pre tabIndex={0}>{pretty(value)}</pre>
    </details>
  );
}

/** One message, chat style: markdown content, its thinking, tool calls and results folded, long text cut. */
export const Message = memo(function Message({ taskId, message }: { taskId: string; message: ConversationMessage }) {
  const [whole, setWhole] = useState<ConversationMessage | undefined>();
  const [expanded, setExpanded] = useState(false);
  const [problem, setProblem] = useState<string | undefined>();
  const m = whole ?? message;
  const { thinking, text: said } = splitThinking(m.content);
  const long = said.length > CUT_CHARS;
  const cut = (m.truncated && !whole) || (long && !expanded);
  const text = long && !expanded ? said.slice(0, CUT_CHARS) : said;

  const showAll = async () => {
    if (m.truncated && !whole) {
      try {
        setWhole(await get<ConversationMessage>(`/api/v1/mesh/tasks/${taskId}/messages/${encodeURIComponent(m.id)}`));
      } catch (e) {
        setProblem((e as Error).message);
        return;
      }
    }
    setExpanded(true);
  };

  return (
    <article class={`msg role-${m.role}${m.isError ? " is-error" : ""}`} aria-label={`${m.role} message ${m.id}`} data-message-id={m.id}>
      <header>
        <span class="role">{m.role}</span>
        {m.toolName && <span class="tool-name">{m.toolName}</span>}
        <time dateTime={m.timestamp}>{when(m.timestamp)}</time>
      </header>
      {thinking && (
        <details class="thinking">
          <summary>Thinking</summary>
          <Markdown text={thinking} />
        </details>
      )}
      {said && <Markdown text={text} />}
      {cut && (
        <p>
          <button type="button" class="link" onClick={showAll}>
            Show all{m.truncated ? " (the whole message)" : ` (${said.length.toLocaleString()} characters)`}
          </button>
        </p>
      )}
      {problem && <p role="alert" class="error">{problem}</p>}
      {m.toolCalls?.map((call) => <Folded key={call.id} label={`Tool call: ${call.name}`} value={call.input} />)}
      {m.toolInput !== undefined && <Folded label={`Tool input${m.toolName ? `: ${m.toolName}` : ""}`} value={m.toolInput} />}
      {m.toolResult !== undefined && <Folded label={m.isError ? "Tool result (error)" : "Tool result"} value={m.toolResult} error={m.isError} />}
    </article>
  );
});
