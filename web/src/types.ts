/** The API's shapes, as the service defines them (type-only: of core/ the viewer bundles only core/transcripts/thinking.ts, which imports nothing). */
export type { Contract, ConversationMessage, HistoryEvent, Task, TaskCheckpoint, ConversationRewind } from "../../core/models.js";
export type { FileDiffInfo, DiffStats } from "../../core/protocol.js";
export type { CodeRewindView, ContinueTaskResult } from "../../core/responses.js";

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}
