/**
 * `vmkeep completion [bash|zsh]`: a script that asks vmkeep itself for completions (yargs
 * answers `vmkeep --get-yargs-completions WORDS...` with commands and options).
 */
import { usageError } from '../../errors.js';
import { defineCommand } from './types.js';

export type CompletionShell = 'bash' | 'zsh';

/** The script for one shell; the program name is fixed so the script never runs a path from the environment. */
export function completionScript(shell: CompletionShell): string {
  if (shell === 'bash') {
    return `# vmkeep completion for bash: source it, or save it as /etc/bash_completion.d/vmkeep
_vmkeep_complete() {
  local words
  words=$(vmkeep --get-yargs-completions "\${COMP_WORDS[@]:0:COMP_CWORD+1}" 2>/dev/null)
  COMPREPLY=($(compgen -W "$words" -- "\${COMP_WORDS[COMP_CWORD]}"))
}
complete -o bashdefault -o default -F _vmkeep_complete vmkeep
`;
  }
  return `#compdef vmkeep
# vmkeep completion for zsh: save it as _vmkeep in a folder of $fpath (or source it)
_vmkeep() {
  local -a candidates
  candidates=("\${(@f)$(SHELL=zsh vmkeep --get-yargs-completions "\${words[@]:0:CURRENT}" 2>/dev/null)}")
  _describe 'vmkeep' candidates
}
if [[ $zsh_eval_context[-1] == loadautofunc ]]; then
  _vmkeep "$@"
else
  compdef _vmkeep vmkeep
fi
`;
}

export const completionCommand = defineCommand<{ shell: CompletionShell }>({
  name: 'completion [shell]',
  describe: 'print a shell completion script (bash or zsh)',
  builder: (y) => y.positional('shell', { type: 'string', choices: ['bash', 'zsh'], default: 'bash', describe: 'the shell' }),
  buildOptions: (argv) => {
    const shell = String(argv['shell'] ?? 'bash');
    if (shell !== 'bash' && shell !== 'zsh') throw usageError(`completion takes bash or zsh, got ${JSON.stringify(shell)}`);
    return Object.freeze({ shell });
  },
  run: async (_ctx, options) => ({
    document: { shell: options.shell, script: completionScript(options.shell) },
    text: completionScript(options.shell),
    outcome: 'ok',
  }),
});
