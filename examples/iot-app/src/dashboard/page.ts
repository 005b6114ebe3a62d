// The dashboard's HTML: the sign-in form and the signed-in page, every value escaped, every tag with the response's nonce.
import type { SecurityEvent } from './security-events.js';

const ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

/** Text safe in an HTML element or a quoted attribute. */
export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

/** What every page needs: the response's CSP nonce and the built asset URLs. */
export interface PageContext {
  nonce: string;
  script: string;
  style: string;
}

function layout(
  { nonce, script, style }: PageContext,
  title: string,
  body: string,
  { withScript }: { withScript: boolean },
): string {
  const n = escapeHtml(nonce);
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="${escapeHtml(style)}" nonce="${n}">
${withScript ? `<script src="${escapeHtml(script)}" nonce="${n}" defer></script>\n` : ''}</head>
<body>
${body}
</body>
</html>
`;
}

/** The sign-in form, with an error line when the last attempt failed. */
export function signInPage(context: PageContext, error?: string): string {
  const alert = error ? `<p class="alert" role="alert">${escapeHtml(error)}</p>\n` : '';
  return layout(
    context,
    'Sign in · Bulwark IoT',
    `<main class="sign-in">
<h1>Bulwark IoT</h1>
<p class="muted">Sign in with one of your tenant's API keys. The key is checked once; the browser keeps only a session that ends after 15 minutes.</p>
${alert}<form id="sign-in" method="post" action="/app/sign-in">
<label for="api-key">API key</label>
<input id="api-key" name="apiKey" type="password" autocomplete="off" spellcheck="false" required maxlength="200" placeholder="bwk_…">
<button type="submit">Sign in</button>
</form>
</main>`,
    { withScript: false },
  );
}

/** A device as the page lists it (a type, so a database row can be read as one). */
export type Device = { id: string; name: string };

/** What the signed-in page shows; a panel the key has no permission for says so. */
export interface DashboardView {
  tenantName: string;
  keyName: string;
  devices: Device[] | 'forbidden';
  events: SecurityEvent[] | 'forbidden';
  telemetry: boolean;
}

function needs(permission: string): string {
  return `<p class="muted">This key does not carry <code>${escapeHtml(permission)}</code>.</p>`;
}

function deviceList(devices: DashboardView['devices']): string {
  if (devices === 'forbidden') return needs('devices:read');
  const items = devices
    .map(
      (d) =>
        `<li><span class="device-name">${escapeHtml(d.name)}</span> <span class="device-id">${escapeHtml(d.id)}</span></li>`,
    )
    .join('\n');
  return `<ul class="devices" data-testid="device-list">
${items}
</ul>${devices.length === 0 ? '\n<p class="muted">No devices yet.</p>' : ''}`;
}

/** One security event as list item markup; the browser builds the same item with DOM calls. */
function eventItem(e: SecurityEvent): string {
  return `<li class="event event-${escapeHtml(e.kind)}"><time datetime="${escapeHtml(e.at)}">${escapeHtml(e.at.slice(11, 19))}</time> <span class="kind">${escapeHtml(e.kind)}</span> <span class="summary">${escapeHtml(e.summary)}${e.count > 1 ? ` <span class="count">×${e.count}</span>` : ''}</span></li>`;
}

function eventList(events: DashboardView['events']): string {
  if (events === 'forbidden') return needs('audit:read');
  return `<ol class="events" data-testid="security-events" data-source="/app/api/security-events">
${events.map(eventItem).join('\n')}
</ol>
<p class="muted empty-events"${events.length === 0 ? '' : ' hidden'}>No security events yet.</p>`;
}

function chart(telemetry: boolean): string {
  if (!telemetry) return needs('telemetry:read');
  return `<div class="chart-box"><canvas id="telemetry-chart" data-source="/app/api/telemetry" aria-label="Telemetry of your devices over the last 24 hours" role="img"></canvas></div>
<p class="muted chart-note" hidden></p>`;
}

/** The signed-in dashboard. */
export function dashboardPage(context: PageContext, view: DashboardView): string {
  return layout(
    context,
    `${view.tenantName} · Bulwark IoT`,
    `<header class="topbar">
<span class="brand">Bulwark IoT</span>
<span class="tenant">${escapeHtml(view.tenantName)}</span>
<span class="key muted">signed in with key “${escapeHtml(view.keyName)}”</span>
<form method="post" action="/app/sign-out" class="sign-out"><button id="sign-out" type="submit">Sign out</button></form>
</header>
<main class="grid">
<section class="card devices-card">
<h2>Devices</h2>
${deviceList(view.devices)}
</section>
<section class="card chart-card">
<h2>Telemetry, last 24 hours</h2>
${chart(view.telemetry)}
</section>
<section class="card events-card">
<h2>Security events</h2>
${eventList(view.events)}
</section>
</main>`,
    { withScript: true },
  );
}
