/**
 * Claude Code 2.1 sessions written the way Claude Code writes them, for the
 * import's property test and its bench: one line per block of a reply
 * (thinking, text, each tool call) under one API message id, progress lines
 * chained off each call, each tool result hanging off the call it answers,
 * the next call hanging off the last progress line or off the previous
 * result (or by turns, leaving a call of the reply off to the side),
 * bookkeeping lines in the chain, and prompts edited (an abandoned prompt
 * and reply left as a branch beside the one the session went on with).
 */

export interface TurnShape {
  /** Tool calls in the turn's first reply (run in parallel). */
  calls: number;
  /** Progress lines chained off each call. */
  progress: number;
  thinking: boolean;
  /**
   * Where the next call hangs: off the previous call's last progress line
   * (the results written after all calls), off the previous call's result,
   * or by turns (a call off the previous one's progress, the call after it
   * off the result before, so every second call is off to the side).
   */
  hang: "progress" | "result" | "alternate";
  /** The prompt was edited: the first try and its reply stay as a branch. */
  edited: boolean;
  /** A `turn_duration` line ends the turn, inside the chain. */
  bookkeeping: boolean;
}

export interface WrittenSession {
  text: string;
  lines: number;
  /** Messages of the conversation the session went on with: per turn the prompt, the reply, its results, the answer. */
  messages: number;
  toolCalls: number;
  /** For each edited turn, the id of the message the branch forks after (null: the first turn). */
  branchesAfter: (string | null)[];
  /** Call lines hung off the previous call's progress (`alternate`): off the conversation's chain unless the answer follows from them. */
  sideLines: string[];
}

export function writeClaudeSession(turns: TurnShape[], sessionId = "prop-session"): WrittenSession {
  const out: string[] = [];
  let n = 0;
  const start = Date.UTC(2026, 1, 2, 9);
  const line = (parent: string | null, fields: Record<string, unknown>): string => {
    const uuid = `00000000-0000-4000-8000-${String(n).padStart(12, "0")}`;
    const base = { parentUuid: parent, isSidechain: false, userType: "external", cwd: "/work/app", sessionId, version: "2.1.39", gitBranch: "main", uuid, timestamp: new Date(start + n * 1000).toISOString() };
    n++;
    out.push(JSON.stringify({ ...base, ...fields }));
    return uuid;
  };
  const assistant = (api: string, block: Record<string, unknown>) => ({
    type: "assistant",
    message: { id: api, role: "assistant", model: "claude-opus-4-6", type: "message", content: [block], usage: { input_tokens: 3, output_tokens: 40 } },
  });
  const result = (call: string, i: number) => ({ type: "user", message: { role: "user", content: [{ type: "tool_result", tool_use_id: call, content: `export function run${i}(input: string) {\n  return JSON.parse(input);\n}\n` }] } });
  const progress = (call: string) => ({ type: "progress", data: { type: "hook_progress", hookEvent: "PostToolUse" }, toolUseID: call, parentToolUseID: call });

  let tip: string | null = null;
  let lastMessage: string | null = null;
  let messages = 0;
  let toolCalls = 0;
  const branchesAfter: (string | null)[] = [];
  const sideLines: string[] = [];
  turns.forEach((turn, t) => {
    if (turn.edited) {
      const tried = line(tip, { type: "user", message: { role: "user", content: `Step ${t}, first try: look at src/module${t}.ts` } });
      line(tried, assistant(`msg_tried_${t}`, { type: "text", text: "I would start by reading the file." }));
      branchesAfter.push(lastMessage);
    }
    const prompt = line(tip, { type: "user", message: { role: "user", content: `Step ${t}: look at src/module${t}.ts and tell me what the exported function does, then fix its error handling.` } });
    const api = `msg_${t}_reply`;
    let at = prompt;
    if (turn.thinking) at = line(at, assistant(api, { type: "thinking", thinking: `Module ${t} first, then its callers.`, signature: "sig" }));
    at = line(at, assistant(api, { type: "text", text: "Reading the files first." }));
    const deferred: { call: string; line: string }[] = [];
    let previous: { call: string; line: string; last: string } | undefined;
    for (let c = 0; c < turn.calls; c++) {
      const call = `toolu_${t}_${c}`;
      const aside = turn.hang === "alternate" && c % 2 === 1;
      const use = line(aside ? previous!.last : at, assistant(api, { type: "tool_use", id: call, name: "Read", input: { file_path: `/work/app/src/module${t}_${c}.ts` } }));
      if (aside) sideLines.push(use);
      let last = use;
      for (let p = 0; p < turn.progress; p++) last = line(last, progress(call));
      if (turn.hang === "result") at = line(use, result(call, t));
      else if (turn.hang === "progress") {
        deferred.push({ call, line: use });
        at = last;
      } else if (aside) {
        at = line(previous!.line, result(previous!.call, t));
        deferred.push({ call, line: use });
      } else if (c === turn.calls - 1) deferred.push({ call, line: use });
      previous = { call, line: use, last };
    }
    for (const d of deferred) at = line(d.line, result(d.call, t));
    at = line(at, assistant(`msg_${t}_answer`, { type: "text", text: `run${t} parses its input as JSON and throws on bad input; I wrapped it in a try/catch that returns a typed error.` }));
    lastMessage = at;
    if (turn.bookkeeping) at = line(at, { type: "system", subtype: "turn_duration", durationMs: 5000, isMeta: false });
    tip = at;
    messages += 3 + turn.calls;
    toolCalls += turn.calls;
  });
  return { text: `${out.join("\n")}\n`, lines: n, messages, toolCalls, branchesAfter, sideLines };
}
