// Renders a benchmark report as an SVG bar chart and as Markdown tables for docs/benchmarks.md.
import type { BenchSuiteResult } from './types.js';

export interface BenchReport {
  generatedAt: string;
  machine: { cpus: number; cpuModel: string; memoryGb: number; node: string; platform: string };
  suites: BenchSuiteResult[];
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
  for (const suite of report.suites) {
    parts.push(
      `<text x="10" y="${y}" font-weight="bold" font-size="15">${xml(suite.suite)}</text>`,
    );
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
        `<text x="${LABEL}" y="${y + 12}" font-size="11" fill="${target.met ? '#1a7f37' : '#cf222e'}">${target.met ? 'met' : 'missed'}: ${xml(target.name)} = ${target.ratio.toFixed(2)} (target ≥ ${target.min})</text>`,
      );
      y += 16;
    }
    y += 18;
  }
  const m = report.machine;
  const title = `Bulwark benchmarks · ${m.cpus} × ${m.cpuModel} · ${m.memoryGb} GB · Node ${m.node} · ${report.generatedAt.slice(0, 16).replace('T', ' ')} UTC`;
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

/** Markdown: the machine, then per suite a table of rows and a table of targets. */
export function renderTables(report: BenchReport): string {
  const m = report.machine;
  const lines = [
    `Measured ${report.generatedAt.slice(0, 16).replace('T', ' ')} UTC on ${m.cpus} × ${m.cpuModel}, ${m.memoryGb} GB, Node ${m.node} (${m.platform}).`,
    '',
  ];
  for (const suite of report.suites) {
    lines.push(`### ${suite.suite}`, '', `Baseline: ${suite.baseline}.`, '');
    lines.push(
      ...mdTable(
        ['row', 'ops/s', 'p50 ms', 'p99 ms', 'RSS MB'],
        [false, true, true, true, true],
        suite.rows.map((row) => [
          row.name.replace(/\|/g, '\\|'),
          row.opsPerSec.toFixed(0),
          cell(row.p50Ms),
          cell(row.p99Ms),
          cell(row.rssMb, 1),
        ]),
      ),
    );
    if (suite.targets.length > 0) {
      lines.push(
        '',
        ...mdTable(
          ['target', 'ratio', 'wanted', ''],
          [false, true, true, false],
          suite.targets.map((target) => [
            target.name.replace(/\|/g, '\\|'),
            target.ratio.toFixed(2),
            `≥ ${target.min}`,
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
  }
  return lines.join('\n');
}

/** Replaces the text between the results markers of a Markdown page. */
export function replaceResults(page: string, tables: string): string {
  const start = '<!-- results:start -->';
  const end = '<!-- results:end -->';
  const from = page.indexOf(start);
  const to = page.indexOf(end);
  if (from < 0 || to < from) return page;
  return `${page.slice(0, from + start.length)}\n\n${tables}\n${page.slice(to)}`;
}
