// Writes docs/errors.md, the index of every error code, from the per-package pages in docs/errors/.
// `--check` exits 1 when docs/errors.md is out of date instead of writing it.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const docs = join(import.meta.dirname, '..', 'docs');
const pages = readdirSync(join(docs, 'errors'))
  .filter((f) => f.endsWith('.md'))
  .sort();

// The package pages group codes under `## <kind>` headings; the index names the kind.
function kindOf(section) {
  if (/^request/i.test(section)) return 'HTTP response';
  if (/^(configuration|construction)/i.test(section)) return 'thrown at construction';
  if (/^warning/i.test(section)) return 'warning';
  return section
    .replace(/\s*\(.*\)$/, '')
    .replace(/ codes$/, '')
    .toLowerCase();
}

const rows = [];
for (const page of pages) {
  const pkg = page.replace(/\.md$/, '');
  let section = '';
  for (const line of readFileSync(join(docs, 'errors', page), 'utf8').split('\n')) {
    const h2 = /^## (.+)$/.exec(line);
    if (h2) section = h2[1].trim();
    const h3 = /^### `?([A-Za-z0-9_]+)`?\s*$/.exec(line);
    if (!h3) continue;
    const code = h3[1];
    const kind = kindOf(section);
    rows.push({ code, pkg, kind, anchor: code.toLowerCase() });
  }
}

const text = [
  '# Error codes',
  '',
  'Every code a Bulwark package answers a request with, throws when it is misconfigured, or',
  'warns with. Request-time codes are the `code` member of the RFC 9457 problem details body (see',
  '[architecture.md](architecture.md#request-time-failures)); `ERR_BULWARK_*` codes are the `code` of',
  'the error a factory throws when it is called with bad options; run-time errors of the non-HTTP',
  'helpers (database, MQTT) carry codes too. Each links to its package page, which says when it',
  'happens and what to do. This page is generated from `docs/errors/*.md` by',
  '`node scripts/errors-index.mjs`.',
  '',
  '| code | package | kind |',
  '| --- | --- | --- |',
  ...rows.map(
    (r) =>
      `| [\`${r.code}\`](errors/${r.pkg}.md#${r.anchor}) | \`@bulwark/${r.pkg}\` | ${r.kind} |`,
  ),
  '',
].join('\n');

const target = join(docs, 'errors.md');
if (process.argv.includes('--check')) {
  let current = '';
  try {
    current = readFileSync(target, 'utf8');
  } catch {}
  if (current !== text) {
    process.stderr.write('docs/errors.md is out of date: run `node scripts/errors-index.mjs`\n');
    process.exit(1);
  }
} else {
  writeFileSync(target, text);
  process.stdout.write(`docs/errors.md: ${rows.length} codes from ${pages.length} pages\n`);
}
