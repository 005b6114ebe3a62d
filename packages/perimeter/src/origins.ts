// Parsing configured origins: scheme, host and optional port, nothing else.

/**
 * The serialized origin of `entry` when it is exactly an origin (`https://app.example.com`,
 * optionally with a port or one trailing slash), else `undefined`. Default ports are dropped,
 * as browsers drop them from the `Origin` header.
 */
export function exactOrigin(entry: unknown): string | undefined {
  if (typeof entry !== 'string' || entry.includes('*')) return undefined;
  let url: URL;
  try {
    url = new URL(entry);
  } catch {
    return undefined;
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return undefined;
  const bare = entry.endsWith('/') ? entry.slice(0, -1) : entry;
  if (
    url.username ||
    url.password ||
    url.search ||
    url.hash ||
    url.pathname !== '/' ||
    bare.includes('/', url.protocol.length + 2) ||
    bare.includes('?') ||
    bare.includes('#')
  ) {
    return undefined;
  }
  return url.origin;
}
