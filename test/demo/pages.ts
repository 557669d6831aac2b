import type { Page } from 'playwright-core';
import { bundleDemo } from '../../scripts/bundle-demo.js';
import { requireChromium } from '../helpers/browser.js';
import { requireService } from '../helpers/services.js';

/** Every wait in a page is bounded by this (well under mocha's timeout, so the failure names what it waited for). */
export const WAIT_MS = 10_000;

let bundled: Promise<string> | undefined;

/**
 * In a demo suite's `before`: Redis, RabbitMQ and Chromium, or a loud skip (a failure with
 * CI=true); then the demo's browser bundle (npm run build makes it too), once per test run.
 */
export async function demoSuiteNeeds(ctx: Mocha.Context): Promise<void> {
  await requireService(ctx, 'redis');
  await requireService(ctx, 'rabbitmq');
  requireChromium(ctx);
  ctx.timeout(90_000);
  await (bundled ??= bundleDemo());
}

export const testId = (page: Page, id: string) => page.getByTestId(id);

/** Waits until the element with `data-testid=id` shows `text` (a substring, or a pattern). */
export async function shows(page: Page, id: string, text: string | RegExp, timeout = WAIT_MS): Promise<void> {
  await testId(page, id).filter({ hasText: text }).first().waitFor({ timeout });
}

/** Opens `docId` as `user` on the page at `origin` and waits until the session is connected. */
export async function openDocument(page: Page, origin: string, user: string, docId: string): Promise<void> {
  await page.goto(`${origin}/`);
  await testId(page, 'login-name').fill(user);
  await testId(page, 'login-doc').fill(docId);
  await testId(page, 'login-submit').click();
  await shows(page, 'conn-state', /^connected$/);
  await shows(page, 'editor-status', /^synced/);
}

/** The presence list entry of `user` on `page`. */
export const presenceOf = (page: Page, user: string) =>
  page.locator(`[data-testid="presence-user"][data-user="${user}"]`);

/** The editor's text as CodeMirror shows it, lines joined with \n (remote cursors' name tags left out). */
function shownText(): string {
  return [...document.querySelectorAll('[data-testid="editor-text"] .cm-line')]
    .map((line) => {
      const copy = line.cloneNode(true) as Element;
      for (const widget of copy.querySelectorAll('.cm-ySelectionCaret, .cm-widgetBuffer, [contenteditable="false"]'))
        widget.remove();
      return copy.textContent ?? '';
    })
    .join('\n');
}

export function editorText(page: Page): Promise<string> {
  return page.evaluate(shownText);
}

/** Waits until the editor of `page` holds exactly `text`. */
export async function editorHolds(page: Page, text: string, timeout = WAIT_MS): Promise<void> {
  await page.waitForFunction(`(${shownText.toString()})() === ${JSON.stringify(text)}`, undefined, { timeout });
}

/** Puts the caret at the end of the document (or at its start) and types `text` key by key. */
export async function typeInEditor(page: Page, text: string, at: 'end' | 'start' = 'end', delay = 5): Promise<void> {
  await testId(page, 'editor-text').click();
  await page.keyboard.press(at === 'end' ? 'Control+End' : 'Control+Home');
  await page.keyboard.type(text, { delay });
}
