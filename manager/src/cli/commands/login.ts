// berth login [OPTIONS] [SERVER]: checks credentials against a registry through berthd
// (berth.images.v1.Images/Login) and stores them in the client's config file, Docker's
// config.json shape, mode 0600 (../registry/config-file.ts). SERVER defaults to Docker Hub.
//
// What is missing is asked for on a terminal (the user name with echo, the password without);
// without a terminal it is an error, as Docker's. With neither -u nor -p, stored credentials
// for the server are tried first ("Authenticating with existing credentials...").

import type { CommandSpec } from '../command';
import { CliError, UsageError, isGrpcError } from '../errors';
import type { Daemon } from '../daemon';
import { configPath, findCredentials, readConfig, registryHost, setCredentials, writeConfig, DOCKER_HUB, type StoredCredentials } from '../registry/config-file';
import { promptLine, promptSecret, readAllStdin } from '../registry/prompt';

const UNAVAILABLE = 14;

/** Asks berthd to log in; an answer of "no" is exit 1 with the registry's reason. */
async function login(d: Daemon, host: string, creds: { username: string; password?: string; identityToken?: string }): Promise<{ identityToken: string }> {
  try {
    const res = await d.berthImages.Login({ server: host, auth: { username: creds.username, password: creds.password ?? '', identityToken: creds.identityToken ?? '' } });
    return { identityToken: res.identityToken };
  } catch (err) {
    if (isGrpcError(err) && err.code !== UNAVAILABLE) throw new CliError(`error from berthd: ${(err.details || err.message).replace(/\s*\n\s*/g, '; ')}`);
    throw err;
  }
}

export const command: CommandSpec = {
  usage: '[OPTIONS] [SERVER]',
  summary: 'Log in to a registry',
  description:
    'Stores the credentials in $BERTH_CONFIG/config.json (else ~/.berth/config.json), mode 0600,\n' +
    "in Docker's config.json format. If no server is specified, Docker Hub (docker.io) is used.",
  options: [
    { long: 'password', short: 'p', type: 'string', description: 'Password' },
    { long: 'password-stdin', type: 'boolean', description: 'Take the password from stdin' },
    { long: 'username', short: 'u', type: 'string', description: 'Username' },
  ],
  args: { min: 0, max: 1 },
  async run(ctx, parsed) {
    const { io } = ctx;
    const server = parsed.args[0] ?? DOCKER_HUB;
    const host = registryHost(server);
    if (host === '') throw new UsageError(`invalid server ${JSON.stringify(server)}`, ctx.commandPath);
    let username = parsed.string('username')?.trim();
    let password = parsed.string('password');
    if (password !== undefined) {
      io.stderr.write('WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n');
      if (parsed.bool('password-stdin')) throw new UsageError('--password and --password-stdin are mutually exclusive', ctx.commandPath);
    }
    if (parsed.bool('password-stdin')) {
      if (!username) throw new UsageError('Must provide --username with --password-stdin', ctx.commandPath);
      password = await readAllStdin(io.stdin);
    }

    const file = configPath(io.env);
    const config = await readConfig(file);
    const stored = findCredentials(config, host, file);
    const d = await ctx.daemon();
    let result: { identityToken: string } | undefined;
    if (username === undefined && password === undefined && stored && (stored.password || stored.identityToken)) {
      io.stdout.write('Authenticating with existing credentials...\n');
      try {
        result = await login(d, host, stored);
        username = stored.username;
        password = stored.password;
      } catch (err) {
        if (!io.stdin.isTTY) throw err;
        io.stderr.write(`Login did not succeed, error: ${(err as Error).message}\n`);
      }
    }
    if (!result) {
      if (!username) {
        if (!io.stdin.isTTY) throw new CliError('Cannot perform an interactive login from a non TTY device');
        const answer = await promptLine(io.stdin, io.stdout, `Username${stored?.username ? ` (${stored.username})` : ''}: `);
        username = answer || stored?.username || '';
        if (!username) throw new CliError('Non-null Username Required');
      }
      if (!password) {
        password = await promptSecret(io.stdin, io.stdout, 'Password: ');
        if (!password) throw new CliError('Non-null Password Required');
      }
      result = await login(d, host, { username, password });
    }
    const creds: StoredCredentials = { username: username ?? '', password: password ?? '', identityToken: result.identityToken };
    await writeConfig(file, setCredentials(config, host, creds));
    io.stderr.write(`WARNING! Your password will be stored unencrypted in ${file}.\n`);
    io.stdout.write('Login Succeeded\n');
  },
};
