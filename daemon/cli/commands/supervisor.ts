import { Command } from "commander";
import { readingCommands } from "./supervisor/reading.js";
import { resumeCommands } from "./supervisor/resume.js";
import { rewindCommands } from "./supervisor/rewind.js";
import { forkCommands } from "./supervisor/fork.js";

/**
 * `makima supervisor …`: what a supervisor (or its user) does with a task's
 * past: read its conversation and checkpoints, diff a checkpoint, resume,
 * rewind, fork. Tasks are named by id (or MAKIMA_TASK_ID), checkpoints by
 * the number users see; the contract by --contract (or MAKIMA_CONTRACT_ID).
 */
export function supervisorCommand(): Command {
  const sup = new Command("supervisor").description("a task's conversation and checkpoints; resume, rewind and fork");
  readingCommands(sup);
  resumeCommands(sup);
  rewindCommands(sup);
  forkCommands(sup);
  return sup;
}
