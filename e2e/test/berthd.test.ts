// berthd as a daemon, driven by Debian's containerd 1.6 `ctr`: the client we did not write
// must find the services it knows, and berthd must start, refuse, stop and restart cleanly.

import { spawn } from 'child_process';
import { existsSync, readFileSync, statSync, writeFileSync } from 'fs';
import { join } from 'path';
import { sleep } from './support/env';
import { run } from './support/containerd';
import { alive, BERTHD, CTR, PrivateBerthd } from './support/berthd';

jest.setTimeout(60000);

describe('berthd with ctr', () => {
  const d = new PrivateBerthd();
  const pids: number[] = [];

  beforeAll(async () => {
    if (process.getuid?.() !== 0) throw new Error('berthd.test.ts runs berthd as root');
    for (const f of [BERTHD, CTR]) if (!existsSync(f)) throw new Error(`${f} is missing: make deps build`);
    // A config file for what flags do not set; the flags (root, state, address) win over it.
    const config = join(d.dir, 'berthd.json');
    writeFileSync(config, JSON.stringify({ root: '/nonexistent/overridden', log_level: 'debug', shutdown_timeout_ms: 2000 }));
    await d.start(['--config', config]);
    pids.push(d.child!.pid!);
  });

  afterAll(async () => {
    await d.cleanup();
    for (const pid of pids) expect(alive(pid)).toBe(false);
    expect(existsSync(d.dir)).toBe(false);
    expect(existsSync('/nonexistent/overridden')).toBe(false);
  });

  it('serves on a 0660 socket, logs JSON on stderr at the configured level', () => {
    const st = statSync(d.address);
    expect(st.isSocket()).toBe(true);
    expect(st.mode & 0o777).toBe(0o660);
    const lines = d.log().split('\n').filter(Boolean).map((l) => JSON.parse(l));
    expect(lines.some((l) => l.msg === 'berthd is serving' && l.address === d.address)).toBe(true);
    expect(lines.some((l) => l.level === 20)).toBe(true);
    expect(readFileSync(join(d.state, 'berthd.pid'), 'utf8').split('\n')[0]).toBe(String(d.child!.pid));
  });

  it('ctr version shows berthd as the server, with the uuid kept under root', async () => {
    const r = await d.ctr(['version']);
    expect(r.code).toBe(0);
    const server = r.stdout.slice(r.stdout.indexOf('Server:'));
    expect(server).toMatch(/Version:\s+v0\.1\.0/);
    expect(server).toMatch(/Revision:\s+\S+/);
    const uuid = readFileSync(join(d.root, 'uuid'), 'utf8').trim();
    expect(server).toContain(`UUID: ${uuid}`);
  });

  it('ctr namespaces create, label, ls, rm', async () => {
    expect((await d.ctr(['namespaces', 'create', 'e2e-ns', 'team=a', 'tier=web'])).code).toBe(0);
    expect((await d.ctr(['namespaces', 'create', 'e2e-ns'])).stderr).toMatch(/already exists/);
    expect((await d.ctr(['namespaces', 'label', 'e2e-ns', 'team=b', 'tier='])).code).toBe(0);
    const ls = await d.ctr(['namespaces', 'ls']);
    expect(ls.code).toBe(0);
    const row = ls.stdout.split('\n').find((l) => l.startsWith('e2e-ns '));
    expect(row?.split(/\s+/)[1]).toBe('team=b');
    expect((await d.ctr(['namespaces', 'ls', '-q'])).stdout.split('\n')).toContain('e2e-ns');
    // A namespace that holds something cannot be removed.
    expect((await d.ctr(['leases', 'create', '--id', 'pin'], { namespace: 'e2e-ns' })).code).toBe(0);
    const refused = await d.ctr(['namespaces', 'rm', 'e2e-ns']);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/must be empty.*failed precondition/);
    expect((await d.ctr(['leases', 'rm', 'pin'], { namespace: 'e2e-ns' })).code).toBe(0);
    expect((await d.ctr(['namespaces', 'rm', 'e2e-ns'])).code).toBe(0);
    expect((await d.ctr(['namespaces', 'ls', '-q'])).stdout.split('\n')).not.toContain('e2e-ns');
  });

  it('ctr leases create, ls, rm', async () => {
    const made = await d.ctr(['leases', 'create', '--id', 'e2e-lease', 'who=e2e']);
    expect(made.code).toBe(0);
    expect(made.stdout.trim()).toBe('e2e-lease');
    const generated = (await d.ctr(['leases', 'create', '--expires', '0'])).stdout.trim();
    expect(generated).toMatch(/^\S+$/);
    const ls = await d.ctr(['leases', 'ls']);
    expect(ls.code).toBe(0);
    const row = ls.stdout.split('\n').find((l) => l.startsWith('e2e-lease '));
    expect(row).toMatch(/who=e2e/);
    // ctr adds a 24h expiry label by default.
    expect(row).toMatch(/containerd\.io\/gc\.expire=/);
    expect(ls.stdout.split('\n').some((l) => l.startsWith(generated + ' '))).toBe(true);
    expect((await d.ctr(['leases', 'ls', '-q'])).stdout.split('\n').filter(Boolean).sort()).toEqual([generated, 'e2e-lease'].sort());
    expect((await d.ctr(['leases', 'rm', 'e2e-lease', generated])).code).toBe(0);
    expect((await d.ctr(['leases', 'ls', '-q'])).stdout.trim()).toBe('');
    expect((await d.ctr(['leases', 'rm', 'e2e-lease'])).stderr).toMatch(/not found/);
  });

  it('ctr plugins ls lists our plugins as ok', async () => {
    const r = await d.ctr(['plugins', 'ls']);
    expect(r.code).toBe(0);
    const rows = r.stdout.split('\n').slice(1).filter(Boolean).map((l) => l.trim().split(/\s+/));
    const status = Object.fromEntries(rows.map((c) => [`${c[0]}.${c[1]}`, c[3]]));
    for (const key of ['io.containerd.metadata.v1.lmdb', 'io.containerd.event.v1.exchange', 'io.containerd.grpc.v1.version', 'io.containerd.grpc.v1.namespaces',
      'io.containerd.grpc.v1.leases', 'io.containerd.grpc.v1.events', 'io.containerd.grpc.v1.introspection']) {
      expect(status[key]).toBe('ok');
    }
    const filtered = await d.ctr(['plugins', 'ls', 'id==leases']);
    expect(filtered.stdout.split('\n').slice(1).filter(Boolean)).toHaveLength(1);
    const detailed = await d.ctr(['plugins', 'ls', '-d', 'id==lmdb']);
    expect(detailed.stdout).toContain(join(d.root, 'meta.lmdb'));
  });

  it('ctr events prints a /namespaces/create while another ctr creates one', async () => {
    const events = spawn(CTR, ['--address', d.address, 'events'], { stdio: ['ignore', 'pipe', 'pipe'] });
    pids.push(events.pid!);
    let out = '';
    events.stdout.on('data', (b) => (out += b));
    try {
      // No ack exists for a subscription: create namespaces until one is seen.
      for (let i = 0; i < 100 && !out.includes('/namespaces/create'); i++) {
        expect((await d.ctr(['namespaces', 'create', `e2e-ev-${i}`])).code).toBe(0);
        await sleep(100);
      }
      const line = out.split('\n').find((l) => l.includes('/namespaces/create'));
      // "<timestamp> <namespace> <topic> <event as JSON>"
      expect(line).toMatch(/ default \/namespaces\/create \{"name":"e2e-ev-\d+"\}$/);
    } finally {
      events.kill('SIGKILL');
      await new Promise((r) => (events.exitCode !== null || events.signalCode !== null ? r(null) : events.once('exit', r)));
    }
    for (let i = 0; i < 100; i++) {
      if ((await d.ctr(['namespaces', 'rm', `e2e-ev-${i}`])).code !== 0) break;
    }
  });

  it('a second berthd on the same root refuses, saying who holds it', async () => {
    const r = await run(BERTHD, ['--root', d.root, '--state', join(d.dir, 'state2'), '--address', join(d.dir, 'state2', 'x.sock')], { timeoutMs: 20000 });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`berthd: another berthd (pid ${d.child!.pid}) holds ${join(d.root, 'berthd.pid')}: only one berthd may use a root at a time`);
    expect(existsSync(join(d.dir, 'state2', 'x.sock'))).toBe(false);
    expect(existsSync(join(d.dir, 'state2', 'berthd.pid'))).toBe(false);
    // The running one is unaffected.
    expect((await d.ctr(['version'])).code).toBe(0);
  });

  it('a bad config file stops start-up with the key at fault', async () => {
    const bad = join(d.dir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ grpc: { gid: 'docker' } }));
    const r = await run(BERTHD, ['--config', bad, '--root', join(d.dir, 'r3'), '--state', join(d.dir, 's3')], { timeoutMs: 20000 });
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe(`berthd: config ${bad}: grpc.gid: expected an integer, got "docker"`);
    expect(existsSync(join(d.dir, 'r3'))).toBe(false);
  });

  it('SIGTERM: exit 0, socket and pid file removed; a restart on the same root keeps the namespaces', async () => {
    expect((await d.ctr(['namespaces', 'create', 'e2e-kept', 'a=1'])).code).toBe(0);
    const uuid = readFileSync(join(d.root, 'uuid'), 'utf8').trim();
    const pid = d.child!.pid!;
    expect(await d.stop('SIGTERM')).toBe(0);
    expect(alive(pid)).toBe(false);
    expect(existsSync(d.address)).toBe(false);
    expect(existsSync(join(d.state, 'berthd.pid'))).toBe(false);
    expect(existsSync(join(d.root, 'berthd.pid'))).toBe(false);

    await d.start();
    pids.push(d.child!.pid!);
    const ls = await d.ctr(['namespaces', 'ls']);
    expect(ls.stdout).toMatch(/^e2e-kept\s+a=1\s*$/m);
    expect((await d.ctr(['version'])).stdout).toContain(`UUID: ${uuid}`);
    expect(await d.stop('SIGINT')).toBe(0);
    expect(existsSync(d.address)).toBe(false);
  });

  it('takes over after a SIGKILLed berthd (stale lock and socket)', async () => {
    await d.start();
    pids.push(d.child!.pid!);
    expect(await d.stop('SIGKILL')).toBe(137);
    expect(existsSync(d.address)).toBe(true);
    expect(existsSync(join(d.state, 'berthd.pid'))).toBe(true);
    await d.start();
    pids.push(d.child!.pid!);
    expect((await d.ctr(['namespaces', 'ls', '-q'])).stdout.split('\n')).toContain('e2e-kept');
    expect(d.log()).toMatch(/taking over a stale lock file/);
    expect(await d.stop('SIGTERM')).toBe(0);
  });
});
