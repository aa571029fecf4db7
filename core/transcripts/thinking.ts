/**
 * An agent's thinking kept at the start of a message's content, marked so
 * that an export, an import and the viewer can tell it from the text. No
 * imports: the viewer bundles it.
 */

export const thinkingBlock = (text: string) => `<thinking>\n${text}\n</thinking>`;
const THINKING = /^<thinking>\n([\s\S]*?)\n<\/thinking>\n*/;

/** A message's content split into its thinking (if it starts with some) and its text. */
export function splitThinking(content: string): { thinking?: string; text: string } {
  const m = THINKING.exec(content);
  return m ? { thinking: m[1], text: content.slice(m[0].length) } : { text: content };
}
