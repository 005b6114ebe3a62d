// The dashboard's browser side: draws the telemetry chart and refreshes the security events, with DOM calls only (no HTML strings).
import {
  Chart,
  type ChartDataset,
  Legend,
  LinearScale,
  LineController,
  LineElement,
  PointElement,
  Tooltip,
} from 'chart.js';

Chart.register(LineController, LineElement, PointElement, LinearScale, Legend, Tooltip);

interface Series {
  deviceId: string;
  deviceName: string;
  metric: string;
  points: { t: string; v: number }[];
}

interface SecurityEvent {
  id: number;
  at: string;
  kind: string;
  summary: string;
  own: boolean;
  count: number;
}

const COLOURS = ['#2563eb', '#db2777', '#059669', '#d97706', '#7c3aed', '#0891b2', '#dc2626'];
const EVENTS_EVERY_MS = 15_000;

async function getJson<T>(url: string): Promise<T> {
  const response = await fetch(url, {
    credentials: 'same-origin',
    headers: { accept: 'application/json' },
  });
  if (response.status === 401) {
    // The session ended (expired, signed out elsewhere, key revoked): back to the sign-in form.
    window.location.assign('/app');
    throw new Error('signed out');
  }
  if (!response.ok) throw new Error(`${url} answered ${response.status}`);
  return (await response.json()) as T;
}

function time(ms: number): string {
  return new Date(ms).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

/** An event's time in the browser's zone, like the chart's (the server writes UTC). */
function eventTime(iso: string): string {
  return new Date(iso).toLocaleTimeString([], {
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
  });
}

function note(text: string): void {
  const element = document.querySelector<HTMLElement>('.chart-note');
  if (!element) return;
  element.textContent = text;
  element.hidden = false;
}

async function drawChart(canvas: HTMLCanvasElement): Promise<void> {
  const source = canvas.dataset.source ?? '/app/api/telemetry';
  let series: Series[] = [];
  try {
    series = (await getJson<{ series: Series[] }>(source)).series;
  } catch {
    note('Telemetry could not be loaded.');
  }
  if (series.length === 0) note('No readings in the last 24 hours.');
  const datasets: ChartDataset<'line', { x: number; y: number }[]>[] = series.map((s, i) => {
    const colour = COLOURS[i % COLOURS.length]!;
    return {
      label: `${s.deviceName} · ${s.metric}`,
      data: s.points.map((p) => ({ x: Date.parse(p.t), y: p.v })),
      borderColor: colour,
      backgroundColor: colour,
      borderWidth: 2,
      pointRadius: s.points.length > 60 ? 0 : 2,
      tension: 0.25,
    };
  });
  const now = Date.now();
  new Chart(canvas, {
    type: 'line',
    data: { datasets },
    options: {
      // Drawn once, at once: the page marks the chart ready after that first draw.
      animation: false,
      maintainAspectRatio: false,
      parsing: false,
      interaction: { mode: 'nearest', intersect: false },
      scales: {
        x: {
          type: 'linear',
          ...(datasets.length === 0 ? { min: now - 24 * 3_600_000, max: now } : {}),
          ticks: { callback: (value) => time(Number(value)), maxTicksLimit: 8 },
          grid: { color: '#eef0f4' },
        },
        y: { grid: { color: '#eef0f4' } },
      },
      plugins: {
        legend: { position: 'bottom', labels: { boxWidth: 12, usePointStyle: true } },
        tooltip: {
          callbacks: {
            title: (items) => (items[0] ? new Date(items[0].parsed.x ?? 0).toLocaleString() : ''),
          },
        },
      },
    },
    plugins: [
      {
        id: 'ready',
        afterRender(chart) {
          chart.canvas.dataset.ready = 'true';
        },
      },
    ],
  });
}

function eventItem(event: SecurityEvent): HTMLLIElement {
  const item = document.createElement('li');
  item.className = `event event-${event.kind}`;
  const at = document.createElement('time');
  at.dateTime = event.at;
  at.textContent = eventTime(event.at);
  const kind = document.createElement('span');
  kind.className = 'kind';
  kind.textContent = event.kind;
  const summary = document.createElement('span');
  summary.className = 'summary';
  summary.textContent = event.summary;
  if (event.count > 1) {
    const count = document.createElement('span');
    count.className = 'count';
    count.textContent = `×${event.count}`;
    summary.append(' ', count);
  }
  item.append(at, ' ', kind, ' ', summary);
  return item;
}

async function refreshEvents(list: HTMLOListElement): Promise<void> {
  const source = list.dataset.source ?? '/app/api/security-events';
  const { items } = await getJson<{ items: SecurityEvent[] }>(source);
  list.replaceChildren(...items.map(eventItem));
  const empty = document.querySelector<HTMLElement>('.empty-events');
  if (empty) empty.hidden = items.length > 0;
}

function start(): void {
  const canvas = document.querySelector<HTMLCanvasElement>('canvas#telemetry-chart');
  if (canvas) void drawChart(canvas);
  const list = document.querySelector<HTMLOListElement>('[data-testid=security-events]');
  if (list) {
    for (const at of list.querySelectorAll('time')) at.textContent = eventTime(at.dateTime);
    setInterval(() => {
      refreshEvents(list).catch(() => {});
    }, EVENTS_EVERY_MS);
  }
}

start();
