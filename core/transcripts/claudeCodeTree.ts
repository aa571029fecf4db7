import type { TranscriptBranch, TranscriptMessage } from "./transcript.js";
import { nameFrom } from "./transcript.js";
import { splitThinking, thinkingBlock } from "./thinking.js";

/**
 * A Claude Code session's lines as the tree their `uuid`/`parentUuid` make,
 * read back as one active conversation and its branches.
 *
 * Every line with a uuid is a node, whether it holds messages or not
 * (progress, hook and bookkeeping lines sit inside the chains). Claude Code
 * hangs more than a branch off a node: each result of parallel tool calls
 * hangs off the line of the call it answers, and progress lines run off to
 * the side, and the lines of one API message (its thinking, its text, each
 * tool call) may hang off each other's results. So a side subtree is part
 * of the line it hangs off when it says nothing new: tool results, notes,
 * local commands, more lines of the line's own API messages, or nothing.
 * One that does say something (a prompt edited, a reply retried) is a
 * branch, imported as a fork after the active message it splits from (a
 * sub-agent's conversation written inline, as Claude Code 1.0 did, is a
 * branch of its own, named for its prompt). An API message's lines are one
 * message again.
 */

export interface Node {
  uuid: string;
  /** `parentUuid`, or after a compaction `logicalParentUuid`. */
  parent?: string;
  /** The line's place in the file. */
  order: number;
  messages: TranscriptMessage[];
  /** The API message an assistant line is part of (`message.id`). */
  apiMessageId?: string;
  /** A line of a sub-agent's conversation (`isSidechain`). */
  sidechain?: boolean;
  /** A user line that only records a local command (`/exit`) or its output: the model never answers it, so it makes no branch. */
  localCommand?: boolean;
}

export interface SessionLines {
  messages: TranscriptMessage[];
  branches: TranscriptBranch[];
  /** Branches beyond MAX_BRANCHES, counted and not imported. */
  beyondLimit: number;
}

/** The most branches a transcript gives forks. */
export const MAX_BRANCHES = 100;

const spoken = (n: Node) => n.messages.some((m) => m.role === "user" || m.role === "assistant");

export function sessionLines(nodes: Map<string, Node>, leafHint: string | undefined): SessionLines {
  const tree = new Tree(nodes);
  const main = tree.lineTo(tree.mainLeaf(leafHint), new Set());
  const mainMessages = tree.messagesOf(main);
  const branches: TranscriptBranch[] = [];
  let beyondLimit = 0;
  const pending = tree.sideRoots(main, new Set());
  const seen = new Set(pending);
  for (let i = 0; i < pending.length; i++) {
    const root = pending[i]!;
    if (branches.length === MAX_BRANCHES) {
      beyondLimit++;
      continue;
    }
    const leaf = tree.lastSpoken(root)!;
    const line = tree.lineTo(leaf, main);
    const split = tree.splitPoint(leaf, main);
    const forkAfter = split === undefined ? null : (mainMessages.filter((m) => m.order <= split).at(-1)?.message.id ?? null);
    const messages = tree.messagesOf(line).map((m) => m.message);
    const name = nodes.get(root)!.sidechain ? nameFrom(`agent: ${messages.find((m) => m.role === "user")?.content ?? ""}`) : undefined;
    if (messages.length) branches.push({ id: leaf, forkAfterMessageId: forkAfter, messages, ...(name ? { name } : {}) });
    for (const r of tree.sideRoots(line, main)) {
      if (seen.has(r)) continue;
      seen.add(r);
      pending.push(r);
    }
  }
  return { messages: mainMessages.map((m) => m.message), branches, beyondLimit };
}

class Tree {
  private readonly children = new Map<string | undefined, string[]>();
  private readonly parents = new Map<string, string | undefined>();

  /** A line whose parent was never written (before a compaction, in the session a sub-agent ran in) goes on from the last line that spoke before it. */
  constructor(private readonly nodes: Map<string, Node>) {
    let lastSpoken: string | undefined;
    for (const node of [...nodes.values()].sort((a, b) => a.order - b.order)) {
      const parent = node.parent === undefined ? undefined : nodes.has(node.parent) ? node.parent : lastSpoken;
      this.parents.set(node.uuid, parent);
      const list = this.children.get(parent) ?? [];
      list.push(node.uuid);
      this.children.set(parent, list);
      if (spoken(node)) lastSpoken = node.uuid;
    }
  }

  private node = (uuid: string) => this.nodes.get(uuid)!;
  private kids = (uuid: string | undefined) => this.children.get(uuid) ?? [];

  /**
   * The last line that speaks (the session's own before a sub-agent's run
   * inline; else the last with messages), unless the hinted leaf (a
   * `leafUuid`) speaks and lies off that line: then the hint.
   */
  mainLeaf(hint: string | undefined): string | undefined {
    const byOrder = [...this.nodes.values()].sort((a, b) => a.order - b.order);
    const last = (byOrder.findLast((n) => spoken(n) && !n.sidechain) ?? byOrder.findLast(spoken) ?? byOrder.findLast((n) => n.messages.length > 0))?.uuid;
    const hinted = hint !== undefined && this.nodes.has(hint) && spoken(this.node(hint));
    return hinted && !this.lineTo(last, new Set()).has(hint) ? hint : last;
  }

  /** The uuids from `leaf` up to (not into) `taken`, leaf first; a cycle ends the walk. */
  private chain(leaf: string | undefined, taken: Set<string>): string[] {
    const out: string[] = [];
    const seen = new Set<string>();
    for (let at = leaf; at !== undefined && this.nodes.has(at) && !taken.has(at) && !seen.has(at); at = this.parents.get(at)) {
      seen.add(at);
      out.push(at);
    }
    return out;
  }

  /** The first node of `taken` that `leaf`'s chain reaches, by its place in the file. */
  splitPoint(leaf: string, taken: Set<string>): number | undefined {
    const top = this.chain(leaf, taken).at(-1);
    const parent = top === undefined ? undefined : this.parents.get(top);
    return parent !== undefined && taken.has(parent) ? this.node(parent).order : undefined;
  }

  /**
   * The chain to `leaf` (stopping at `taken`) with every side subtree that
   * says nothing new: no user message, and no assistant message but the
   * lines of API messages on the chain. The main line (nothing taken) also
   * takes in other roots that say nothing.
   */
  lineTo(leaf: string | undefined, taken: Set<string>): Set<string> {
    const chain = this.chain(leaf, taken);
    const line = new Set(chain);
    const apiMessages = new Set(chain.map((u) => this.node(u).apiMessageId).filter((id) => id !== undefined));
    const saysNothingNew = (node: Node) =>
      node.localCommand === true || node.messages.every((m) => m.role !== "user" && (m.role !== "assistant" || apiMessages.has(node.apiMessageId ?? "")));
    const quiet = (root: string) => this.subtree(root).every((u) => saysNothingNew(this.node(u)));
    const sides = [...chain.flatMap((u) => this.kids(u)), ...(taken.size ? [] : this.kids(undefined))];
    for (const side of sides) if (!line.has(side) && quiet(side)) for (const u of this.subtree(side)) line.add(u);
    return line;
  }

  /** Roots of the subtrees hanging off `line` (and off the main line, the tree's other roots) that are not in it or in `outside`: its branches. */
  sideRoots(line: Set<string>, outside: Set<string>): string[] {
    const roots = outside.size ? [] : [...this.kids(undefined)];
    for (const uuid of line) roots.push(...this.kids(uuid));
    return roots.filter((r) => !line.has(r) && !outside.has(r)).sort((a, b) => this.node(a).order - this.node(b).order);
  }

  /** The last node under `root` (by place in the file) that holds a user or assistant message. */
  lastSpoken(root: string): string | undefined {
    return this.subtree(root)
      .filter((u) => spoken(this.node(u)))
      .sort((a, b) => this.node(a).order - this.node(b).order)
      .at(-1);
  }

  /** The messages of `line` in the order they were written, each API message's lines made one where its first line was. */
  messagesOf(line: Set<string>): { order: number; message: TranscriptMessage }[] {
    const nodes = [...line].map(this.node).sort((a, b) => a.order - b.order);
    const out: { order: number; message: TranscriptMessage }[] = [];
    const byApiMessage = new Map<string, { order: number; message: TranscriptMessage }>();
    for (const node of nodes) {
      for (const message of node.messages) {
        const api = message.role === "assistant" ? node.apiMessageId : undefined;
        const first = api === undefined ? undefined : byApiMessage.get(api);
        if (first) first.message = joinAssistant(first.message, message);
        else out.push({ order: node.order, message });
        if (api !== undefined && !first) byApiMessage.set(api, out.at(-1)!);
      }
    }
    return out;
  }

  private subtree(root: string): string[] {
    const out: string[] = [];
    const seen = new Set<string>();
    for (const stack = [root]; stack.length; ) {
      const at = stack.pop()!;
      if (seen.has(at)) continue;
      seen.add(at);
      out.push(at);
      stack.push(...this.kids(at));
    }
    return out;
  }
}

/** Two lines of one API message as one message: thinking first, then text, tool calls in order, the larger token count. */
function joinAssistant(a: TranscriptMessage, b: TranscriptMessage): TranscriptMessage {
  const [x, y] = [splitThinking(a.content), splitThinking(b.content)];
  const thinking = [x.thinking, y.thinking].filter((t): t is string => !!t).join("\n\n");
  const text = [x.text, y.text].filter((t) => t.trim()).join("\n\n");
  const toolCalls = [...(a.toolCalls ?? []), ...(b.toolCalls ?? [])];
  const tokenCount = a.tokenCount === undefined && b.tokenCount === undefined ? undefined : Math.max(a.tokenCount ?? 0, b.tokenCount ?? 0);
  return {
    ...a,
    content: thinking ? `${thinkingBlock(thinking)}${text ? `\n\n${text}` : ""}` : text,
    ...(toolCalls.length ? { toolCalls } : {}),
    ...(tokenCount === undefined ? {} : { tokenCount }),
  };
}
