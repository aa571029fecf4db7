import * as z from "zod";
import type { ConversationMessage, Task, TaskCheckpoint } from "../models.js";
import { EXPORT_FORMATS } from "./names.js";

/** What an export knows beside the messages: the task, its checkpoints and its forks. */
export interface ExportContext {
  task: Task;
  checkpoints: TaskCheckpoint[];
  forks: Task[];
  exportedAt: string;
}

/**
 * An export format, written a piece at a time so a long conversation streams:
 * `start`, then each message (and each checkpoint once the conversation has
 * reached its message count), then `end`.
 */
export interface ExportWriter {
  contentType: string;
  extension: string;
  start(ctx: ExportContext): string;
  message(m: ConversationMessage, index: number, ctx: ExportContext): string;
  checkpoint(c: TaskCheckpoint, ctx: ExportContext): string;
  end(ctx: ExportContext): string;
}

export const ExportFormat = z.enum(EXPORT_FORMATS);
export type ExportFormat = z.infer<typeof ExportFormat>;
