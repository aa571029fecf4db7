/**
 * Splits a command line into an argument vector without a shell: whitespace
 * separates words, single quotes keep everything literally, double quotes
 * keep everything but `\"` and `\\`, a backslash outside quotes escapes the
 * next character. Nothing is expanded (no variables, globs, `~`, `;`, `|`):
 * those characters are just part of a word.
 */
export function splitCommand(line: string): string[] {
  const words: string[] = [];
  let word = "";
  let inWord = false;
  let quote: "'" | '"' | null = null;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quote === "'") {
      if (c === "'") quote = null;
      else word += c;
      continue;
    }
    if (quote === '"') {
      if (c === '"') quote = null;
      else if (c === "\\" && (line[i + 1] === '"' || line[i + 1] === "\\")) word += line[++i];
      else word += c;
      continue;
    }
    if (/\s/.test(c)) {
      if (inWord) words.push(word);
      word = "";
      inWord = false;
      continue;
    }
    inWord = true;
    if (c === "'" || c === '"') quote = c;
    else if (c === "\\") {
      if (i + 1 >= line.length) throw new Error("the agent command ends with a lone backslash");
      word += line[++i];
    } else word += c;
  }
  if (quote) throw new Error(`the agent command has an unterminated ${quote} quote`);
  if (inWord) words.push(word);
  if (words.length === 0) throw new Error("the agent command is empty");
  return words;
}
