import { mkdtempSync, rmSync, readFileSync, writeFileSync, chmodSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { runHook, runHooks } from '../src/hooks/run';

let dir: string;
beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'berth-hooks-'))));
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const script = (name: string, body: string) => {
  const p = join(dir, name);
  writeFileSync(p, `#!/bin/sh\n${body}\n`);
  chmodSync(p, 0o755);
  return p;
};

describe('hooks', () => {
  it('gets the state on stdin, its argv and exactly its env', async () => {
    const out = join(dir, 'out');
    const h = script('h', `cat > ${out}.state; echo "$0 $1 $FOO $HOME" > ${out}.argv`);
    await runHook('poststart', 0, { path: h, args: ['myhook', 'one'], env: ['FOO=bar'] }, '{"id":"c1"}');
    expect(readFileSync(`${out}.state`, 'utf8')).toBe('{"id":"c1"}');
    expect(readFileSync(`${out}.argv`, 'utf8').trim()).toBe(`${h} one bar`);
  });
  it('fails naming the hook and its exit status and stderr', async () => {
    const h = script('bad', 'echo boom >&2; exit 3');
    await expect(runHook('prestart', 1, { path: h }, '{}')).rejects.toThrow(`prestart hook #1 (${h}): exit status 3: boom`);
  });
  it('kills a hook past its timeout', async () => {
    const h = script('slow', 'sleep 5');
    const t0 = Date.now();
    await expect(runHook('createRuntime', 0, { path: h, timeout: 1 }, '{}')).rejects.toThrow(/timed out after 1s/);
    expect(Date.now() - t0).toBeLessThan(3000);
  });
  it('runs a list in order and stops at the first failure', async () => {
    const log = join(dir, 'log');
    const a = script('a', `echo a >> ${log}`);
    const b = script('b', `echo b >> ${log}; exit 1`);
    const c = script('c', `echo c >> ${log}`);
    await expect(runHooks('poststop', [{ path: a }, { path: b }, { path: c }], '{}')).rejects.toThrow(/poststop hook #1/);
    expect(readFileSync(log, 'utf8')).toBe('a\nb\n');
  });
  it('names a hook that does not exist', async () => {
    await expect(runHook('prestart', 0, { path: join(dir, 'missing') }, '{}')).rejects.toThrow(/prestart hook #0 .*ENOENT/);
  });
});
