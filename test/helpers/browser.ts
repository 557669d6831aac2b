import { existsSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';

/** Debian's `chromium` package; CHROMIUM_PATH points elsewhere (a laptop, another distribution). */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/**
 * Headless, and no background traffic: without the networking flags Chromium phones home at
 * start (component updates, sync, QUIC probes), and on a machine with a closed network those
 * attempts get the browser's own connections refused.
 */
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
] as const;

/**
 * Call in a suite's `before`: skips the suite, loudly, when Chromium is not installed; with
 * CI=true a missing Chromium fails the run instead (as requireService does for Redis).
 */
export function requireChromium(ctx: Mocha.Context): void {
  if (existsSync(CHROMIUM_PATH)) return;
  const what = `Chromium is not installed at ${CHROMIUM_PATH}`;
  if (process.env.CI === 'true')
    throw new Error(`${what}; CI needs it for the browser tests (apt-get install chromium)`);
  console.warn(
    `\n  !!! SKIPPED "${ctx.test?.parent?.fullTitle() ?? 'suite'}": ${what}.\n  !!! Install it with: apt-get install chromium (or set CHROMIUM_PATH)\n`,
  );
  ctx.skip();
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM_PATH, args: [...CHROMIUM_ARGS], timeout: 30_000 });
}

/** What went wrong inside a page: uncaught exceptions and console errors, labelled. */
export interface PageProblems {
  readonly exceptions: string[];
  readonly consoleErrors: string[];
}

export function watchPage(page: Page, label: string): PageProblems {
  const problems: PageProblems = { exceptions: [], consoleErrors: [] };
  page.on('pageerror', (err) => problems.exceptions.push(`[${label}] ${err.message}`));
  page.on('console', (msg) => {
    if (msg.type() === 'error')
      problems.consoleErrors.push(`[${label}] ${msg.text()} (${msg.location().url || 'no url'})`);
  });
  return problems;
}
