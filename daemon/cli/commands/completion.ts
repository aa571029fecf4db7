import { Command, Option } from "commander";
import { commandNames, loadAllCommands } from "../main.js";

/**
 * `makima completion bash|zsh|fish`: a completion script for the shell,
 * made from the commands themselves (names, subcommands, options).
 *   bash: `source <(makima completion bash)` (or save it under ~/.local/share/bash-completion/completions/makima)
 *   zsh:  `source <(makima completion zsh)`
 *   fish: `makima completion fish > ~/.config/fish/completions/makima.fish`
 */

interface Tree {
  name: string;
  description: string;
  options: string[];
  subs: Tree[];
}

function tree(cmd: Command): Tree {
  return {
    name: cmd.name(),
    description: cmd.description().split("\n")[0] ?? "",
    options: [...cmd.options.map((o: Option) => o.long).filter((l): l is string => Boolean(l)), "--help"],
    subs: cmd.commands.map(tree),
  };
}

const words = (list: string[]) => list.join(" ");
const quote = (text: string) => `'${text.replace(/'/g, "'\\''")}'`;

function bash(top: Tree[]): string {
  const cases = top.map((t) => {
    const subCases = t.subs.map((s) => `        ${s.name}) COMPREPLY=($(compgen -W ${quote(words(s.options))} -- "$cur")) ;;`).join("\n");
    return `    ${t.name})
      if [ "$COMP_CWORD" -eq 2 ]; then COMPREPLY=($(compgen -W ${quote(words([...t.subs.map((s) => s.name), ...t.options]))} -- "$cur")); return; fi
      case "\${COMP_WORDS[2]}" in
${subCases}
        *) COMPREPLY=($(compgen -W ${quote(words(t.options))} -- "$cur")) ;;
      esac ;;`;
  });
  return `# makima completion for bash: source <(makima completion bash)
_makima() {
  local cur="\${COMP_WORDS[COMP_CWORD]}"
  if [ "$COMP_CWORD" -eq 1 ]; then COMPREPLY=($(compgen -W ${quote(words([...top.map((t) => t.name), "--help", "--version", "--profile"]))} -- "$cur")); return; fi
  case "\${COMP_WORDS[1]}" in
${cases.join("\n")}
  esac
}
complete -o default -F _makima makima
`;
}

function zsh(top: Tree[]): string {
  return `# makima completion for zsh: source <(makima completion zsh)
autoload -U +X compinit && compinit
autoload -U +X bashcompinit && bashcompinit
${bash(top)}`;
}

function fish(top: Tree[]): string {
  const names = words(top.map((t) => t.name));
  const lines = ["# makima completion for fish: makima completion fish > ~/.config/fish/completions/makima.fish", "complete -c makima -f"];
  for (const t of top) {
    lines.push(`complete -c makima -n "not __fish_seen_subcommand_from ${names}" -a ${t.name} -d ${quote(t.description)}`);
    const subs = words(t.subs.map((s) => s.name));
    for (const s of t.subs) {
      lines.push(`complete -c makima -n "__fish_seen_subcommand_from ${t.name}; and not __fish_seen_subcommand_from ${subs}" -a ${s.name} -d ${quote(s.description)}`);
      for (const o of s.options) lines.push(`complete -c makima -n "__fish_seen_subcommand_from ${t.name}; and __fish_seen_subcommand_from ${s.name}" -l ${o.slice(2)}`);
    }
    if (!t.subs.length) for (const o of t.options) lines.push(`complete -c makima -n "__fish_seen_subcommand_from ${t.name}" -l ${o.slice(2)}`);
  }
  return lines.join("\n") + "\n";
}

export function completionCommand(): Command {
  return new Command("completion")
    .description("print a completion script: bash (source <(makima completion bash)), zsh (the same), fish (> ~/.config/fish/completions/makima.fish)")
    .argument("<shell>", "bash, zsh or fish")
    .action(async (shell: string) => {
      const make = { bash, zsh, fish }[shell as "bash"];
      if (!make) {
        const { usage } = await import("../errors.js");
        throw usage(`no completion for "${shell}" (bash, zsh or fish)`);
      }
      const top = (await loadAllCommands()).map(tree).filter((t) => commandNames().includes(t.name));
      process.stdout.write(make(top));
    });
}
