import { buildExecPlan, type ExecPlanOptions } from '../src/plan/build';
import { applyOverrides, validateProcess, namespaceJoins } from '../src/lib/exec';
import { overrides, parseUser } from '../src/cli/exec';
import { defaultSpec } from '../src/spec/default';
import type { Spec } from '../src/spec/types';

const facts = { hasSysResource: false, hardLimits: { RLIMIT_NOFILE: '512' }, ownOomScoreAdj: 0 };
const joins: ExecPlanOptions['joins'] = [
  { type: 'pid', path: '/proc/42/ns/pid' },
  { type: 'mount', path: '/proc/42/ns/mnt' },
  { type: 'user', path: '/proc/42/ns/user' },
];
const plan = (spec: Spec, over: Partial<ExecPlanOptions> = {}) => buildExecPlan(spec, spec.process!, { joins, facts, ...over });
const names = (spec: Spec, over: Partial<ExecPlanOptions> = {}) => plan(spec, over).records.map((r) => r[0]);

describe('exec plan', () => {
  it('joins the given namespaces by path and makes none', () => {
    const ns = plan(defaultSpec()).records.filter((r) => r[0] === 'ns');
    expect(ns).toEqual([['ns', 'pid', '/proc/42/ns/pid'], ['ns', 'mnt', '/proc/42/ns/mnt'], ['ns', 'user', '/proc/42/ns/user']]);
  });

  it('has no rootfs, mounts, devices, container hooks, names, sysctls or exec fifo', () => {
    const spec = defaultSpec();
    spec.hooks = { createContainer: [{ path: '/bin/true' }], startContainer: [{ path: '/bin/true' }] };
    spec.linux!.sysctl = { 'net.ipv4.ip_forward': '1' };
    spec.domainname = 'example';
    const got = new Set(names(spec));
    for (const r of ['rootfs', 'rootfs-propagation', 'readonly-rootfs', 'mount', 'device', 'bind-devices', 'symlink', 'masked', 'readonly', 'hook', 'hostname', 'domainname', 'sysctl', 'exec-fifo', 'timens-offset']) {
      expect([r, got.has(r)]).toEqual([r, false]);
    }
  });

  it('sets the process up as init: rlimits (clamped), caps, no_new_privs, user, cwd, env, args', () => {
    const spec = defaultSpec();
    spec.process!.user = { uid: 1000, gid: 100, additionalGids: [5], umask: 0o27 };
    spec.process!.args = ['sh', '-c', 'id'];
    const p = plan(spec);
    expect(p.records).toEqual(expect.arrayContaining([
      ['rlimit', 7, '512', '512'],
      ['caps', 'bounding', 29, 5, 10],
      ['caps', 'ambient'],
      ['no-new-privileges'],
      ['user', 1000, 100],
      ['groups', 5],
      ['umask', 0o27],
      ['cwd', '/'],
      ['env', 'TERM=xterm'],
    ]));
    expect(p.records.filter((r) => r[0] === 'arg')).toEqual([['arg', 'sh'], ['arg', '-c'], ['arg', 'id']]);
    expect(p.warnings).toEqual([expect.stringMatching(/RLIMIT_NOFILE hard limit 1024 lowered to 512/)]);
  });

  it("applies the container's seccomp profile and personality to the exec'd process", () => {
    const spec = defaultSpec();
    spec.linux!.seccomp = { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir'], action: 'SCMP_ACT_ERRNO', errnoRet: 38 }] };
    spec.linux!.personality = { domain: 'LINUX32' };
    expect(plan(spec).records).toEqual(expect.arrayContaining([
      ['seccomp-default', 'SCMP_ACT_ALLOW', 0],
      ['seccomp-rule', 'SCMP_ACT_ERRNO', 38, 'mkdir', 0],
      ['personality', 8],
    ]));
  });

  it('waits, relays or sends the pty, and preserves fds only when asked', () => {
    const spec = defaultSpec();
    spec.process!.terminal = false;
    expect(names(spec).filter((n) => ['wait', 'terminal', 'console-socket', 'preserve-fds'].includes(String(n)))).toEqual([]);
    spec.process!.terminal = true;
    const relay = plan(spec, { wait: true, preserveFds: 3 }).records;
    expect(relay).toEqual(expect.arrayContaining([['wait'], ['terminal'], ['preserve-fds', 3]]));
    expect(relay.some((r) => r[0] === 'console-socket')).toBe(false);
    expect(plan(spec, { consoleSocket: '/run/cs.sock' }).records).toEqual(expect.arrayContaining([['terminal'], ['console-socket', '/run/cs.sock']]));
  });
});

describe('exec process from flags', () => {
  const base = () => defaultSpec().process!;

  it('replaces args, and turns the terminal off unless asked (config.json says true)', () => {
    const p = applyOverrides(base(), { args: ['ps'] });
    expect(p.args).toEqual(['ps']);
    expect(p.terminal).toBe(false);
    expect(applyOverrides(base(), { args: ['ps'], terminal: true }).terminal).toBe(true);
  });

  it('overrides env keys in place and appends new ones; the last of a repeated key wins', () => {
    const p = applyOverrides(base(), { args: ['env'], env: ['TERM=dumb', 'A=1', 'A=2', 'EMPTY='] });
    expect(p.env).toEqual(['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'TERM=dumb', 'A=2', 'EMPTY=']);
  });

  it('sets cwd, uid, gid, appends additional gids, sets no_new_privs either way', () => {
    const b = base();
    b.user.additionalGids = [10];
    const p = applyOverrides(b, { args: ['id'], cwd: '/tmp', uid: 1000, gid: 1001, additionalGids: [20, 30], noNewPrivileges: false });
    expect(p).toMatchObject({ cwd: '/tmp', user: { uid: 1000, gid: 1001, additionalGids: [10, 20, 30] }, noNewPrivileges: false });
    expect(applyOverrides(base(), { args: ['id'], uid: 7 }).user).toEqual({ uid: 7, gid: 0 });
  });

  it('adds --cap to bounding, effective and permitted, not to inheritable or ambient (runc)', () => {
    const p = applyOverrides(base(), { args: ['id'], caps: ['CAP_SYS_ADMIN', 'cap_net_raw'] });
    expect(p.capabilities!.bounding).toEqual(['CAP_AUDIT_WRITE', 'CAP_KILL', 'CAP_NET_BIND_SERVICE', 'CAP_SYS_ADMIN', 'CAP_NET_RAW']);
    expect(p.capabilities!.effective).toContain('CAP_SYS_ADMIN');
    expect(p.capabilities!.permitted).toContain('CAP_NET_RAW');
    expect(p.capabilities!.inheritable).toBeUndefined();
    expect(p.capabilities!.ambient).toBeUndefined();
    expect(() => applyOverrides(base(), { args: ['id'], caps: ['CAP_FLY'] })).toThrow('--cap: unknown capability "CAP_FLY"');
  });

  it('leaves a process without a capabilities object alone: it keeps every capability', () => {
    const b = base();
    delete b.capabilities;
    expect(applyOverrides(b, { args: ['id'], caps: ['CAP_SYS_ADMIN'] }).capabilities).toBeUndefined();
  });

  it('does not change the config it started from', () => {
    const b = base();
    applyOverrides(b, { args: ['x'], env: ['TERM=dumb'], caps: ['CAP_SYS_ADMIN'], uid: 5 });
    expect(b).toEqual(base());
  });

  it('parses the flags, naming the one at fault', () => {
    expect(overrides({ env: ['A=1'], cwd: '/x', user: '5:6', 'additional-gids': ['7', '8'], cap: ['CAP_KILL'], 'no-new-privs': true, tty: true }, ['ls'])).toEqual({
      args: ['ls'], env: ['A=1'], cwd: '/x', uid: 5, gid: 6, additionalGids: [7, 8], caps: ['CAP_KILL'], noNewPrivileges: true, terminal: true,
    });
    expect(overrides({}, ['ls'])).toEqual({ args: ['ls'], terminal: false });
    expect(() => overrides({ env: ['NOEQUALS'] }, ['ls'])).toThrow('--env "NOEQUALS": must have the form KEY=VALUE');
    expect(() => overrides({ cwd: 'rel' }, ['ls'])).toThrow('--cwd "rel": must be an absolute path');
    expect(() => overrides({ 'additional-gids': ['-1'] }, ['ls'])).toThrow(/--additional-gids "-1": not a number/);
  });

  it('parses --user as UID[:GID], numbers only', () => {
    expect(parseUser('1000')).toEqual({ uid: 1000 });
    expect(parseUser('0:5')).toEqual({ uid: 0, gid: 5 });
    expect(() => parseUser('root')).toThrow('--user uid "root"');
    expect(() => parseUser('1:x')).toThrow('--user gid "x"');
    expect(() => parseUser('1:2:3')).toThrow('expected UID[:GID]');
  });
});

describe('exec --process file', () => {
  it('is validated with the rules of config.json, errors naming the process field', () => {
    const spec = defaultSpec();
    const ok = { user: { uid: 1, gid: 2 }, args: ['id'], cwd: '/', env: ['A=b'] };
    expect(validateProcess(spec, ok)).toEqual(ok);
    expect(() => validateProcess(spec, { ...ok, cwd: 'tmp' })).toThrow('process.cwd must be an absolute path');
    expect(() => validateProcess(spec, { ...ok, args: [] })).toThrow('process.args must name a program to run');
    expect(() => validateProcess(spec, { ...ok, user: undefined })).toThrow('process.user must be an object');
    expect(() => validateProcess(spec, 'nope')).toThrow('process must be an object');
  });
});

describe('namespace joins', () => {
  it("leaves out namespaces that are the caller's own (our own pid joins nothing)", async () => {
    expect(await namespaceJoins(process.pid, defaultSpec())).toEqual([]);
  });

  it('fails naming the namespace when the container process is gone', async () => {
    await expect(namespaceJoins(2 ** 22 + 1, defaultSpec())).rejects.toThrow(/cannot join the container's pid namespace: its process \d+ is gone/);
  });
});
