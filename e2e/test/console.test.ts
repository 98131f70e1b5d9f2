import { spawn } from 'child_process';
import { existsSync, readdirSync, symlinkSync } from 'fs';
import { join } from 'path';
import { Sandbox, leakSnapshot, requireRoot, sleep } from './support/env';

// process.terminal: the pty is made inside the container and its master handed to whoever
// listens on --console-socket (support/console_socket.py, as containerd's shim would).

let sb: Sandbox;
beforeAll(requireRoot);
beforeEach(() => (sb = new Sandbox()));
afterEach(() => sb.cleanup());

const SERVER = join(__dirname, 'support', 'console_socket.py');

interface Console {
  /** Resolves once the server has read the master to EIO (the container is gone). */
  done: Promise<{ code: number | null; out: string; err: string }>;
}

/** Starts the socket server at `path` and waits until it listens. */
async function consoleServer(path: string, input = ''): Promise<Console> {
  const child = spawn('python3', [SERVER, path, input, '15'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (err += d));
  const done = new Promise<{ code: number | null; out: string; err: string }>((r) => child.on('close', (code) => r({ code, out, err })));
  for (let i = 0; i < 250 && !out.startsWith('listening\n'); i++) {
    if (child.exitCode !== null) throw new Error(`console server exited: ${err}`);
    await sleep(20);
  }
  if (!out.startsWith('listening\n')) throw new Error(`console server did not start: ${err}`);
  return {
    done: done.then((r) => ({ ...r, out: r.out.slice('listening\n'.length) })),
  };
}

function ttyBundle(script: string): string {
  const bundle = sb.bundle((s) => {
    s.process.terminal = true;
    s.process.consoleSize = { height: 30, width: 100 };
    s.process.args = ['sh', '-c', script];
  });
  for (const a of ['tty', 'stty']) symlinkSync('busybox', join(bundle, 'rootfs', 'bin', a));
  return bundle;
}

async function waitStopped(id: string): Promise<void> {
  for (let i = 0; i < 250; i++) {
    const r = await sb.run(['state', id]);
    if (r.code === 0 && JSON.parse(r.stdout).status === 'stopped') return;
    await sleep(20);
  }
  throw new Error(`container ${id} did not stop`);
}

describe('terminal', () => {
  it('sends the pty master to --console-socket, with the console size, as the controlling tty', async () => {
    const sock = join(sb.dir, 'console.sock');
    const con = await consoleServer(sock);
    const id = sb.id();
    // -t 0: fd 0 is a terminal; the pty is the controlling one when /dev/tty opens.
    const bundle = ttyBundle('tty; echo hello-tty; stty size; [ -t 0 ] && echo stdin-is-tty; echo x > /dev/tty && echo ctty-ok');
    const created = await sb.run(['create', '--console-socket', sock, '--bundle', bundle, id]);
    expect(created).toMatchObject({ code: 0, stdout: '', stderr: '' });
    expect(await sb.run(['start', id])).toMatchObject({ code: 0, stderr: '' });
    const { code, out, err } = await con.done;
    expect(code).toBe(0);
    expect(err).toMatch(/^pty \/dev\/pts\/\d+\n$/);
    const ptyName = err.trim().split(' ')[1];
    // The pty's line discipline turns \n into \r\n.
    expect(out.split('\r\n')).toEqual([ptyName, 'hello-tty', '30 100', 'stdin-is-tty', 'x', 'ctty-ok', '']);
    expect(ptyName).toMatch(/^\/dev\/pts\/\d+$/);
    await waitStopped(id);
    expect((await sb.run(['delete', id])).code).toBe(0);
  });

  it('carries input written to the master into the container', async () => {
    const sock = join(sb.dir, 'console.sock');
    const con = await consoleServer(sock, 'typed words\n');
    const id = sb.id();
    expect((await sb.run(['run', '-d', '--console-socket', sock, '--bundle', ttyBundle('read line; echo "got <$line>"'), id])).code).toBe(0);
    const { code, out } = await con.done;
    expect(code).toBe(0);
    // The terminal echoes what was typed, then the shell's answer.
    expect(out).toBe('typed words\r\ngot <typed words>\r\n');
  });

  it('refuses terminal true without --console-socket, naming the flag, and leaves nothing', async () => {
    const before = leakSnapshot();
    const id = sb.id();
    const r = await sb.run(['create', '--bundle', ttyBundle('true'), id]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/--console-socket/);
    expect(r.stderr).toMatch(/process\.terminal/);
    expect((await sb.run(['list', '-q'])).stdout).toBe('');
    expect(existsSync(join(sb.root, id))).toBe(false);
    expect(existsSync(sb.root) ? readdirSync(sb.root) : []).toEqual([]);
    expect(leakSnapshot()).toEqual(before);
  });

  it('fails create when nothing listens on the console socket, and leaves nothing', async () => {
    const before = leakSnapshot();
    const id = sb.id();
    const sock = join(sb.dir, 'nobody.sock');
    const r = await sb.run(['create', '--console-socket', sock, '--bundle', ttyBundle('true'), id]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(`connect console socket "${sock}": No such file or directory`);
    expect((await sb.run(['list', '-q'])).stdout).toBe('');
    expect(existsSync(join(sb.root, id))).toBe(false);
    expect(leakSnapshot()).toEqual(before);
  });
});
