/// <reference lib="dom" />
/**
 * A real headless Chromium (Debian's, driven by playwright-core) for the page tests: the
 * playground e2e against an API process, and the same page served by the API image's container.
 */
import { type Browser, chromium, type Page } from 'playwright-core';

export const CHROMIUM = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';

export async function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/** Records what must not happen: requests to any other origin, and script errors. */
export function watchPage(page: Page, origin: string): { foreign: string[]; errors: string[] } {
  const foreign: string[] = [];
  const errors: string[] = [];
  page.on('request', (request) => {
    const url = request.url();
    if (!url.startsWith(origin) && !url.startsWith('blob:') && !url.startsWith('data:')) foreign.push(url);
  });
  page.on('pageerror', (error) => errors.push(String(error)));
  page.on('console', (message) => {
    // Chromium logs every non-2xx fetch as "Failed to load resource"; those 4xx are the test's own doing.
    if (message.type() === 'error' && !message.text().startsWith('Failed to load resource'))
      errors.push(message.text());
  });
  return { foreign, errors };
}

/** Waits until the page's video element has loaded its media; resolves with the duration (s). */
export async function playerDuration(page: Page, timeout = 15_000): Promise<number> {
  const duration = await page.waitForFunction(
    () => {
      const video = document.querySelector<HTMLVideoElement>('#player');
      return video && !video.hidden && video.readyState >= 1 && Number.isFinite(video.duration)
        ? video.duration
        : 0;
    },
    undefined,
    { timeout },
  );
  return (await duration.jsonValue()) as number;
}
