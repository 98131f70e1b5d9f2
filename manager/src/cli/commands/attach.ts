// berth attach [--no-stdin] [--sig-proxy=false] [--detach-keys K] CONTAINER: this terminal's
// stdin, stdout and stderr to a running container's process (berth.io.v1.IO/Attach, through
// its shim), until it exits (berth then exits with its status) or the detach keys are typed.

import type { CommandSpec } from '../command';
import { resolveContainer } from '../containers/resolve';
import { CliError } from '../errors';
import { attachSession } from '../io/attach';
import { STDIN_OPEN, TTY } from '../../core/containers/labels';

export const command: CommandSpec = {
  usage: '[OPTIONS] CONTAINER',
  summary: "Attach local standard input, output, and error streams to a running container",
  options: [
    { long: 'detach-keys', type: 'string', description: 'Override the key sequence for detaching a container', defaultText: '"ctrl-p,ctrl-q"' },
    { long: 'no-stdin', type: 'boolean', description: 'Do not attach STDIN' },
    { long: 'sig-proxy', type: 'boolean', description: 'Proxy all received signals to the process', defaultText: 'true' },
  ],
  args: { min: 1, max: 1 },
  async run(ctx, parsed) {
    const d = await ctx.daemon();
    const c = await resolveContainer(d, parsed.args[0]!);
    const task = await d.tasks.Get({ containerId: c.id, execId: '' }).catch(() => undefined);
    const status = task?.process?.status;
    if (status !== 'RUNNING' && status !== 'PAUSED') throw new CliError('You cannot attach to a stopped container, start it first');
    const tty = c.labels[TTY] === 'true';
    const session = await attachSession(ctx, {
      containerId: c.id,
      stdin: !parsed.bool('no-stdin') && c.labels[STDIN_OPEN] === 'true',
      tty,
      sigProxy: parsed.has('sig-proxy') ? parsed.bool('sig-proxy') : true,
      closeStdin: false,
      ...(parsed.string('detach-keys') !== undefined ? { detachKeys: parsed.string('detach-keys')! } : {}),
    });
    // Asked now, so the exit is ours even if the container is removed (--rm) right after it.
    const exited = d.tasks.Wait({ containerId: c.id, execId: '' });
    exited.catch(() => undefined);
    try {
      await session.ready;
      await session.done;
    } finally {
      session.close();
    }
    if (session.detached) return 0;
    const r = await exited.catch(() => undefined);
    return r ? r.exitStatus : 0;
  },
};
