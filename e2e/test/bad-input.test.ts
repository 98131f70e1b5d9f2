import { existsSync, readdirSync, writeFileSync, rmSync } from 'fs';
import { join } from 'path';
import { Sandbox, requireRoot, leakSnapshot } from './support/env';

// Bad input: one line naming the field or argument, a non-zero exit, and nothing left
// behind — no state dir, cgroup, mount or process.

let sb: Sandbox;
beforeAll(requireRoot);
beforeEach(() => (sb = new Sandbox()));
afterEach(() => sb.cleanup());

async function expectCleanFailure(args: string[], message: RegExp | string) {
  const before = leakSnapshot();
  const r = await sb.run(args);
  expect(r.code).not.toBe(0);
  expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
  expect(r.stderr).toMatch(message);
  expect(existsSync(sb.root) ? readdirSync(sb.root) : []).toEqual([]);
  expect(leakSnapshot()).toEqual(before);
}

const cases: [string, (s: any) => void, RegExp][] = [
  ['a missing process.args', (s) => delete s.process.args, /process.args must be an array of strings/],
  ['an unknown namespace type', (s) => s.linux.namespaces.push({ type: 'nope' }), /linux.namespaces\[6\].type: unknown namespace type "nope"/],
  ['a rootfs that does not exist', (s) => (s.root.path = 'missing'), /root.path: rootfs .*missing does not exist/],
  ['a relative cwd', (s) => (s.process.cwd = 'x'), /process.cwd must be an absolute path/],
  ['a program that does not exist', (s) => (s.process.args = ['/bin/nope']), /nope/],
  ['a program not on PATH', (s) => (s.process.args = ['nope']), /executable file not found in \$PATH/],
  ['a mount that cannot be made', (s) => s.mounts.push({ destination: '/x', type: 'nosuchfs', source: 'x' }), /mount.*\/x.*nosuchfs/],
  ['a failing createRuntime hook', (s) => (s.hooks = { createRuntime: [{ path: '/bin/false' }] }), /createRuntime hook #0 \(\/bin\/false\): exit status 1/],
  ['a cgroupsPath that escapes', (s) => (s.linux.cgroupsPath = '/../../etc'), /linux.cgroupsPath/],
  ['a blkio weight out of range', (s) => (s.linux.resources.blockIO = { weight: 5000 }), /blockIO.weight/],
];

describe('create refuses bad input and leaves nothing behind', () => {
  it.each(cases)('%s', async (_name, mutate, message) => {
    await expectCleanFailure(['create', '--bundle', sb.bundle(mutate), sb.id()], message);
  });

  it('a config.json that is not JSON', async () => {
    const bundle = sb.bundle();
    writeFileSync(join(bundle, 'config.json'), '{"ociVersion": ');
    await expectCleanFailure(['create', '--bundle', bundle, sb.id()], /config.json: invalid JSON/);
  });

  it('a bundle without config.json', async () => {
    const bundle = sb.bundle();
    rmSync(join(bundle, 'config.json'));
    await expectCleanFailure(['create', '--bundle', bundle, sb.id()], /config.json not found/);
  });

  it.each([['../x'], ['a/b'], ['x'.repeat(300)]])('the bad id %j', async (id) => {
    await expectCleanFailure(['create', '--bundle', sb.bundle(), id], /container id/);
  });

  it('an empty id', async () => {
    await expectCleanFailure(['create', '--bundle', sb.bundle()], /"create" requires a container id/);
  });

  it('an unknown flag', async () => {
    await expectCleanFailure(['create', '--bogus', 'x'], /flag provided but not defined: -bogus/);
  });
});

it('refuses a duplicate id and leaves the first container alone', async () => {
  const id = sb.id();
  expect((await sb.run(['create', '--bundle', sb.bundle(), id])).code).toBe(0);
  const r = await sb.run(['create', '--bundle', sb.bundle(), id]);
  expect(r.code).toBe(1);
  expect(r.stderr).toBe(`berth-runtime: container with id ${id} already exists\n`);
  expect(JSON.parse((await sb.run(['state', id])).stdout).status).toBe('created');
});
