// Debian's chromium driven by playwright-core (which downloads no browser): headless, a fresh
// profile, no network beyond what the page asks for. Every console error and page error is
// collected, so a test can say "no console errors" and mean it.
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';
/** Screenshots land here: git-ignored, left in place by .ci/run. */
export const ARTIFACTS = join(import.meta.dirname, '../../../artifacts/dashboard');

export interface Browser {
  context: BrowserContext;
  /** A new tab, with its console errors, page errors and dialogs (an alert is an XSS) recorded. */
  open(url: string): Promise<Tab>;
  /**
   * Closes every open tab. A browser keeps at most six HTTP/1.1 connections per host, and each
   * tab holds one or two streams (the live feed, a tap): tests close their tabs when done.
   */
  closeTabs(): Promise<void>;
  close(): Promise<void>;
}

export interface Tab {
  page: Page;
  problems: string[];
  dialogs: string[];
  screenshot(name: string): Promise<string>;
}

export async function launchBrowser(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} is missing: the dashboard's browser tests need Debian's chromium (apt-get install -y chromium; .ci/run installs it)`);
  }
  mkdirSync(ARTIFACTS, { recursive: true });
  const profile = mkdtempSync(join(tmpdir(), 'dashboard-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1400, height: 900 },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
  return {
    context,
    async open(url) {
      const page = await context.newPage();
      const problems: string[] = [];
      const dialogs: string[] = [];
      page.on('console', (m) => { if (m.type() === 'error') problems.push(`console: ${m.text()}`); });
      page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
      page.on('dialog', (d) => { dialogs.push(d.message()); void d.dismiss(); });
      await page.goto(url);
      return {
        page, problems, dialogs,
        async screenshot(name) {
          const path = join(ARTIFACTS, `${name}.png`);
          await page.screenshot({ path, fullPage: true });
          return path;
        },
      };
    },
    async closeTabs() {
      await Promise.all(context.pages().map((p) => p.close()));
    },
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
