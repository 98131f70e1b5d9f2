import { spawnSync } from 'child_process';
import { join } from 'path';

// berth-runtime's stderr is often the container's too (run/exec in the foreground share the
// pipe's open file description). Node's process.stderr stream sets O_NONBLOCK on a pipe, for
// every process sharing it; the CLI's own messages and Node's warnings must not.

const STDERR_JS = join(__dirname, '..', 'dist', 'cli', 'stderr.js');
const O_NONBLOCK = 0o4000;

/** Runs `body` in a fresh node with stderr a pipe; returns fd 2's flags afterwards and what stderr got. */
function flagsAfter(body: string): { nonblocking: boolean; stderr: string } {
  const script = `
    const s = require(${JSON.stringify(STDERR_JS)});
    ${body}
    setTimeout(() => require('fs').writeSync(1, require('fs').readFileSync('/proc/self/fdinfo/2', 'utf8')), 50);
  `;
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  if (r.status !== 0) throw new Error(`node failed: ${r.stderr}`);
  const flags = parseInt(/^flags:\s+(\d+)/m.exec(r.stdout)![1]!, 8);
  return { nonblocking: (flags & O_NONBLOCK) !== 0, stderr: r.stderr };
}

describe('stderr without process.stderr', () => {
  it('writeStderr and routed Node warnings leave a shared stderr blocking', () => {
    const r = flagsAfter(`s.routeNodeWarnings(); s.writeStderr('hello\\n'); process.emitWarning('careful');`);
    expect(r.nonblocking).toBe(false);
    expect(r.stderr).toBe('hello\nberth-runtime: warning: (node) Warning: careful\n');
  });

  it('(the reason) Node\'s own warning printer makes it non-blocking', () => {
    expect(flagsAfter(`process.emitWarning('careful');`).nonblocking).toBe(true);
  });
});
