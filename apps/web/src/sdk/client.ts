import './browser-globals';

import { T2V, type VideoContentVariant, type VideoPreview } from '@t2v/sdk';

import { createFetchTransport } from './fetch-transport';

const KEY_STORAGE = 't2v.apiKey';

/** The API key for this tab: session storage only, so it never lands in the URL, history or disk. */
export const apiKeyStore = {
  get(): string | undefined {
    try {
      return sessionStorage.getItem(KEY_STORAGE) || undefined;
    } catch {
      return undefined;
    }
  },
  set(key: string | undefined): void {
    try {
      if (key) sessionStorage.setItem(KEY_STORAGE, key);
      else sessionStorage.removeItem(KEY_STORAGE);
    } catch {
      /* storage disabled: the key lives as long as the page */
    }
  },
};

/** The page is served by the API it talks to, so the API is this origin. */
export function apiBaseURL(): string {
  return location.origin;
}

/** A client for this origin with the tab's key, on the fetch transport. */
export function createClient(apiKey = apiKeyStore.get()): T2V {
  return new T2V({
    baseURL: apiBaseURL(),
    apiKey,
    env: {},
    transport: createFetchTransport(),
    maxRetries: 2,
  });
}

/** The public address of a video's bytes: what the copy-link button shares. */
export function contentURL(id: string, variant: VideoContentVariant = 'video'): string {
  const url = new URL(`/v1/videos/${encodeURIComponent(id)}/content`, apiBaseURL());
  if (variant !== 'video') url.searchParams.set('variant', variant);
  return url.toString();
}

/**
 * A URL a `<video>` or `<img>` can load. Without a key it is the content URL itself, so the
 * browser streams it with Range requests. Media elements cannot send `Authorization`, so with a key
 * the bytes are fetched through the SDK into a Blob (seekable, in memory) and a `blob:` URL is
 * handed out; revoke it with the returned function.
 */
export async function mediaURL(
  client: T2V,
  id: string,
  variant: VideoContentVariant,
  signal?: AbortSignal,
): Promise<{ url: string; revoke: () => void }> {
  if (!apiKeyStore.get()) return { url: contentURL(id, variant), revoke: () => undefined };
  const response = await client.videos.content(id, { variant, signal });
  const chunks: Uint8Array[] = [];
  for await (const chunk of response) chunks.push(chunk);
  const blob = new Blob(chunks as BlobPart[], {
    type: response.contentType ?? (variant === 'video' ? 'video/mp4' : 'image/jpeg'),
  });
  const url = URL.createObjectURL(blob);
  return { url, revoke: () => URL.revokeObjectURL(url) };
}

/**
 * A URL an `<img>` can show a live preview from: without a key the preview's own URL (it names its
 * step, so each one is a new picture to the browser's cache); with one, its bytes as a `blob:` URL.
 */
export async function previewURL(
  client: T2V,
  preview: VideoPreview,
  signal?: AbortSignal,
): Promise<{ url: string; revoke: () => void }> {
  if (!apiKeyStore.get())
    return { url: new URL(preview.url, apiBaseURL()).toString(), revoke: () => undefined };
  return mediaURL(client, preview.video_id, 'preview', signal);
}
