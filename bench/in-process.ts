// Runs apps in one process without sockets (in-process-child.ts) and returns each batch's CPU µs
// per request, for figures of what a layer's own JavaScript costs.
import { fork } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { childScript } from './app-process.js';
import type { InProcessOptions, InProcessResult } from './in-process-child.js';

/** Measures `options.specs` in one child process, its stdout (the apps' logs) to `logPath`. */
export async function measureInProcess(
  options: InProcessOptions,
  logPath: string,
): Promise<InProcessResult> {
  const out = openSync(logPath, 'a');
  try {
    const child = fork(childScript('in-process-child'), [JSON.stringify(options)], {
      stdio: ['ignore', out, 'inherit', 'ipc'],
      env: { ...process.env, NODE_ENV: 'production' },
    });
    return await new Promise<InProcessResult>((resolve, reject) => {
      let answer: { result?: InProcessResult; error?: string } | undefined;
      child.on('message', (message: typeof answer) => {
        answer = message;
      });
      child.on('error', reject);
      child.on('exit', (code, signal) => {
        if (answer?.result) resolve(answer.result);
        else
          reject(
            new Error(
              `in-process run failed: ${answer?.error ?? `exited (${signal ?? `code ${code}`})`}`,
            ),
          );
      });
    });
  } finally {
    closeSync(out);
  }
}
