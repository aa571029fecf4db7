import { memo } from "preact/compat";
import { useState } from "preact/hooks";
import { get } from "./api.js";
import { markdownToSafeHtml } from "./safeHtml.js";
import { pretty, when } from "./format.js";
import type { ConversationMessage } from "./types.js";

/** Longer messages are cut here, with "Show all". */
export const CUT_CHARS = 3_000;

function Markdown({ text }: { text: string }) {
  return <div class="md" dangerouslySetInnerHTML={{ __html: markdownToSafeHtml(text) }} />;
}

function Folded({ summary, text, error }: { summary: string; text: string; error?: boolean }) {
  return (
    <details class={error ? "tool error" : "tool"}>
      <summary>{summary}</summary>
      <pre tabIndex={0}>{text}</pre>
    </details>
  );
}

/** One message, chat style: markdown content, tool calls and results folded, long text cut. */
export const Message = memo(function Message({ taskId, message }: { taskId: string; message: ConversationMessage }) {
  const [whole, setWhole] = useState<ConversationMessage | undefined>();
  const [expanded, setExpanded] = useState(false);
  const [problem, setProblem] = useState<string | undefined>();
  const m = whole ?? message;
  const long = m.content.length > CUT_CHARS;
  const cut = (m.truncated && !whole) || (long && !expanded);
  const text = long && !expanded ? m.content.slice(0, CUT_CHARS) : m.content;

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
      {m.content && <Markdown text={text} />}
      {cut && (
        <p>
          <button type="button" class="link" onClick={showAll}>
            Show all{m.truncated ? " (the whole message)" : ` (${m.content.length.toLocaleString()} characters)`}
          </button>
        </p>
      )}
      {problem && <p role="alert" class="error">{problem}</p>}
      {m.toolCalls?.map((call) => <Folded key={call.id} summary={`Tool call: ${call.name}`} text={pretty(call.input)} />)}
      {m.toolInput !== undefined && <Folded summary={`Tool input${m.toolName ? `: ${m.toolName}` : ""}`} text={pretty(m.toolInput)} />}
      {m.toolResult !== undefined && <Folded summary={m.isError ? "Tool result (error)" : "Tool result"} text={pretty(m.toolResult)} error={m.isError} />}
    </article>
  );
});
