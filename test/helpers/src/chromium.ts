// Headless Chromium for the browser suites: which binary, which flags, and a launch that says why it failed.
import { SERVICES } from './services.js';

/**
 * Flags every launch gets. No sandbox, no GPU and no /dev/shm: CI containers run as root without
 * user namespaces or a display, with a small shared-memory mount. The rest keep a test browser
 * from calling home (background requests, component updates, sync, QUIC) and from first-run
 * prompts, so every request it makes is one the test caused.
 */
export const CHROMIUM_ARGS: readonly string[] = Object.freeze([
  '--no-sandbox',
  '--disable-gpu',
  '--disable-dev-shm-usage',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-quic',
  '--no-first-run',
  '--no-default-browser-check',
]);

/** What `launchChromium` passes to the launcher; a subset of playwright-core's `LaunchOptions`. */
export interface ChromiumLaunchOptions {
  executablePath: string;
  headless: true;
  args: string[];
  timeout: number;
}

/** Anything with playwright-core's `chromium.launch` shape. */
export interface ChromiumLauncher<Browser> {
  launch(options: ChromiumLaunchOptions): Promise<Browser>;
}

/** The Chromium binary the suites drive: `CHROMIUM_BIN`, else `chromium` on PATH, else `/usr/bin/chromium`. */
export function chromiumExecutable(): string {
  return SERVICES.chromium.url;
}

/**
 * Launches headless Chromium with {@link CHROMIUM_ARGS} plus `args`. Each launch gets a fresh
 * profile directory, made and removed by playwright-core, so no cookie, cache or permission
 * carries over between runs. Call `requireService('chromium')` first: it decides whether a
 * missing binary skips the suite or, under `CI=true`, fails it.
 *
 * @throws {Error} naming the binary when Chromium does not start.
 * @example
 * import { chromium } from 'playwright-core';
 * const browser = await launchChromium(chromium);
 */
export async function launchChromium<Browser>(
  launcher: ChromiumLauncher<Browser>,
  {
    args = [],
    executablePath = chromiumExecutable(),
  }: {
    /** Flags added after {@link CHROMIUM_ARGS}. */
    args?: readonly string[];
    /** The binary. Default {@link chromiumExecutable}. */
    executablePath?: string;
  } = {},
): Promise<Browser> {
  try {
    return await launcher.launch({
      executablePath,
      headless: true,
      args: [...CHROMIUM_ARGS, ...args],
      timeout: 60_000,
    });
  } catch (err) {
    const reason = err instanceof Error ? err.message.split('\n')[0] : String(err);
    throw new Error(
      `Chromium (${executablePath}) did not start: ${reason}. Run \`bash scripts/services.sh\` to install it, or set CHROMIUM_BIN.`,
      { cause: err },
    );
  }
}
