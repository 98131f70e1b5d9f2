// berth version: the client's version and, through the Version service, berthd's.
// With --format, a template over {Client, Server} (Server is null when berthd cannot be
// reached; the error is still reported, after the output).

import type { CommandSpec } from '../command';
import { formatOne } from '../output/format';
import { tabwrite } from '../output/tabwriter';
import { REVISION, VERSION } from '../../daemon/version';
import { hostPlatform } from '../../core/images/platform';

interface VersionInfo {
  Client: { Version: string; GitCommit: string; NodeVersion: string; Os: string; Arch: string };
  Server: { Version: string; GitCommit: string; Address: string } | null;
}

/** Docker's `version` layout: "key:" padded to 20 columns. */
function render(v: VersionInfo): string {
  const lines = ['Client:', ` Version:\t${v.Client.Version}`, ` Git commit:\t${v.Client.GitCommit}`, ` Node.js:\t${v.Client.NodeVersion}`, ` OS/Arch:\t${v.Client.Os}/${v.Client.Arch}`];
  if (v.Server) lines.push('', 'Server:', ` Version:\t${v.Server.Version}`, ` Git commit:\t${v.Server.GitCommit}`, ` Address:\t${v.Server.Address}`);
  return tabwrite(lines.join('\n') + '\n', { minWidth: 20, padding: 1 });
}

export const command: CommandSpec = {
  usage: '[OPTIONS]',
  summary: 'Show the berth version information',
  options: [{ long: 'format', short: 'f', type: 'string', description: 'Format output using a custom template: \'json\' or a Go template (e.g. "{{.Server.Version}}")' }],
  args: { min: 0, max: 0 },
  async run(ctx, parsed) {
    const platform = hostPlatform();
    const info: VersionInfo = {
      Client: { Version: VERSION, GitCommit: REVISION, NodeVersion: process.version, Os: platform.os, Arch: platform.architecture },
      Server: null,
    };
    let failure: unknown;
    try {
      const d = await ctx.daemon();
      const v = await d.version.Version({});
      info.Server = { Version: v.version, GitCommit: v.revision, Address: ctx.globals.host };
    } catch (err) {
      failure = err;
    }
    const format = parsed.string('format');
    ctx.io.stdout.write(formatOne(info, format) ?? render(info));
    if (failure) throw failure;
  },
};
