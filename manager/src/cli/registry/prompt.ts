// Asking the person at the terminal for what `berth login` is missing: a line with echo (the
// user name), a line without echo (the password: the terminal in raw mode, so the characters
// never show; backspace edits, ^C cancels, ^D on an empty line ends), as Docker's term.ReadPassword
// does. And reading a password piped to --password-stdin.

import type { Readable, Writable } from 'node:stream';
import { CliError } from '../errors';

type TtyIn = Readable & { isTTY?: boolean; setRawMode?: (raw: boolean) => unknown };

/** Reads chunks from `input` until `take` says it has a whole answer; the rest is left unread. */
function readUntil(input: Readable, take: (chunk: string) => 'more' | 'done' | 'cancel'): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const onData = (chunk: Buffer | string) => {
      const verdict = take(chunk.toString());
      if (verdict === 'more') return;
      cleanup();
      resolve(verdict === 'done');
    };
    const onEnd = () => {
      cleanup();
      resolve(true);
    };
    const onError = (err: Error) => {
      cleanup();
      reject(err);
    };
    const cleanup = () => {
      input.off('data', onData);
      input.off('end', onEnd);
      input.off('error', onError);
      input.pause();
    };
    input.on('data', onData);
    input.once('end', onEnd);
    input.once('error', onError);
    input.resume();
  });
}

/** Shows `prompt` and reads one line with echo (the terminal's own line editing). */
export async function promptLine(input: Readable, output: Writable, prompt: string): Promise<string> {
  output.write(prompt);
  let line = '';
  await readUntil(input, (chunk) => {
    const nl = chunk.search(/[\r\n]/);
    if (nl === -1) {
      line += chunk;
      return 'more';
    }
    line += chunk.slice(0, nl);
    return 'done';
  });
  return line.trim();
}

/** Shows `prompt` and reads one line without echo; a newline is written after it. */
export async function promptSecret(input: TtyIn, output: Writable, prompt: string): Promise<string> {
  if (!input.isTTY || !input.setRawMode) throw new CliError('Cannot perform an interactive login from a non TTY device');
  output.write(prompt);
  input.setRawMode(true);
  let secret = '';
  let ok: boolean;
  try {
    ok = await readUntil(input, (chunk) => {
      for (const ch of chunk) {
        if (ch === '\r' || ch === '\n') return 'done';
        if (ch === '\x03') return 'cancel'; // ^C
        if (ch === '\x04') {
          if (secret === '') return 'done'; // ^D on an empty line: end of input
          continue;
        }
        if (ch === '\x7f' || ch === '\b') secret = [...secret].slice(0, -1).join('');
        else if (ch === '\x15') secret = ''; // ^U: kill the line
        else if (ch >= ' ') secret += ch;
      }
      return 'more';
    });
  } finally {
    input.setRawMode(false);
    output.write('\n');
  }
  if (!ok) throw new CliError('login canceled', 130);
  return secret;
}

/** Everything on stdin, without the newlines it ends with (Docker's --password-stdin). */
export async function readAllStdin(input: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of input) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk)));
  return Buffer.concat(chunks).toString('utf8').replace(/[\r\n]+$/, '');
}
