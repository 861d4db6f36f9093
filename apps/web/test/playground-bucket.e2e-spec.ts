import { type Browser, type Page } from 'playwright-core';

import { launchChromium, playerDuration, watchPage } from '@t2v/testing/browser';
import { type LiveApi, startApi } from '@t2v/testing/live-api';
import { type SeaweedS3, startSeaweed } from '@t2v/testing/seaweedfs';

/**
 * The playground unchanged when outputs live in a bucket (`T2V_STORAGE_URL=s3://…`, downloads
 * redirected to presigned URLs): a real headless Chromium, the real API and a real S3-compatible
 * server (SeaweedFS) on 127.0.0.1. The page's content policy must let the player and the gallery
 * load from the bucket's origin, and from nowhere else. Needs the SeaweedFS binary
 * (`bash tools/seaweedfs/install-seaweedfs.sh`), `nx run web:build` and `nx run api:build`.
 */

const BUCKET = 'playground';

describe('playground with outputs in a bucket (headless Chromium, SeaweedFS, redirects)', () => {
  let s3: SeaweedS3;
  let api: LiveApi;
  let browser: Browser;
  let page: Page;
  let seen: ReturnType<typeof watchPage>;
  const fromBucket: string[] = [];

  beforeAll(async () => {
    s3 = await startSeaweed();
    await s3.createBucket(BUCKET);
    api = await startApi({
      ...s3.env(BUCKET, 'videos'),
      T2V_STORAGE_DOWNLOAD: 'redirect',
      T2V_SYNTHETIC_STEP_MS: '20',
    });
    browser = await launchChromium();
    page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
    seen = watchPage(page, api.url);
    page.on('response', (response) => {
      if (response.url().startsWith(s3.endpoint)) fromBucket.push(`${response.status()} ${response.url()}`);
    });
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await api?.stop();
    await s3?.dispose();
  });

  it('names the bucket, and only it, in the page policy beside its own origin', async () => {
    const response = await fetch(`${api.url}/`);
    const csp = response.headers.get('content-security-policy')!;
    const origin = new URL(s3.endpoint).origin;
    for (const directive of ['img-src', 'media-src', 'connect-src'])
      expect(csp).toContain(`${directive} 'self'`);
    expect(csp).toMatch(new RegExp(`media-src 'self' blob: ${origin.replace(/[.]/g, '\\.')}(;|$)`));
    expect(csp).toContain("default-src 'self';");
  });

  it('plays a generated video and shows its thumbnail, both downloaded from the bucket', async () => {
    await page.goto(`${api.url}/`);
    await page.locator('#generate:not([disabled])').waitFor();
    await page.fill('#prompt', 'a paper boat drifting down a gutter in the rain');
    await page.fill('#steps', '6');
    await page.fill('#seconds', '1');
    await page.click('#generate');
    await page.locator('#job[data-status="completed"]').waitFor({ timeout: 30_000 });
    const id = (await page.getAttribute('#job', 'data-id'))!;

    // The player points at the API, which redirects it to a presigned URL of the bucket.
    expect(await page.getAttribute('#player', 'src')).toBe(`${api.url}/v1/videos/${id}/content`);
    const duration = await playerDuration(page, 20_000);
    expect(duration).toBeGreaterThan(0.5);
    expect(duration).toBeLessThan(1.5);
    const thumbnail = page.locator(`#gallery-list li[data-id="${id}"] img`);
    await page.waitForFunction(
      (el) => el !== null && (el as HTMLImageElement).complete && (el as HTMLImageElement).naturalWidth > 0,
      await thumbnail.elementHandle(),
    );

    const objects = await s3.keys(BUCKET, 'videos/');
    expect(objects).toEqual(expect.arrayContaining([`videos/${id}.mp4`]));
    expect(fromBucket.some((r) => /^20[06] /.test(r) && r.includes(`/videos/${id}.mp4?`))).toBe(true);
    expect(
      fromBucket.some((r) => /^200 /.test(r) && r.includes(`/videos/${id}`) && !r.includes('.mp4?')),
    ).toBe(true);
    // No policy violation, no script error; nothing loaded from any third origin.
    expect(seen.errors).toEqual([]);
    expect(seen.foreign.filter((url) => !url.startsWith(s3.endpoint))).toEqual([]);
  });
});
