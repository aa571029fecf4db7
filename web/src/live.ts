import { useEffect, useRef, useState } from "preact/hooks";
import { get } from "./api.js";
import type { ConversationMessage, ConversationRewind, Page, Task, TaskCheckpoint } from "./types.js";

/** How often a shown task is asked whether it changed (the live tail). */
export const POLL_MS = 1_500;
const PAGE = 200;
/** The first page is small: it is on screen sooner, the rest follows. */
const FIRST_PAGE = 40;

interface ConversationPage {
  cursor: string | undefined;
  messages: ConversationMessage[];
}

export interface TaskView {
  task?: Task;
  messages: ConversationMessage[];
  checkpoints: TaskCheckpoint[];
  rewinds: ConversationRewind[];
  error?: string;
  /** Every page of the conversation has been read. */
  complete: boolean;
  reload(): void;
}

async function allItems<T>(path: string): Promise<T[]> {
  const items: T[] = [];
  let cursor: string | null = null;
  do {
    const page: Page<T> = await get<Page<T>>(`${path}${path.includes("?") ? "&" : "?"}limit=200${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
    items.push(...page.items);
    cursor = page.nextCursor;
  } while (cursor && items.length < 2_000);
  return items;
}

/**
 * A task, its conversation (every page, read in order), checkpoints and
 * conversation rewinds, kept current: every POLL_MS the task is read, and
 * when its message count, status or update time moved, the conversation is
 * read again from the cursor of its last page (so a dropped connection
 * resumes where it was), with checkpoints and rewinds.
 */
export function useTask(taskId: string, live = true): TaskView {
  const [state, setState] = useState<Omit<TaskView, "reload">>({ messages: [], checkpoints: [], rewinds: [], complete: false });
  const [generation, setGeneration] = useState(0);
  const pages = useRef<ConversationPage[]>([]);

  useEffect(() => {
    let stopped = false;
    let seen = "";
    pages.current = [];
    const conversationPath = (cursor: string | undefined) =>
      `/api/v1/mesh/tasks/${taskId}/conversation?limit=${cursor ? PAGE : FIRST_PAGE}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`;

    /** Reads from the last page read (or the start) to the end, replacing that page. */
    async function readOn(): Promise<void> {
      let cursor = pages.current.at(-1)?.cursor;
      pages.current = pages.current.slice(0, -1);
      for (;;) {
        const page = await get<{ messages: ConversationMessage[]; nextCursor: string | null }>(conversationPath(cursor));
        if (stopped) return;
        pages.current = [...pages.current, { cursor, messages: page.messages }];
        setState((s) => ({ ...s, messages: pages.current.flatMap((p) => p.messages), complete: page.nextCursor === null }));
        if (!page.nextCursor) return;
        cursor = page.nextCursor;
      }
    }

    async function sideLists(): Promise<void> {
      const [checkpoints, rewinds] = await Promise.all([
        allItems<TaskCheckpoint>(`/api/v1/mesh/tasks/${taskId}/checkpoints`),
        allItems<ConversationRewind>(`/api/v1/mesh/tasks/${taskId}/conversation/rewinds`),
      ]);
      if (!stopped) setState((s) => ({ ...s, checkpoints, rewinds }));
    }

    async function tick(): Promise<void> {
      try {
        const task = await get<Task>(`/api/v1/mesh/tasks/${taskId}`);
        if (stopped) return;
        const mark = `${task.messageCount}|${task.status}|${task.updatedAt}`;
        if (mark !== seen) {
          const shown = pages.current.reduce((n, p) => n + p.messages.length, 0);
          // Fewer messages than shown: a rewind hid some; read it all again.
          if (task.messageCount < shown) pages.current = [];
          seen = mark;
          setState((s) => ({ ...s, task, error: undefined }));
          const reading = first ?? readOn();
          first = undefined;
          await Promise.all([reading, sideLists()]);
        } else setState((s) => (s.error ? { ...s, error: undefined } : s));
      } catch (e) {
        seen = "";
        if (!stopped) setState((s) => ({ ...s, error: (e as Error).message }));
      }
    }

    // The conversation's first page is asked for at once, beside the task.
    let first: Promise<void> | undefined = readOn();
    // Its failure is the first tick's to report (and to retry).
    first.catch(() => undefined);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const loop = async () => {
      await tick();
      if (!stopped && live) timer = setTimeout(loop, POLL_MS);
    };
    void loop();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, [taskId, generation, live]);

  return { ...state, reload: () => setGeneration((g) => g + 1) };
}
