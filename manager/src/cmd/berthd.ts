#!/usr/bin/env node
// berthd: the manager daemon. Flags, config file, logging, signals; the rest is daemon/.
//
//   berthd [--root DIR] [--state DIR] [--address SOCKET] [--config FILE] [--log-level LEVEL]
//   berthd config default      prints the default configuration (a valid config file)
//   berthd --version
//
// Exit status: 0 after SIGTERM/SIGINT and an orderly stop; 1 when it cannot start (bad
// config, another berthd on the root, a required plugin failed, the socket in use).

import { promises as fsp } from 'fs';
import { parseArgs } from 'util';
import pino from 'pino';
import { ConfigError, defaultConfig, loadConfig } from '../daemon/config';
import { Daemon } from '../daemon/daemon';
import { REVISION, VERSION } from '../daemon/version';

const DEFAULT_CONFIG_FILE = '/etc/berth/berthd.json';

const USAGE = `usage: berthd [options]
       berthd config default

options:
  --root DIR          persistent data (default /var/lib/berth)
  --state DIR         runtime data (default /run/berth)
  -a, --address PATH  the gRPC socket (default /run/berth/berthd.sock)
  -c, --config FILE   JSON config file (default ${DEFAULT_CONFIG_FILE}, when it exists)
  -l, --log-level L   trace, debug, info, warn, error, fatal or silent (default info)
  -v, --version       print the version
  -h, --help          print this help
`;

function fatal(message: string): never {
  process.stderr.write(`berthd: ${message}\n`);
  process.exit(1);
}

async function main(argv: string[]): Promise<void> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        root: { type: 'string' },
        state: { type: 'string' },
        address: { type: 'string', short: 'a' },
        config: { type: 'string', short: 'c' },
        'log-level': { type: 'string', short: 'l' },
        version: { type: 'boolean', short: 'v' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    fatal(`${(err as Error).message}\n${USAGE}`);
  }
  const { values: v, positionals } = parsed;
  if (v.help) {
    process.stdout.write(USAGE);
    return;
  }
  if (v.version) {
    process.stdout.write(`berthd ${VERSION} ${REVISION}\n`);
    return;
  }
  if (positionals.length > 0) {
    if (positionals[0] === 'config' && positionals[1] === 'default' && positionals.length === 2) {
      process.stdout.write(JSON.stringify(defaultConfig(), null, 2) + '\n');
      return;
    }
    fatal(`unexpected argument ${JSON.stringify(positionals.join(' '))}\n${USAGE}`);
  }

  let file = v.config;
  if (file === undefined && (await fsp.access(DEFAULT_CONFIG_FILE).then(() => true, () => false))) file = DEFAULT_CONFIG_FILE;
  let config;
  try {
    config = await loadConfig(file, { root: v.root, state: v.state, address: v.address, logLevel: v['log-level'] });
  } catch (err) {
    if (err instanceof ConfigError) fatal(err.message);
    throw err;
  }

  // JSON lines on stderr (journald keeps them); synchronous so nothing is lost at exit.
  const log = pino({ level: config.log_level, base: { pid: process.pid } }, pino.destination({ fd: 2, sync: true }));
  log.info({ version: VERSION, revision: REVISION, config: file ?? null }, 'berthd starting');

  // Node would start its inspector on SIGUSR1 and die on SIGHUP: neither, for a root daemon.
  process.on('SIGUSR1', () => log.info('SIGUSR1 ignored'));
  process.on('SIGHUP', () => log.info('SIGHUP ignored'));
  // A signal during start-up: stop as soon as the daemon exists.
  let stopRequested: NodeJS.Signals | undefined;
  let daemon: Daemon | undefined;
  const onSignal = (sig: NodeJS.Signals) => {
    if (stopRequested) {
      log.warn({ signal: sig }, 'second signal: exiting now');
      process.exit(1);
    }
    stopRequested = sig;
    log.info({ signal: sig }, 'stop requested');
    if (daemon) void stop(daemon);
  };
  const stop = async (d: Daemon) => {
    const errors = await d.stop();
    for (const err of errors) log.warn({ err }, 'while stopping');
    process.exit(0);
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);

  try {
    daemon = await Daemon.start({ config, log });
  } catch (err) {
    log.fatal({ err }, 'berthd cannot start');
    fatal((err as Error).message);
  }
  if (stopRequested) await stop(daemon);
}

process.on('unhandledRejection', (err) => {
  process.stderr.write(`berthd: unhandled rejection: ${(err as Error)?.stack ?? String(err)}\n`);
  process.exit(1);
});

main(process.argv.slice(2)).catch((err) => fatal((err as Error)?.stack ?? String(err)));
