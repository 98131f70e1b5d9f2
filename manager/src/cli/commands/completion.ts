// berth completion bash: prints the bash completion script (../completion.ts), made from the
// command table and every command's options — which means loading every command module, once,
// here only.

import type { CommandSpec } from '../command';
import { COMMANDS, type CommandEntry } from '../commands';
import { bashCompletion, type CompletionCommand } from '../completion';
import { UsageError } from '../errors';
import { GLOBAL_OPTIONS } from '../main';

async function collectCommands(entries: CommandEntry[], prefix: string, out: CompletionCommand[]): Promise<void> {
  for (const e of entries) {
    const path = prefix ? `${prefix} ${e.name}` : e.name;
    if (e.subcommands) {
      out.push({ path, subcommands: e.subcommands.map((s) => s.name), options: [], usage: '' });
      await collectCommands(e.subcommands, path, out);
    } else if (e.load) {
      const { command } = await e.load();
      out.push({ path, subcommands: [], options: command.options, usage: command.usage });
    }
  }
}

export const command: CommandSpec = {
  usage: 'bash',
  summary: 'Generate the shell completion script (bash)',
  description: 'Load it with:  source <(berth completion bash)\nor install it:  berth completion bash > /etc/bash_completion.d/berth',
  options: [],
  args: { min: 1, max: 1 },
  async run(ctx, parsed) {
    if (parsed.args[0] !== 'bash') throw new UsageError(`unsupported shell ${JSON.stringify(parsed.args[0])} (supported: bash)`, ctx.commandPath);
    const commands: CompletionCommand[] = [];
    await collectCommands(COMMANDS, '', commands);
    ctx.io.stdout.write(bashCompletion(GLOBAL_OPTIONS, COMMANDS.map((c) => c.name), commands));
  },
};
