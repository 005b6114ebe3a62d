// Renders a benchmark report as an SVG bar chart and as Markdown tables for docs/benchmarks.md.
import { type BenchRow, type BenchSuiteResult, wantedText } from './types.js';

export interface BenchRun {
  generatedAt: string;
  machine: { cpus: number; cpuModel: string; memoryGb: number; node: string; platform: string };
  suites: BenchSuiteResult[];
}

/** A full run, and the suites run again on other Node.js majors (`run.ts --merge`). */
export interface BenchReport extends BenchRun {
  otherNodes?: BenchRun[];
}

const WIDTH = 900;
const LABEL = 330;
const BAR = 18;
const GAP = 6;
const BAR_MAX = WIDTH - LABEL - 150;

const xml = (text: string) =>
  text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

const formatOps = (ops: number) =>
  ops >= 10_000
    ? `${(ops / 1000).toFixed(0)}k/s`
    : ops >= 1000
      ? `${(ops / 1000).toFixed(1)}k/s`
      : `${ops.toFixed(0)}/s`;

/**
 * One panel per suite: a bar per row, scaled to the fastest row of that suite (suites measure
 * different things, so bars compare only within a panel), then the suite's targets.
 */
export function renderChart(report: BenchReport): string {
  const parts: string[] = [];
  let y = 56;
  const panels = [
    ...report.suites.map((suite) => ({ suite, title: suite.suite })),
    ...(report.otherNodes ?? []).flatMap((run) =>
      run.suites.map((suite) => ({ suite, title: `${suite.suite} (Node ${run.machine.node})` })),
    ),
  ];
  for (const { suite, title } of panels) {
    parts.push(`<text x="10" y="${y}" font-weight="bold" font-size="15">${xml(title)}</text>`);
    y += 10;
    const max = Math.max(...suite.rows.map((row) => row.opsPerSec), 1);
    for (const row of suite.rows) {
      const width = Math.max(1, (row.opsPerSec / max) * BAR_MAX);
      const isBaseline = row.name === suite.baseline;
      const fill = isBaseline
        ? '#9aa5b1'
        : row.name.toLowerCase().includes('bulwark')
          ? '#2f6fdd'
          : '#5b8def';
      const extra = [
        formatOps(row.opsPerSec),
        row.p99Ms === undefined ? '' : `p99 ${row.p99Ms.toFixed(2)} ms`,
        row.rssMb === undefined ? '' : `${row.rssMb.toFixed(0)} MB`,
        row.cpuUsPerRequest === undefined ? '' : `CPU ${row.cpuUsPerRequest.toFixed(0)} µs/req`,
      ]
        .filter(Boolean)
        .join(' · ');
      parts.push(
        `<text x="${LABEL - 8}" y="${y + BAR - 5}" text-anchor="end" font-size="12">${xml(row.name.length > 52 ? `${row.name.slice(0, 50)}…` : row.name)}</text>`,
        `<rect x="${LABEL}" y="${y}" width="${width.toFixed(1)}" height="${BAR}" fill="${fill}"/>`,
        `<text x="${(LABEL + width + 6).toFixed(1)}" y="${y + BAR - 5}" font-size="11" fill="#333">${xml(extra)}</text>`,
      );
      y += BAR + GAP;
    }
    for (const target of suite.targets) {
      parts.push(
        `<text x="${LABEL}" y="${y + 12}" font-size="11" fill="${target.met ? '#1a7f37' : '#cf222e'}">${target.met ? 'met' : 'missed'}: ${xml(target.name.length > 90 ? `${target.name.slice(0, 88)}…` : target.name)} = ${target.ratio.toFixed(2)} (target ${wantedText(target)})</text>`,
      );
      y += 16;
    }
    y += 18;
  }
  const m = report.machine;
  const others = (report.otherNodes ?? []).map((run) => run.machine.node).join(', ');
  const title = `Bulwark benchmarks · ${m.cpus} × ${m.cpuModel} · ${m.memoryGb} GB · Node ${m.node}${others ? ` (and ${others})` : ''} · ${report.generatedAt.slice(0, 16).replace('T', ' ')} UTC`;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${y}" viewBox="0 0 ${WIDTH} ${y}" font-family="system-ui, sans-serif">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    `<text x="10" y="24" font-size="14" font-weight="bold">${xml(title)}</text>`,
    `<text x="10" y="42" font-size="11" fill="#555">Operations or requests per second, bars scaled within each suite; grey is the suite's baseline.</text>`,
    ...parts,
    '</svg>',
    '',
  ].join('\n');
}

const cell = (value: number | undefined, digits = 2) =>
  value === undefined ? '' : value.toFixed(digits);

/** A Markdown table padded the way the repository's formatter pads it. */
function mdTable(header: string[], right: boolean[], rows: string[][]): string[] {
  const widths = header.map((h, i) =>
    Math.max(3, [...h].length, ...rows.map((row) => [...(row[i] ?? '')].length)),
  );
  const pad = (text: string, i: number) => {
    const fill = ' '.repeat(widths[i]! - [...text].length);
    return right[i] ? `${fill}${text}` : `${text}${fill}`;
  };
  const line = (cells: string[]) => `| ${cells.map(pad).join(' | ')} |`;
  const rule = `| ${widths.map((w, i) => (right[i] ? `${'-'.repeat(w - 1)}:` : '-'.repeat(w))).join(' | ')} |`;
  return [line(header), rule, ...rows.map(line)];
}

const measuredOn = (run: BenchRun) => {
  const m = run.machine;
  return `Measured ${run.generatedAt.slice(0, 16).replace('T', ' ')} UTC on ${m.cpus} × ${m.cpuModel}, ${m.memoryGb} GB, Node ${m.node} (${m.platform}).`;
};

/** One suite: its rows, its targets and its notes. */
function suiteTables(suite: BenchSuiteResult, heading: string): string[] {
  const lines = [`### ${heading}`, '', `Baseline: ${suite.baseline}.`, ''];
  const cpu = suite.rows.some((row) => row.cpuUsPerRequest !== undefined);
  const writes = suite.rows.some((row) => row.writesPerRequest !== undefined);
  const rss = suite.rows.some((row) => row.rssMb !== undefined);
  type Column = [string, boolean, (row: BenchRow) => string];
  const columns: Column[] = [
    ['row', false, (row) => row.name.replace(/\|/g, '\\|')],
    ['ops/s', true, (row) => row.opsPerSec.toFixed(0)],
    ['p50 ms', true, (row) => cell(row.p50Ms)],
    ['p99 ms', true, (row) => cell(row.p99Ms)],
  ];
  if (cpu) columns.push(['CPU µs/req', true, (row) => cell(row.cpuUsPerRequest, 1)]);
  if (writes) columns.push(['writes/req', true, (row) => cell(row.writesPerRequest, 2)]);
  if (rss || !cpu) columns.push(['RSS MB', true, (row) => cell(row.rssMb, 1)]);
  lines.push(
    ...mdTable(
      columns.map(([title]) => title),
      columns.map(([, right]) => right),
      suite.rows.map((row) => columns.map(([, , value]) => value(row))),
    ),
  );
  if (suite.targets.length > 0) {
    lines.push(
      '',
      ...mdTable(
        ['target', 'value', 'wanted', ''],
        [false, true, true, false],
        suite.targets.map((target) => [
          target.name.replace(/\|/g, '\\|'),
          target.ratio.toFixed(2),
          wantedText(target),
          target.met ? 'met' : '**missed**',
        ]),
      ),
    );
  }
  if (suite.notes?.length) {
    lines.push('');
    for (const note of suite.notes) lines.push(`- ${note}`);
  }
  lines.push('');
  return lines;
}

/**
 * Markdown: the machine, then per suite a table of rows and a table of targets, then the suites
 * run on other Node.js majors, each under its own machine line.
 */
export function renderTables(report: BenchReport): string {
  const lines = [measuredOn(report), ''];
  for (const suite of report.suites) lines.push(...suiteTables(suite, suite.suite));
  for (const run of report.otherNodes ?? []) {
    lines.push(`### On Node ${run.machine.node}`, '', measuredOn(run), '');
    for (const suite of run.suites) {
      lines.push(...suiteTables(suite, `${suite.suite} (Node ${run.machine.node})`));
    }
  }
  return lines.join('\n');
}

/**
 * The targets of `suite` on every Node.js the report has it for, side by side, with the machine
 * and the run of each column.
 */
export function renderTargets(report: BenchReport, suite: string): string {
  const runs = [report, ...(report.otherNodes ?? [])].filter((run) =>
    run.suites.some((s) => s.suite === suite),
  );
  if (runs.length === 0) return `No \`${suite}\` figures yet: run \`pnpm bench\`.\n`;
  const of = (run: BenchRun) => run.suites.find((s) => s.suite === suite)!;
  const names = of(runs[0]!).targets.map((target) => target.name);
  const lines = [
    ...runs.map(
      (run) => `- Node ${run.machine.node}: ${measuredOn(run).replace(/^Measured /, '')}`,
    ),
    '',
    ...mdTable(
      ['target', 'wanted', ...runs.map((run) => `Node ${run.machine.node}`)],
      [false, true, ...runs.map(() => true)],
      names.map((name) => {
        const first = of(runs[0]!).targets.find((target) => target.name === name)!;
        return [
          name.replace(/\|/g, '\\|'),
          wantedText(first),
          ...runs.map((run) => {
            const target = of(run).targets.find((t) => t.name === name);
            if (!target) return '';
            return `${target.ratio.toFixed(2)} ${target.met ? 'met' : '**missed**'}`;
          }),
        ];
      }),
    ),
    '',
  ];
  return lines.join('\n');
}

/** The `layers` suite's per-layer CPU costs as a table, or a line saying there are none yet. */
export function renderLayerCosts(report: BenchReport): string {
  const layers = report.suites.find((suite) => suite.suite === 'layers');
  if (!layers?.layerCosts) return 'No `layers` figures yet: run `pnpm bench`.\n';
  const empty = layers.rows[0]!;
  const noise = layers.layerCosts.some((cost) => cost.spreadUs !== undefined)
    ? " After ± is the median absolute deviation of a layer's cost over the rounds: the noise of this run on that figure. A layer whose cost is within its noise can come out negative."
    : '';
  const inProcess = layers.layerCosts.some((cost) => cost.inProcessUs !== undefined);
  const inProcessText = inProcess
    ? ' The second column is what the layer adds in one process without sockets (requests made in memory, every app in the same process taking turns in short batches): the JavaScript the layer runs, without what the kernel and the load generator add under load.'
    : '';
  const withSpread = (us: number | undefined, spread: number | undefined, sign = true) =>
    us === undefined
      ? ''
      : `${sign && us >= 0 ? '+' : ''}${us.toFixed(1)}${spread === undefined ? '' : ` ± ${spread.toFixed(1)}`}`;
  return [
    `${measuredOn(report)} ${layers.notes?.at(-1) ?? ''}${noise}${inProcessText}`,
    '',
    ...mdTable(
      inProcess
        ? ['layer', 'CPU µs per request', 'in one process', 'what it does per request']
        : ['layer', 'CPU µs per request', 'what it does per request'],
      inProcess ? [false, true, true, false] : [false, true, false],
      [
        [
          empty.name,
          cell(empty.cpuUsPerRequest, 1),
          ...(inProcess ? [withSpread(layers.inProcessBaseUs, undefined, false)] : []),
          'Express: the socket, HTTP parsing, nine router layers, the route and its JSON answer',
        ],
        ...layers.layerCosts.map((cost) => [
          cost.layer,
          withSpread(cost.cpuUs, cost.spreadUs),
          ...(inProcess ? [withSpread(cost.inProcessUs, cost.inProcessSpreadUs)] : []),
          cost.work,
        ]),
      ],
    ),
    '',
  ].join('\n');
}

/** Replaces the text between the `<!-- name:start -->` and `<!-- name:end -->` markers of a page. */
export function replaceBetween(page: string, name: string, text: string): string {
  const start = `<!-- ${name}:start -->`;
  const end = `<!-- ${name}:end -->`;
  const from = page.indexOf(start);
  const to = page.indexOf(end);
  if (from < 0 || to < from) return page;
  return `${page.slice(0, from + start.length)}\n\n${text}\n${page.slice(to)}`;
}
