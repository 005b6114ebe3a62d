// The `bulwark-rbac` command (also installed as `bulwark-hash-secret`): picks the subcommand.
import { type CliIo, hashSecretCli } from './hash-secret-cli.js';
import { type SyncRolesCliContext, syncRolesCli } from './sync-roles-cli.js';

/**
 * Runs `sync-roles` or `hash-secret` when the first argument names one; anything else is
 * `bulwark-hash-secret`'s own arguments, as before the subcommands existed.
 */
export function rbacCli(args: string[], io: CliIo, context: SyncRolesCliContext): Promise<number> {
  const [command, ...rest] = args;
  if (command === 'sync-roles') return syncRolesCli(rest, io, context);
  if (command === 'hash-secret') return hashSecretCli(rest, io);
  return hashSecretCli(args, io);
}
