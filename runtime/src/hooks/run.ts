import { spawn } from 'child_process';
import type { Hook } from '../spec/types';
import { BerthError } from '../util/errors';

// Runtime-namespace hooks (prestart, createRuntime, poststart, poststop) run here; the two that
// run inside the container's namespaces (createContainer, startContainer) run in berth-init.

export type HookKind = 'prestart' | 'createRuntime' | 'poststart' | 'poststop';

/**
 * Runs one hook: argv is `args` (args[0] included, as execv takes it), the environment is
 * exactly `env`, the container state JSON arrives on stdin. A non-zero exit, a signal or a
 * timeout is an error naming the hook.
 */
export function runHook(kind: HookKind, index: number, hook: Hook, stateJson: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const argv = hook.args && hook.args.length > 0 ? hook.args : [hook.path];
    const env: Record<string, string> = {};
    for (const e of hook.env ?? []) {
      const i = e.indexOf('=');
      env[e.slice(0, i)] = e.slice(i + 1);
    }
    // Its own process group, so a timeout kills what the hook started too.
    const child = spawn(hook.path, argv.slice(1), { argv0: argv[0], env, stdio: ['pipe', 'ignore', 'pipe'], detached: true });
    let stderr = '';
    let timedOut = false;
    const what = `${kind} hook #${index} (${hook.path})`;
    const timer = hook.timeout ? setTimeout(() => {
      timedOut = true;
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
    }, hook.timeout * 1000) : undefined;
    child.stderr!.on('data', (d: Buffer) => {
      if (stderr.length < 4096) stderr += d.toString();
    });
    // A hook that does not read its stdin must not fail the write.
    child.stdin!.on('error', () => undefined);
    child.stdin!.end(stateJson);
    child.on('error', (err) => {
      if (timer) clearTimeout(timer);
      reject(new BerthError('ERR_HOOK', `${what}: ${err.message}`));
    });
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      if (timedOut) return reject(new BerthError('ERR_HOOK', `${what}: timed out after ${hook.timeout}s`));
      if (code === 0) return resolve();
      const detail = stderr.trim() ? `: ${stderr.trim()}` : '';
      reject(new BerthError('ERR_HOOK', `${what}: ${signal ? `killed by ${signal}` : `exit status ${code}`}${detail}`));
    });
  });
}

export async function runHooks(kind: HookKind, hooks: Hook[] | undefined, stateJson: string): Promise<void> {
  for (const [i, h] of (hooks ?? []).entries()) await runHook(kind, i, h, stateJson);
}
