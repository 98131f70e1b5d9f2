// A program under a real pty, driven by a script of steps: for `-t` paths (berth exec -it,
// berth attach, ctr run -t). python3's pty module does the terminal side: the pty is 30x100
// from the child's first look at it (set before exec), a resize changes the size and sends
// SIGWINCH as a terminal emulator does.

import { run } from './containerd';

/**
 * One step: wait for a pattern in what the terminal showed since the last match; type text;
 * resize the pty; type text again until a pattern shows up (for what arrives asynchronously,
 * like a resize passed through two ptys and two processes); or record under a name whether the
 * pty is in raw mode right now (ICANON and ECHO both off: the program put its terminal in raw).
 */
export type PtyStep = ['expect', string] | ['send', string] | ['resize', number, number] | ['until', string, string] | ['termios', string];

export interface PtySession {
  /** Everything the terminal showed, \r removed. */
  out: string;
  code: number;
  /** Index of the step that did not happen (null: all did). */
  failedStep: number | null;
  eof: boolean;
  /** 'termios' steps: name → raw mode at that moment. */
  raw: Record<string, boolean>;
}

const DRIVER = `
import os, pty, sys, select, time, json, fcntl, termios, struct, signal, re
argv, steps, timeout = json.loads(sys.argv[1]), json.loads(sys.argv[2]), float(sys.argv[3])
pid, fd = pty.fork()
if pid == 0:
    fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack('HHHH', 30, 100, 0, 0))
    os.execvp(argv[0], argv)
out = b''; mark = 0; eof = False; failed = None; modes = {}
deadline = time.time() + timeout
def pump(seconds):
    global out, eof
    end = min(time.time() + seconds, deadline)
    while not eof and time.time() < end:
        r, _, _ = select.select([fd], [], [], 0.05)
        if fd in r:
            try:
                d = os.read(fd, 4096)
            except OSError:
                d = b''
            if not d:
                eof = True
            out += d
def wait_for(pattern, seconds):
    global mark
    end = min(time.time() + seconds, deadline)
    while True:
        m = re.compile(pattern.encode()).search(out, mark)
        if m:
            mark = m.end()
            return True
        if eof or time.time() >= end:
            return False
        pump(0.05)
for i, step in enumerate(steps):
    if step[0] == 'expect':
        ok = wait_for(step[1], timeout)
    elif step[0] == 'send':
        os.write(fd, step[1].encode()); ok = True
    elif step[0] == 'resize':
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack('HHHH', step[1], step[2], 0, 0))
        os.kill(pid, signal.SIGWINCH); ok = True
    elif step[0] == 'termios':
        lflag = termios.tcgetattr(fd)[3]
        modes[step[1]] = (lflag & termios.ICANON) == 0 and (lflag & termios.ECHO) == 0; ok = True
    else:
        ok = False
        for _ in range(10):
            os.write(fd, step[1].encode())
            if wait_for(step[2], 0.5):
                ok = True
                break
    if not ok:
        failed = i
        break
while failed is None and not eof and time.time() < deadline:
    pump(0.1)
if not eof:
    os.kill(pid, signal.SIGKILL)
_, status = os.waitpid(pid, 0)
sys.stdout.write(json.dumps({'out': out.decode('utf8', 'replace'), 'code': os.waitstatus_to_exitcode(status), 'failedStep': failed, 'eof': eof, 'raw': modes}))
`;

/** busybox sh's prompt as root. */
export const SHELL_PROMPT = '# ';

/**
 * A person at a shell on the pty: the prompt, `tty`, `stty size` before and after a resize to
 * 40x120, optionally ctrl-c interrupting a `sleep 100` (the shell stays, `$?` is 130), then
 * `exit <code>`. 'termios' records under "attached" whether the client put the pty in raw mode.
 */
export function shellSteps(code: number, opts: { ctrlC?: boolean; checkRaw?: boolean } = {}): PtyStep[] {
  return [
    ['expect', SHELL_PROMPT],
    ...(opts.checkRaw ? [['termios', 'attached'] as PtyStep] : []),
    ['send', 'tty\n'],
    // ctr leaves OPOST on in its raw mode (containerd/console does), so a line may end \r\r\n.
    ['expect', '/dev/pts/[0-9]+\\r*\\n'],
    ['until', 'stty size\n', '\\n30 100\\r*\\n'],
    ['resize', 40, 120],
    ['until', 'stty size\n', '\\n40 120\\r*\\n'],
    ...(opts.ctrlC
      ? ([
          // ctrl-c: a byte in raw mode, the container's pty makes it SIGINT — sleep dies, sh stays
          ['send', 'sleep 100\n'],
          ['expect', 'sleep 100\r*\n'],
          // (again until it lands: a byte typed before sleep runs is the line editor's)
          ['until', '\x03', SHELL_PROMPT],
          ['send', 'echo rc-$?\n'],
          ['expect', 'rc-130'],
        ] as PtyStep[])
      : []),
    ['send', `exit ${code}\n`],
  ];
}

/** Runs argv on a 30x100 pty through the steps, then until it exits (killed at the timeout). */
export async function ptySession(argv: string[], steps: PtyStep[], timeoutMs = 20_000): Promise<PtySession> {
  const r = await run('python3', ['-c', DRIVER, JSON.stringify(argv), JSON.stringify(steps), String(timeoutMs / 1000)], { timeoutMs: timeoutMs + 10_000 });
  if (r.code !== 0) throw new Error(`pty driver failed (${r.code}): ${r.stderr}`);
  const s = JSON.parse(r.stdout) as PtySession;
  // What the terminal showed, for the failure message of the step that did not happen.
  if (s.failedStep !== null) process.stderr.write(`pty session ${argv.join(' ')}: step ${s.failedStep} failed; the terminal showed:\n${s.out}\n`);
  return { ...s, out: s.out.replace(/\r/g, '') };
}
