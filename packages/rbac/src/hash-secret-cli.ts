// The logic of the `bulwark-hash-secret` command (`bulwark-rbac hash-secret`), written against streams so it can be tested in-process.
import { generateSecret, hashSecret } from './secrets.js';

const USAGE = `Usage: bulwark-hash-secret [--sha256] [--generate]
       bulwark-rbac hash-secret [--sha256] [--generate]

Reads a secret from stdin (never from arguments, which other users and shell history can see)
and prints its hash for basicAuth({ users }) or staticApiKeys({ keys }).

  --sha256    SHA-256 instead of scrypt; only for random keys, never for passwords
  --generate  make a new random key instead of reading one; prints the key, then its hash

Roles: bulwark-rbac sync-roles --file roles.json (bulwark-rbac sync-roles --help).
`;

export interface CliIo {
  stdin: AsyncIterable<Buffer | string> & { isTTY?: boolean };
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown };
}

async function readAll(stdin: CliIo['stdin']): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stdin) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
  return Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '');
}

/** Runs the command; resolves the process exit code. */
export async function hashSecretCli(args: string[], io: CliIo): Promise<number> {
  const unknown = args.filter((a) => !['--sha256', '--generate', '--help', '-h'].includes(a));
  if (args.includes('--help') || args.includes('-h') || unknown.length > 0) {
    io.stderr.write(unknown.length ? `Unknown argument: ${unknown[0]}\n\n${USAGE}` : USAGE);
    return unknown.length ? 2 : 0;
  }
  const algorithm = args.includes('--sha256') ? 'sha256' : 'scrypt';
  try {
    if (args.includes('--generate')) {
      const key = generateSecret();
      io.stdout.write(`key:  ${key}\nhash: ${await hashSecret(key, { algorithm })}\n`);
      return 0;
    }
    if (io.stdin.isTTY) io.stderr.write('Type the secret, then Enter and Ctrl-D:\n');
    const secret = await readAll(io.stdin);
    if (secret === '') {
      io.stderr.write('No secret on stdin.\n');
      return 2;
    }
    io.stdout.write(`${await hashSecret(secret, { algorithm })}\n`);
    return 0;
  } catch (err) {
    io.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
}
