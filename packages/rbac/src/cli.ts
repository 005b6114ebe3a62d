#!/usr/bin/env node
// `bulwark-hash-secret`: prints the hash of a secret read from stdin, or of a newly generated key.
import { hashSecretCli } from './hash-secret-cli.js';

hashSecretCli(process.argv.slice(2), {
  stdin: process.stdin,
  stdout: process.stdout,
  stderr: process.stderr,
}).then((code) => {
  process.exitCode = code;
});
