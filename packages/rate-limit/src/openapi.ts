// The `openapi` self-descriptions (contract version 1, docs/architecture.md) of rate-limit
// policies and the abuse guard, from which @bulwark/openapi documents their 429 answers.
import type { StandardHeaders } from './rate-limit.js';

const header = (description: string, type = 'string') => ({ description, schema: { type } });

const RETRY_AFTER = header('Seconds until the client may try again.', 'integer');

function limitHeaders(standard: StandardHeaders, legacy: boolean) {
  const headers: Record<string, { description: string; schema: { type: string } }> = {
    'Retry-After': RETRY_AFTER,
  };
  if (standard === 'draft-8' || standard === 'draft-7') {
    headers.RateLimit = header('The quota left and the seconds until it resets.');
    headers['RateLimit-Policy'] = header('The quota and its window.');
  } else if (standard === 'draft-6') {
    headers['RateLimit-Limit'] = header('Requests allowed per window.', 'integer');
    headers['RateLimit-Remaining'] = header('Requests left in this window.', 'integer');
    headers['RateLimit-Reset'] = header('Seconds until the window resets.', 'integer');
    headers['RateLimit-Policy'] = header('The quota and its window.');
  }
  if (legacy) {
    headers['X-RateLimit-Limit'] = header('Requests allowed per window.', 'integer');
    headers['X-RateLimit-Remaining'] = header('Requests left in this window.', 'integer');
    headers['X-RateLimit-Reset'] = header('When the window resets.', 'integer');
  }
  return headers;
}

const unavailable = (deny: boolean) =>
  deny
    ? [
        {
          status: 503,
          code: 'rate_limit_unavailable',
          title: 'the shared rate-limit store cannot be reached.',
          headers: { 'Retry-After': RETRY_AFTER },
        },
      ]
    : [];

/** A policy: its quota, the methods it counts and its 429 with the headers the policy sends. */
export function rateLimitDescription(policy: {
  name: string;
  windowMs: number;
  limit: unknown;
  methods: ReadonlySet<string> | undefined;
  standardHeaders: StandardHeaders;
  legacyHeaders: boolean;
  onStoreError: string;
  enabled: boolean;
}) {
  return Object.freeze({
    version: 1,
    kind: 'rate-limit',
    policy: policy.name,
    limit: typeof policy.limit === 'number' ? policy.limit : null,
    windowMs: policy.windowMs,
    methods: policy.methods ? Object.freeze([...policy.methods]) : null,
    enabled: policy.enabled,
    problems: Object.freeze([
      {
        status: 429,
        code: 'rate_limited',
        title: `the client is over the \`${policy.name}\` policy's limit.`,
        headers: limitHeaders(policy.standardHeaders, policy.legacyHeaders),
      },
      ...unavailable(policy.onStoreError === 'deny'),
    ]),
  });
}

/** The abuse guard: its 429 for a banned client. */
export function abuseGuardDescription(name: string, onStoreError: string) {
  return Object.freeze({
    version: 1,
    kind: 'abuse-guard',
    policy: name,
    problems: Object.freeze([
      {
        status: 429,
        code: 'client_banned',
        title: 'the client failed too often and is banned for a while.',
        headers: { 'Retry-After': RETRY_AFTER },
      },
      ...unavailable(onStoreError === 'deny'),
    ]),
  });
}
