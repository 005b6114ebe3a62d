#!/usr/bin/env node
// `bulwark-rbac` and `bulwark-hash-secret`: syncs roles from a file, or prints the hash of a secret.
import { rbacCli } from './rbac-cli.js';

rbacCli(
  process.argv.slice(2),
  { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr },
  { env: process.env },
).then((code) => {
  process.exitCode = code;
});
