import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { type Browser, type BrowserContext, type Page } from 'playwright-core';

import { launchChromium, playerDuration, watchPage } from '@t2v/testing/browser';
import { type LiveApi, startApi, WORKSPACE_ROOT } from '@t2v/testing/live-api';
import { solidColorImage } from '@t2v/testing/media';

/**
 * The playground in a real headless Chromium against the real API (synthetic engine): presets,
 * a server-side validation error, a generation followed step by step to a playing video, the
 * gallery, cancelling a slow job, and the API-key flow. Needs `nx run web:build` and
 * `nx run api:build`, and the API serving the page at `/` (WebModule).
 */

const SCREENSHOTS = join(WORKSPACE_ROOT, 'docs/img');

/** The live API, once it serves the built page at `/`. */
async function startPlaygroundApi(env: Record<string, string>): Promise<LiveApi> {
  const api = await startApi(env);
  const page = await fetch(`${api.url}/`).catch(() => undefined);
  if (!page?.ok || !page.headers.get('content-type')?.startsWith('text/html')) {
    await api.stop();
    throw new Error(
      `The API does not serve the playground at / (status ${page?.status}): build it (\`npx nx run web:build\`) ` +
        'and import WebModule.serve() in apps/api/src/app.module.ts.',
    );
  }
  return api;
}

const galleryTile = (page: Page, id: string) => page.locator(`#gallery-list li[data-id="${id}"]`);

describe('playground (headless Chromium, synthetic engine)', () => {
  let api: LiveApi;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let seen: ReturnType<typeof watchPage>;

  beforeAll(async () => {
    // 60 ms a step: slow enough to watch progress advance and to cancel, quick enough for CI.
    api = await startPlaygroundApi({ T2V_SYNTHETIC_STEP_MS: '60' });
    browser = await launchChromium();
    context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: api.url });
    page = await context.newPage();
    seen = watchPage(page, api.url);
    mkdirSync(SCREENSHOTS, { recursive: true });
  });

  afterAll(async () => {
    await browser?.close();
    await api?.stop();
  });

  it('serves the page at / and fills the form from the model presets', async () => {
    const response = await page.goto(api.url + '/');
    expect(response?.status()).toBe(200);
    expect(response?.headers()['content-security-policy']).toContain("default-src 'self'");
    await page.locator('#generate:not([disabled])').waitFor();
    const models = await (await fetch(`${api.url}/v1/models`)).json();
    const presets = models.data[0].presets;
    expect(
      await page
        .locator('#size option')
        .evaluateAll((options) => options.map((o) => (o as HTMLOptionElement).value)),
    ).toEqual(presets.sizes);
    expect(await page.inputValue('#size')).toBe(presets.default_size);
    expect(await page.inputValue('#steps')).toBe(String(presets.num_inference_steps.default));
    expect(await page.getAttribute('#steps', 'max')).toBe(String(presets.num_inference_steps.max));
    expect(await page.textContent('#model-info')).toContain('t2v-synthetic');
    // Every input has a label.
    for (const id of ['prompt', 'size', 'seconds', 'steps', 'seed', 'negative-prompt', 'guidance']) {
      expect(await page.locator(`label[for="${id}"]`).count()).toBe(1);
    }
  });

  it("shows the API's validation message and marks the field it names", async () => {
    await page.fill('#prompt', 'too many steps');
    await page.fill('#steps', '1000');
    await page.click('#generate');
    const alert = page.locator('#form-error');
    await alert.waitFor({ state: 'visible' });
    expect(await alert.textContent()).toMatch(/num_inference_steps/);
    expect(await alert.getAttribute('role')).toBe('alert');
    expect(await page.getAttribute('#steps', 'aria-invalid')).toBe('true');
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('steps');
    expect(await page.locator('#job').isHidden()).toBe(true);
  });

  let completedId = '';

  it('follows a generation step by step to a playing video', async () => {
    await page.fill('#prompt', 'a red fox running through fresh snow');
    await page.fill('#steps', '30');
    await page.fill('#seconds', '2');
    await page.fill('#seed', '42');
    await page.click('#generate');
    expect(await page.locator('#form-error').isHidden()).toBe(true);
    expect(await page.getAttribute('#steps', 'aria-invalid')).toBeNull();

    // Progress advances: a value strictly between 0 and 100 while rendering.
    await page.waitForFunction(
      () => {
        const bar = document.querySelector<HTMLProgressElement>('#job-progress');
        return (
          document.querySelector('#job')?.getAttribute('data-status') === 'in_progress' &&
          bar !== null &&
          bar.value > 0 &&
          bar.value < 100
        );
      },
      undefined,
      { timeout: 15_000, polling: 20 },
    );
    expect(await page.textContent('#job-detail')).toMatch(/step \d+ of 30/);
    expect(await page.textContent('#job-elapsed')).toMatch(/elapsed \d/);

    await page.locator('#job[data-status="completed"]').waitFor({ timeout: 20_000 });
    completedId = (await page.getAttribute('#job', 'data-id'))!;
    expect(completedId).toMatch(/^video_/);
    expect(await page.textContent('#job-status')).toBe('Completed');
    expect(await page.textContent('#job-elapsed')).toMatch(/took \d/);

    // The video element loads the MP4 over HTTP (Range) and reports its duration.
    const duration = await playerDuration(page);
    expect(duration).toBeGreaterThan(1.5);
    expect(duration).toBeLessThan(2.5);
    expect(await page.getAttribute('#player', 'src')).toBe(`${api.url}/v1/videos/${completedId}/content`);
    // Seeking works: the server answered a Range request for it.
    await page.evaluate(() => {
      const video = document.querySelector<HTMLVideoElement>('#player')!;
      video.currentTime = video.duration / 2;
    });
    await page.waitForFunction(() => {
      const video = document.querySelector<HTMLVideoElement>('#player')!;
      return !video.seeking && video.currentTime > 0.5;
    });

    expect(await page.getAttribute('#download', 'href')).toBe(`${api.url}/v1/videos/${completedId}/content`);
    expect(await page.getAttribute('#download', 'download')).toBe(`${completedId}.mp4`);
    await page.click('#copy-link');
    await page.locator('#copy-status', { hasText: 'Link copied' }).waitFor();
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(
      `${api.url}/v1/videos/${completedId}/content`,
    );
    expect(page.url()).toBe(`${api.url}/#${completedId}`);
  });

  it('lists the video in the gallery with its thumbnail and status', async () => {
    const tile = galleryTile(page, completedId);
    await tile.locator('.badge.completed').waitFor();
    expect(await tile.getAttribute('data-status')).toBe('completed');
    expect(await tile.textContent()).toContain('a red fox running through fresh snow');
    await page.waitForFunction((id) => {
      const img = document.querySelector<HTMLImageElement>(`#gallery-list li[data-id="${id}"] img`);
      return img !== null && img.complete && img.naturalWidth > 0;
    }, completedId);
    expect(await tile.getAttribute('class')).toContain('selected');
    expect(await tile.locator('button', { hasText: 'Cancel' }).count()).toBe(0);
  });

  it('cancels a slow job from the gallery', async () => {
    await page.fill('#prompt', 'a slow pan across a mountain lake');
    await page.fill('#steps', '100');
    await page.fill('#seconds', '1');
    await page.fill('#seed', '');
    await page.click('#generate');
    await page.locator('#job[data-status="in_progress"]').waitFor({ timeout: 15_000 });
    const slowId = (await page.getAttribute('#job', 'data-id'))!;
    expect(slowId).not.toBe(completedId);

    const tile = galleryTile(page, slowId);
    const cancel = tile.getByRole('button', { name: 'Cancel: a slow pan across a mountain lake' });
    await cancel.waitFor({ timeout: 10_000 });
    await cancel.click();
    await tile.locator('.badge.cancelled').waitFor({ timeout: 10_000 });
    await page.locator(`#job[data-id="${slowId}"][data-status="cancelled"]`).waitFor();
    expect(await page.textContent('#job-status')).toBe('Cancelled');
    expect(await page.locator('#player').isHidden()).toBe(true);
    const video = await (await fetch(`${api.url}/v1/videos/${slowId}`)).json();
    expect(video.status).toBe('cancelled');
    expect(video.progress).toBeLessThan(100);
  });

  it('starts a video from a picked image: preview, first frame, gallery mark; a dropped non-image is refused', async () => {
    const png = solidColorImage(
      join(mkdtempSync(join(tmpdir(), 't2v-web-')), 'orange.png'),
      '0xff8000',
      320,
      192,
    );
    await page.fill('#prompt', 'an orange wall comes alive');
    await page.fill('#steps', '4');
    await page.fill('#seconds', '1');
    await page.selectOption('#size', '320x192');
    await page.setInputFiles('#image', png);
    await page.locator('#image-preview').waitFor({ state: 'visible' });
    await page.waitForFunction(
      () => (document.querySelector<HTMLImageElement>('#image-thumb')?.naturalWidth ?? 0) > 0,
    );
    expect(await page.textContent('#image-name')).toMatch(/^orange\.png, \d+ kB$/);
    await page.click('#generate');
    await page.locator('#job[data-status="completed"]').waitFor({ timeout: 20_000 });
    const id = (await page.getAttribute('#job', 'data-id'))!;
    expect(await page.textContent('#job-detail')).toContain('from an image');
    const video = await (await fetch(`${api.url}/v1/videos/${id}`)).json();
    expect(video.input_reference).toMatchObject({ width: 320, height: 192 });

    // The first decoded frame, drawn in the page, is the picture (the synthetic engine starts from it).
    await page.waitForFunction(() => {
      const player = document.querySelector<HTMLVideoElement>('#player')!;
      return !player.hidden && player.readyState >= 2;
    });
    const rgb = await page.evaluate(async () => {
      const player = document.querySelector<HTMLVideoElement>('#player')!;
      player.pause();
      const seeked = new Promise((resolve) => player.addEventListener('seeked', resolve, { once: true }));
      player.currentTime = 0;
      await seeked;
      const canvas = document.createElement('canvas');
      canvas.width = player.videoWidth;
      canvas.height = player.videoHeight;
      const ctx = canvas.getContext('2d')!;
      ctx.drawImage(player, 0, 0);
      return [...ctx.getImageData(canvas.width / 2, canvas.height / 2, 1, 1).data.slice(0, 3)];
    });
    const [r, g, b] = rgb;
    expect(Math.abs(r! - 0xff)).toBeLessThan(24);
    expect(Math.abs(g! - 0x80)).toBeLessThan(24);
    expect(b!).toBeLessThan(24);
    await galleryTile(page, id).locator('.badge.from-image').waitFor();

    // Drop a text file named .png: the page sends it, the server refuses it naming the field.
    await page.evaluate(() => {
      const transfer = new DataTransfer();
      transfer.items.add(new File(['this is not an image'], 'fake.png', { type: 'image/png' }));
      const drop = document.querySelector('#image-drop')!;
      drop.dispatchEvent(
        new DragEvent('dragover', { dataTransfer: transfer, bubbles: true, cancelable: true }),
      );
      drop.dispatchEvent(new DragEvent('drop', { dataTransfer: transfer, bubbles: true, cancelable: true }));
    });
    expect(await page.textContent('#image-name')).toMatch(/^fake\.png/);
    await page.click('#generate');
    const alert = page.locator('#form-error');
    await alert.waitFor({ state: 'visible' });
    expect(await alert.textContent()).toMatch(/input_reference/);
    expect(await page.getAttribute('#image', 'aria-invalid')).toBe('true');
    await page.click('#image-clear');
    expect(await page.locator('#image-preview').isHidden()).toBe(true);
    expect(await page.inputValue('#image')).toBe('');
  });

  it('opens a finished video from the gallery (finished state, screenshot)', async () => {
    await galleryTile(page, completedId).locator('.tile-open').click();
    await page.locator(`#job[data-id="${completedId}"][data-status="completed"]`).waitFor();
    await page.waitForFunction(() => {
      const video = document.querySelector<HTMLVideoElement>('#player');
      return video && !video.hidden && video.readyState >= 2;
    });
    await page.evaluate(() => {
      const video = document.querySelector<HTMLVideoElement>('#player')!;
      video.pause();
      video.currentTime = 1;
      window.scrollTo(0, 0);
    });
    await page.waitForFunction(() => !document.querySelector<HTMLVideoElement>('#player')!.seeking);
    await page.screenshot({ path: join(SCREENSHOTS, 'playground.png'), fullPage: true });

    const phone = await context.newPage();
    await phone.setViewportSize({ width: 390, height: 844 });
    await phone.goto(`${api.url}/#${completedId}`);
    await phone.locator('#job[data-status="completed"]').waitFor();
    const overflow = await phone.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    expect(overflow).toBeLessThanOrEqual(0);
    await phone.screenshot({ path: join(SCREENSHOTS, 'playground-phone.png'), fullPage: true });
    await phone.close();

    expect(seen.foreign).toEqual([]);
    expect(seen.errors).toEqual([]);
  });
});

describe('playground with a busy server (headless Chromium)', () => {
  let api: LiveApi;
  let browser: Browser;

  beforeAll(async () => {
    api = await startPlaygroundApi({ T2V_SYNTHETIC_STEP_MS: '100', T2V_MAX_QUEUE: '1' });
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
    await api?.stop();
  });

  it('shows the queue position, then a full queue with when to retry', async () => {
    const running = await fetch(`${api.url}/v1/videos`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ prompt: 'keeps the worker busy', num_inference_steps: 100 }),
    });
    expect(running.status).toBe(200);
    const page = await browser.newPage();
    const seen = watchPage(page, api.url);
    await page.goto(api.url + '/');
    await page.locator('#generate:not([disabled])').waitFor();

    await page.fill('#prompt', 'waits its turn');
    await page.click('#generate');
    await page.locator('#job[data-status="queued"]').waitFor();
    // The one worker runs the other job: the position and why it waits.
    expect(await page.textContent('#job-detail')).toBe('position 1 in the queue · workers busy');
    expect(await page.textContent('#job-status')).toBe('Queued');
    const queuedId = (await page.getAttribute('#job', 'data-id'))!;
    await galleryTile(page, queuedId).locator('.badge.queued').waitFor();

    await page.fill('#prompt', 'one too many');
    await page.click('#generate');
    const alert = page.locator('#form-error');
    await alert.waitFor({ state: 'visible' });
    expect(await alert.textContent()).toMatch(/queue is full.*Try again in \d+ s\./);
    // The failed create did not replace the job being followed.
    expect(await page.getAttribute('#job', 'data-id')).toBe(queuedId);

    await page.click('#job-cancel');
    await page.locator('#job[data-status="cancelled"]').waitFor();
    await fetch(`${api.url}/v1/videos/${(await running.json()).id}/cancel`, { method: 'POST' });
    expect(seen.foreign).toEqual([]);
    expect(seen.errors).toEqual([]);
    await page.close();
  });
});

describe('playground with API keys (headless Chromium)', () => {
  const KEY = 'web-e2e-key';
  let api: LiveApi;
  let browser: Browser;

  beforeAll(async () => {
    api = await startPlaygroundApi({ T2V_SYNTHETIC_STEP_MS: '10', T2V_API_KEYS: KEY });
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
    await api?.stop();
  });

  it('asks for the key, keeps it in session storage only, and plays through the SDK', async () => {
    const page = await browser.newPage();
    const seen = watchPage(page, api.url);
    const response = await page.goto(api.url + '/');
    expect(response?.status()).toBe(200);
    await page.locator('#key-panel').waitFor({ state: 'visible' });
    expect(await page.textContent('#key-reason')).toMatch(/API key/);
    expect(await page.isDisabled('#generate')).toBe(true);

    await page.fill('#key-input', 'wrong-key');
    await page.click('#key-form button[type="submit"]');
    await page.locator('#key-panel').waitFor({ state: 'visible' });
    expect(await page.textContent('#key-reason')).toMatch(/Invalid API key/);

    await page.fill('#key-input', KEY);
    await page.click('#key-form button[type="submit"]');
    await page.locator('#generate:not([disabled])').waitFor();
    expect(await page.locator('#key-panel').isHidden()).toBe(true);
    expect(await page.evaluate(() => sessionStorage.getItem('t2v.apiKey'))).toBe(KEY);

    await page.fill('#prompt', 'waves at dusk');
    await page.click('#generate');
    await page.locator('#job[data-status="completed"]').waitFor({ timeout: 20_000 });
    const duration = await playerDuration(page);
    expect(duration).toBeGreaterThan(0.5);
    // Media elements cannot send Authorization: the bytes came through the SDK as a blob.
    expect(await page.getAttribute('#player', 'src')).toMatch(/^blob:/);
    const id = (await page.getAttribute('#job', 'data-id'))!;
    await page.waitForFunction((videoId) => {
      const img = document.querySelector<HTMLImageElement>(`#gallery-list li[data-id="${videoId}"] img`);
      return img !== null && img.complete && img.naturalWidth > 0;
    }, id);
    expect(page.url()).not.toContain(KEY);
    expect(seen.foreign).toEqual([]);
    expect(seen.errors).toEqual([]);
    await page.close();
  });
});
