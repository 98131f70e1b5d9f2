import { spawn } from 'child_process';
import { existsSync, readdirSync, symlinkSync } from 'fs';
import { join } from 'path';
import { RUNTIME, Sandbox, requireRoot, sleep } from './support/env';

// process.terminal without a console socket, in the foreground: stage0 relays the
// container's pty to berth-runtime's own terminal. The caller's terminal here is a pty that
// a small python3 program holds (as a terminal emulator would), with a known window size.

let sb: Sandbox;
beforeAll(requireRoot);
beforeEach(() => (sb = new Sandbox()));
afterEach(() => sb.cleanup());

// argv[1]: JSON {argv, rows, cols, steps: [{after, send?, resize?}], timeout}. Runs argv on a
// new pty of that size; each step waits until the output contains `after`, then types `send`
// or resizes the terminal. Prints JSON {status, output, lflag} when the program has exited
// and its output is drained: lflag is the terminal's local modes afterwards.
const DRIVER = String.raw`
import fcntl, json, os, pty, select, struct, sys, termios, time
cfg = json.loads(sys.argv[1])
def winsize(fd, rows, cols):
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack('HHHH', rows, cols, 0, 0))
pid, fd = pty.fork()
if pid == 0:
    winsize(0, cfg['rows'], cfg['cols'])
    os.execv(cfg['argv'][0], cfg['argv'])
deadline = time.monotonic() + cfg['timeout']
out = b''
steps = list(cfg['steps'])
status = None
while True:
    while steps and steps[0]['after'].encode() in out:
        step = steps.pop(0)
        if 'resize' in step:
            winsize(fd, *step['resize'])
        if 'send' in step:
            os.write(fd, step['send'].encode())
    left = deadline - time.monotonic()
    if left <= 0:
        os.kill(pid, 9)
        print(json.dumps({'status': 'timeout', 'output': out.decode(errors='replace')}))
        sys.exit(0)
    r, _, _ = select.select([fd], [], [], min(left, 0.05))
    if r:
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            chunk = b''
        if not chunk:
            break
        out += chunk
    elif status is None:
        done, st = os.waitpid(pid, os.WNOHANG)
        if done:
            status = os.waitstatus_to_exitcode(st)
if status is None:
    status = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
lflag = termios.tcgetattr(fd)[3]
print(json.dumps({'status': status, 'output': out.decode(errors='replace'), 'lflag': lflag}))
`;

interface Step {
  after: string;
  send?: string;
  resize?: [number, number];
}

interface Driven {
  status: number | 'timeout';
  output: string;
  lflag: number;
}

/** Runs berth-runtime ARGS on a pty of rows x cols, following `steps`. */
function onPty(args: string[], rows: number, cols: number, steps: Step[] = []): Promise<Driven> {
  const cfg = { argv: [RUNTIME, '--root', sb.root, ...args], rows, cols, steps, timeout: 20 };
  return new Promise((resolve, reject) => {
    const py = spawn('python3', ['-c', DRIVER, JSON.stringify(cfg)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    py.stdout.on('data', (d) => (out += d));
    py.stderr.on('data', (d) => (err += d));
    py.on('close', (code) => {
      if (code !== 0) reject(new Error(`pty driver failed (${code}): ${err}`));
      else resolve(JSON.parse(out));
    });
  });
}

// termios local-mode bits (asm-generic).
const ICANON = 0o2;
const ECHO = 0o10;

function ttyBundle(args: string[]): string {
  const bundle = sb.bundle((s) => {
    s.process.terminal = true;
    s.process.args = args;
  });
  for (const a of ['tty', 'stty']) symlinkSync('busybox', join(bundle, 'rootfs', 'bin', a));
  return bundle;
}

describe('run in the foreground with a terminal and no console socket', () => {
  it("attaches the container's pty: output, tty name, the caller's window size, exit status", async () => {
    const r = await onPty(['run', '--bundle', ttyBundle(['sh', '-c', 'echo hello; tty; stty size; [ -t 0 ] && [ -t 1 ] && echo both-tty; exit 7']), sb.id()], 33, 101);
    expect(r.status).toBe(7);
    const lines = r.output.split('\r\n');
    expect(lines[0]).toBe('hello');
    expect(lines[1]).toMatch(/^\/dev\/pts\/\d+$/);
    expect(lines.slice(2)).toEqual(['33 101', 'both-tty', '']);
    // The caller's terminal is back in cooked mode after the raw relay.
    expect(r.lflag & (ICANON | ECHO)).toBe(ICANON | ECHO);
    expect((await sb.run(['list', '-q'])).stdout).toBe('');
  });

  it('carries typed input in, echoed once (the caller is in raw mode), and ^C to the container', async () => {
    const script = 'echo ready; read line; echo "got <$line>"; trap "echo interrupted; exit 3" INT; echo waiting; while :; do sleep 0.05; done';
    const r = await onPty(['run', '--bundle', ttyBundle(['sh', '-c', script]), sb.id()], 24, 80, [
      { after: 'ready\r\n', send: 'typed words\n' },
      { after: 'waiting\r\n', send: '\x03' },
    ]);
    // The container's pty echoes; had our side not been raw, the words would appear twice.
    expect(r.output).toBe('ready\r\ntyped words\r\ngot <typed words>\r\nwaiting\r\n^Cinterrupted\r\n');
    expect(r.status).toBe(3);
  });

  it("follows the caller's window size when it changes", async () => {
    const script = 'trap "stty size; exit 0" WINCH; echo ready; while :; do sleep 0.05; done';
    const r = await onPty(['run', '--bundle', ttyBundle(['sh', '-c', script]), sb.id()], 24, 80, [{ after: 'ready\r\n', resize: [50, 132] }]);
    expect(r.output).toBe('ready\r\n50 132\r\n');
    expect(r.status).toBe(0);
  });

  it('still refuses a detached run without a console socket, leaving nothing', async () => {
    const id = sb.id();
    const r = await sb.run(['run', '-d', '--bundle', ttyBundle(['true']), id]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/process\.terminal is true: a --console-socket is required/);
    expect(existsSync(sb.root) ? readdirSync(sb.root) : []).toEqual([]);
  });
});

describe('exec -t', () => {
  it('gives the process its own pty on our terminal: tty, size, input, exit status', async () => {
    const id = sb.id();
    // The container itself runs without a terminal; only the exec'd process gets one.
    const plain = sb.bundle((s) => (s.process.args = ['sleep', '300']));
    for (const a of ['tty', 'stty']) symlinkSync('busybox', join(plain, 'rootfs', 'bin', a));
    expect((await sb.run(['run', '-d', '--bundle', plain, id])).code).toBe(0);

    const script = 'tty; stty size; echo ready; read line; echo "got <$line>"; exit 5';
    const r = await onPty(['exec', '-t', id, 'sh', '-c', script], 40, 120, [{ after: 'ready\r\n', send: 'hi there\n' }]);
    const lines = r.output.split('\r\n');
    expect(lines[0]).toMatch(/^\/dev\/pts\/\d+$/);
    expect(lines.slice(1)).toEqual(['40 120', 'ready', 'hi there', 'got <hi there>', '']);
    expect(r.status).toBe(5);
    expect(r.lflag & (ICANON | ECHO)).toBe(ICANON | ECHO);

    // Without -t no pty is made: the process gets our stdio as it is, a terminal from
    // another devpts instance that has no name in the container's /dev/pts.
    const noTty = await onPty(['exec', id, 'sh', '-c', '[ -t 0 ] && echo inherited-tty; tty; exit 0'], 40, 120);
    expect(noTty.output).toBe('inherited-tty\r\nnot a tty\r\n');
  });

  it('exec -t --detach --console-socket sends the pty master there (as containerd does)', async () => {
    const id = sb.id();
    const plain = sb.bundle((s) => (s.process.args = ['sleep', '300']));
    expect((await sb.run(['run', '-d', '--bundle', plain, id])).code).toBe(0);
    const sock = join(sb.dir, 'console.sock');
    const server = spawn('python3', [join(__dirname, 'support', 'console_socket.py'), sock, 'typed\n', '15'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    server.stdout.on('data', (d) => (out += d));
    server.stderr.on('data', (d) => (err += d));
    const done = new Promise<number | null>((r) => server.on('close', (code) => r(code)));
    for (let i = 0; i < 250 && !out.startsWith('listening\n'); i++) await sleep(20);
    const r = await sb.run(['exec', '-t', '-d', '--console-socket', sock, id, 'sh', '-c', 'read line; echo "got <$line>"']);
    expect(r).toMatchObject({ code: 0, stdout: '', stderr: '' });
    expect(await done).toBe(0);
    expect(err).toMatch(/^pty \/dev\/pts\/\d+\n$/);
    expect(out).toBe('listening\ntyped\r\ngot <typed>\r\n');
  });
});
