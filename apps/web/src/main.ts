import './styles.css';

import { isTerminalStatus, type T2V, type Video, type VideoCreateParams } from '@t2v/sdk';

import { apiKeyStore, contentURL, createClient, mediaURL, previewURL } from './sdk/client';
import { ApiKeyPanel } from './ui/api-key';
import { byId } from './ui/dom';
import { describeError, modelLine } from './ui/format';
import { Gallery } from './ui/gallery';
import { GenerateForm } from './ui/generate-form';
import { JobView } from './ui/job-view';

const GALLERY_SIZE = 24;
const GALLERY_REFRESH_MS = 1500;

/** The playground: wires the form, the current-video panel and the gallery to one SDK client. */
class Playground {
  private client: T2V = createClient();
  private following: AbortController | undefined;
  private galleryTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly modelInfo = byId('model-info');
  private readonly keyPanel = new ApiKeyPanel((key) => this.useKey(key));
  private readonly form = new GenerateForm((params) => void this.generate(params));
  private readonly job = new JobView(
    (id, signal) => mediaURL(this.client, id, 'video', signal),
    (id) => contentURL(id),
    (id) => void this.cancel(id),
    (preview, signal) => previewURL(this.client, preview, signal),
  );
  private readonly gallery = new Gallery(
    (id, signal) => mediaURL(this.client, id, 'thumbnail', signal),
    (video) => this.open(video),
    (id) => void this.cancel(id),
  );

  start(): void {
    this.keyPanel.setHasKey(apiKeyStore.get() !== undefined);
    byId('gallery-refresh').addEventListener('click', () => void this.refreshGallery());
    window.addEventListener('hashchange', () => void this.openFromHash());
    document.addEventListener('visibilitychange', () => {
      if (!document.hidden) void this.refreshGallery();
    });
    void this.load();
  }

  /** Presets, then the gallery, then the video named in the address (`#video_…`), if any. */
  private async load(): Promise<void> {
    try {
      const models = await this.client.models.list();
      const model = models.data[0];
      if (!model) throw new Error('The server lists no model.');
      this.form.applyPresets(model);
      this.form.image.setEnabled(model.inputs.includes('image'));
      this.modelInfo.textContent = modelLine(model);
      this.modelInfo.title = model.description;
    } catch (error) {
      const described = describeError(error);
      this.modelInfo.textContent = described.needsKey ? 'An API key is required.' : described.message;
      if (described.needsKey) this.keyPanel.open(described.message);
      return;
    }
    await this.refreshGallery();
    await this.openFromHash();
  }

  private useKey(key: string | undefined): void {
    apiKeyStore.set(key);
    this.keyPanel.setHasKey(key !== undefined);
    this.client = createClient(key);
    void this.load();
  }

  private async generate(params: VideoCreateParams): Promise<void> {
    this.form.setBusy(true);
    try {
      // No silent retries on a create: a full queue should be said at once, with when to retry.
      const created = await this.client.videos.create(params, { maxRetries: 0 });
      this.follow(created);
      // On a phone the panel is below the form: bring the progress into view.
      if (window.matchMedia('(max-width: 820px)').matches)
        byId('job-title').scrollIntoView({ block: 'start' });
      void this.refreshGallery();
    } catch (error) {
      const described = describeError(error);
      if (described.needsKey) this.keyPanel.open(described.message);
      this.form.showError(described.message, described.param);
    } finally {
      this.form.setBusy(false);
    }
  }

  /** Shows a video in the panel and, until it ends, follows its events stream. */
  private follow(video: Video): void {
    this.following?.abort();
    this.following = undefined;
    this.job.show(video);
    this.gallery.select(video.id);
    if (location.hash !== `#${video.id}`) history.replaceState(null, '', `#${video.id}`);
    if (isTerminalStatus(video.status)) return;
    const controller = new AbortController();
    this.following = controller;
    const onProgress = (update: Video) => {
      if (controller.signal.aborted) return;
      this.job.show(update);
      this.gallery.update(update);
    };
    this.client.videos
      .wait(video.id, {
        onProgress,
        onPreview: (preview) => {
          if (!controller.signal.aborted) this.job.showPreview(preview);
        },
        signal: controller.signal,
        timeout: 120_000,
      })
      .then((final) => {
        onProgress(final);
        void this.refreshGallery();
      })
      .catch((error: unknown) => {
        if (!controller.signal.aborted) this.job.showError(describeError(error).message);
      });
  }

  private open(video: Video): void {
    this.follow(video);
    byId('job-title').scrollIntoView({ behavior: 'smooth', block: 'start' });
  }

  private async openFromHash(): Promise<void> {
    const id = decodeURIComponent(location.hash.slice(1));
    if (!/^video_\w+$/.test(id) || this.job.current?.id === id) return;
    try {
      this.follow(await this.client.videos.retrieve(id));
    } catch (error) {
      this.job.showError(describeError(error).message);
    }
  }

  private async cancel(id: string): Promise<void> {
    try {
      const video = await this.client.videos.cancel(id);
      if (this.job.current?.id === id) this.job.show(video);
      this.gallery.update(video);
    } catch (error) {
      this.job.showError(describeError(error).message);
    }
    void this.refreshGallery();
  }

  /** Reloads the first page; keeps refreshing while anything on it is still running. */
  private async refreshGallery(): Promise<void> {
    clearTimeout(this.galleryTimer);
    try {
      const page = await this.client.videos.list({ limit: GALLERY_SIZE });
      this.gallery.render(page.data);
      this.gallery.select(this.job.current?.id);
      this.gallery.showError(undefined);
    } catch (error) {
      const described = describeError(error);
      this.gallery.showError(described.message);
      if (described.needsKey) return;
    }
    if (this.gallery.hasActive && !document.hidden) {
      this.galleryTimer = setTimeout(() => void this.refreshGallery(), GALLERY_REFRESH_MS);
    }
  }
}

new Playground().start();
