import { readFileSync } from 'fs';
import { Sandbox, requireRoot, sleep } from './support/env';

// ps lists the processes of one container's cgroup (host pids): as a JSON array, or as the
// host ps's table cut down to them.

let sb: Sandbox;
beforeAll(requireRoot);
beforeEach(() => (sb = new Sandbox()));
afterEach(() => sb.cleanup());

const cmdline = (pid: number) => readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ');

/** A detached container running `sleep A & exec sleep B`: two processes, pid 1 being the second. */
async function twoSleeps(a: number, b: number): Promise<{ id: string; pid: number }> {
  const id = sb.id();
  const bundle = sb.bundle((s) => (s.process.args = ['sh', '-c', `sleep ${a} & exec sleep ${b}`]));
  expect((await sb.run(['run', '-d', '--bundle', bundle, id])).code).toBe(0);
  const { pid } = JSON.parse((await sb.run(['state', id])).stdout);
  // Until the shell has forked and exec'd, the container is one process named sh.
  for (let i = 0; i < 100 && cmdline(pid) !== `sleep ${b}`; i++) await sleep(20);
  return { id, pid };
}

describe('ps', () => {
  it('lists exactly the container\'s processes as JSON, none of another container', async () => {
    const a = await twoSleeps(31, 32);
    const b = await twoSleeps(33, 34);
    const r = await sb.run(['ps', '--format', 'json', a.id]);
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(r.stdout).toMatch(/^\[\d+,\d+\]\n$/);
    const pids: number[] = JSON.parse(r.stdout);
    expect(pids).toContain(a.pid);
    expect(pids.map(cmdline).sort()).toEqual(['sleep 31', 'sleep 32']);
    expect(pids).not.toContain(b.pid);
    const other: number[] = JSON.parse((await sb.run(['ps', '-f', 'json', b.id])).stdout);
    expect(other.map(cmdline).sort()).toEqual(['sleep 33', 'sleep 34']);
    expect(other.filter((p) => pids.includes(p))).toEqual([]);
  });

  it('prints ps -ef\'s header and only the container\'s lines; passes other ps arguments through', async () => {
    const a = await twoSleeps(41, 42);
    await twoSleeps(43, 44);
    const table = await sb.run(['ps', a.id]);
    expect(table.code).toBe(0);
    const lines = table.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^UID\s+PID\s+PPID\s+C\s+STIME\s+TTY\s+TIME\s+CMD$/);
    expect(lines.length).toBe(3);
    expect(lines.slice(1).map((l) => l.replace(/^.*\d\d:\d\d:\d\d /, '')).sort()).toEqual(['sleep 41', 'sleep 42']);
    expect(lines.some((l) => l.split(/\s+/)[1] === String(a.pid))).toBe(true);

    const custom = await sb.run(['ps', a.id, '--', '-o', 'pid,args']);
    expect(custom.code).toBe(0);
    const rows = custom.stdout.trimEnd().split('\n');
    expect(rows[0]).toMatch(/^\s*PID\s+COMMAND$/);
    expect(rows.slice(1).map((l) => l.trim().split(/\s+/).slice(1).join(' ')).sort()).toEqual(['sleep 41', 'sleep 42']);
    // Without "--" too: flags end at the id.
    expect((await sb.run(['ps', a.id, '-o', 'pid,args'])).stdout).toBe(custom.stdout);
  });

  it('refuses an unknown format and a ps format without a PID column', async () => {
    const a = await twoSleeps(51, 52);
    expect(await sb.run(['ps', '--format', 'xml', a.id])).toMatchObject({ code: 1, stderr: 'berth-runtime: invalid format option: xml\n' });
    const noPid = await sb.run(['ps', a.id, '-o', 'comm']);
    expect(noPid.code).toBe(1);
    expect(noPid.stderr).toMatch(/^berth-runtime: ps output has no PID column/);
    expect((await sb.run(['ps'])).stderr).toMatch(/"ps" requires a container id/);
  });
});
