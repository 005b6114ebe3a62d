#!/usr/bin/env node
// Entry point of the `bulwark-certs` command.
import { runCertsCli } from './certs-cli.js';

runCertsCli(
  process.argv.slice(2),
  (line) => console.log(line),
  (line) => console.error(line),
).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    console.error(error instanceof Error ? error.message : String(error));
    process.exitCode = 1;
  },
);
