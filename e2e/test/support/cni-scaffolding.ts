// The CNI plugins' shared iptables scaffolding: the bridge/firewall/portmap plugins create
// chains such as CNI-FORWARD, CNI-ADMIN and CNI-HOSTPORT-DNAT with jumps from the built-in
// chains the first time they run, and never remove them (they are shared by every CNI user on
// the host). A test run that brought them onto this machine takes them away again at its end
// (jest globalSetup/globalTeardown), so the suite leaves no iptables rule behind; chains that
// were there before the run are left alone.

import { execFileSync } from 'node:child_process';

const TABLES = ['filter', 'nat'] as const;

/** CNI-* chain names per table, as iptables-save lists them. */
export function cniChains(): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const table of TABLES) {
    let text = '';
    try {
      text = execFileSync('iptables-save', ['-t', table], { encoding: 'utf8' });
    } catch {
      text = '';
    }
    out[table] = text.split('\n').filter((l) => l.startsWith(':CNI-')).map((l) => l.slice(1).split(' ')[0]!);
  }
  return out;
}

const ipt = (table: string, args: string[]) => execFileSync('iptables', ['-w', '-t', table, ...args], { stdio: 'ignore' });

/** Removes the CNI-* chains that are not in `before` (and every jump to them). */
export function removeCniChains(before: Record<string, string[]>): string[] {
  const removed: string[] = [];
  for (const table of TABLES) {
    const now = cniChains()[table] ?? [];
    const gone = new Set(now.filter((c) => !(before[table] ?? []).includes(c)));
    if (!gone.size) continue;
    const rules = execFileSync('iptables', ['-w', '-t', table, '-S'], { encoding: 'utf8' }).split('\n');
    // jumps to them from chains that stay (built-in chains), removed rule by rule
    for (const rule of rules) {
      const m = /^-A (\S+) (.*) -j (CNI-\S+)(.*)$/.exec(rule);
      if (!m || gone.has(m[1]!) || !gone.has(m[3]!)) continue;
      ipt(table, ['-D', m[1]!, ...splitArgs(`${m[2]} -j ${m[3]}${m[4]}`)]);
    }
    for (const chain of gone) ipt(table, ['-F', chain]);
    for (const chain of gone) {
      ipt(table, ['-X', chain]);
      removed.push(`${table}/${chain}`);
    }
  }
  return removed;
}

/** iptables -S quotes arguments with spaces (comments): split as a shell would. */
function splitArgs(s: string): string[] {
  const out: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)"|(\S+)/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(s))) out.push(m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : m[2]!);
  return out;
}
