// Prints the failed tests recorded in Vitest JSON reports (`--reporter=json --outputFile.json=F`),
// one line each with the first line of its error, so a CI log's last lines name what failed on
// which Node.js however much output followed it.
// Usage: node scripts/ci-failures.mjs LABEL=report.json [LABEL=report.json ...]
import { existsSync, readFileSync } from 'node:fs';
import { relative } from 'node:path';

const firstLine = (text) =>
  String(text ?? '')
    .split('\n')
    .map((line) => line.trim())
    .find((line) => line !== '') ?? '(no message)';

let failures = 0;
for (const arg of process.argv.slice(2)) {
  const at = arg.indexOf('=');
  const label = arg.slice(0, at);
  const file = arg.slice(at + 1);
  if (!existsSync(file)) {
    console.log(`${label}: no report in ${file} (the run did not start or did not finish)`);
    continue;
  }
  const report = JSON.parse(readFileSync(file, 'utf8'));
  for (const suite of report.testResults ?? []) {
    const path = relative(process.cwd(), suite.name);
    const failed = (suite.assertionResults ?? []).filter((test) => test.status === 'failed');
    for (const test of failed) {
      console.log(`${label}: ${path} > ${test.fullName}: ${firstLine(test.failureMessages?.[0])}`);
    }
    failures += failed.length;
    // A file can fail with no failed test in it (an error in a hook or at import).
    if (failed.length === 0 && suite.status === 'failed') {
      console.log(`${label}: ${path}: ${firstLine(suite.message)}`);
      failures += 1;
    }
  }
}
console.log(`failed tests: ${failures}`);
