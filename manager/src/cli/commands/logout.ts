// berth logout [SERVER]: removes the credentials stored for a registry (every key form that
// names it) from the client's config file. SERVER defaults to Docker Hub. Nothing to remove is
// not an error ("Not logged in to …"), as Docker's.

import type { CommandSpec } from '../command';
import { configKey, configPath, readConfig, registryHost, removeCredentials, writeConfig, DOCKER_HUB } from '../registry/config-file';

export const command: CommandSpec = {
  usage: '[SERVER]',
  summary: 'Log out from a registry',
  description: 'If no server is specified, Docker Hub (docker.io) is used.',
  options: [],
  args: { min: 0, max: 1 },
  async run(ctx, parsed) {
    const host = registryHost(parsed.args[0] ?? DOCKER_HUB);
    const file = configPath(ctx.io.env);
    const { config, removed } = removeCredentials(await readConfig(file), host);
    if (!removed) {
      ctx.io.stdout.write(`Not logged in to ${configKey(host)}\n`);
      return;
    }
    ctx.io.stdout.write(`Removing login credentials for ${configKey(host)}\n`);
    await writeConfig(file, config);
  },
};
