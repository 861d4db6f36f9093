import { isTerminalStatus, type Video, type VideoPreview } from '@t2v/sdk';

import { byId, showMessage } from './dom';
import { elapsedSeconds, formatSeconds, progressDetail, statusLabel } from './format';

/** Where the finished video's bytes come from; see `mediaURL` in sdk/client.ts. */
export type MediaSource = (id: string, signal: AbortSignal) => Promise<{ url: string; revoke: () => void }>;

/** Where a live preview's picture comes from; see `previewURL` in sdk/client.ts. */
export type PreviewSource = (
  preview: VideoPreview,
  signal: AbortSignal,
) => Promise<{ url: string; revoke: () => void }>;

/**
 * The "current video" panel: status badge, queue position or denoising step, a progress bar, the
 * elapsed time, the live preview while it renders, then the player with download and copy-link
 * buttons.
 */
export class JobView {
  private readonly empty = byId('job-empty');
  private readonly root = byId('job');
  private readonly prompt = byId('job-prompt');
  private readonly status = byId('job-status');
  private readonly detail = byId('job-detail');
  private readonly elapsed = byId('job-elapsed');
  private readonly idText = byId('job-id');
  private readonly progress = byId<HTMLProgressElement>('job-progress');
  private readonly player = byId<HTMLVideoElement>('player');
  private readonly download = byId<HTMLAnchorElement>('download');
  private readonly copyLink = byId<HTMLButtonElement>('copy-link');
  private readonly copyStatus = byId('copy-status');
  private readonly cancel = byId<HTMLButtonElement>('job-cancel');
  private readonly error = byId('job-error');
  private readonly preview = byId('job-preview');
  private readonly previewImg = byId<HTMLImageElement>('job-preview-img');
  private readonly previewCaption = byId('job-preview-caption');
  private shownPreview:
    { id: string; step: number; revoke: () => void; controller: AbortController } | undefined;

  private video: Video | undefined;
  private media: { id: string; revoke: () => void; controller: AbortController } | undefined;
  private timer: ReturnType<typeof setInterval> | undefined;

  constructor(
    private readonly source: MediaSource,
    private readonly shareURL: (id: string) => string,
    onCancel: (id: string) => void,
    private readonly previewSource: PreviewSource,
  ) {
    this.cancel.addEventListener('click', () => {
      if (this.video) onCancel(this.video.id);
    });
    this.copyLink.addEventListener('click', () => {
      if (this.video) void this.copy(this.shareURL(this.video.id));
    });
  }

  /** The video shown, if any. */
  get current(): Video | undefined {
    return this.video;
  }

  /** Shows `video`: a new one resets the panel, the same one updates it. */
  show(video: Video): void {
    const changed = this.video?.id !== video.id;
    this.video = video;
    this.empty.hidden = true;
    this.root.hidden = false;
    this.root.dataset['id'] = video.id;
    this.root.dataset['status'] = video.status;
    if (changed || video.status !== 'in_progress') this.releasePreview();
    if (changed) {
      this.releaseMedia();
      this.player.hidden = true;
      this.player.removeAttribute('src');
      this.player.load();
      this.download.hidden = true;
      this.copyLink.hidden = true;
      this.copyStatus.textContent = '';
      this.prompt.textContent = video.prompt;
      this.idText.textContent = video.id;
    }
    this.status.textContent = statusLabel(video.status);
    this.status.className = `badge ${video.status}`;
    this.detail.textContent = progressDetail(video);
    const value = video.status === 'completed' ? 100 : video.progress;
    this.progress.value = value;
    this.progress.setAttribute('aria-valuetext', `${value}%`);
    this.progress.hidden = video.status === 'completed' || video.status === 'cancelled';
    this.cancel.hidden = isTerminalStatus(video.status);
    showMessage(
      this.error,
      video.status === 'failed' ? (video.error?.message ?? 'The job failed.') : undefined,
    );
    this.tick();
    if (isTerminalStatus(video.status)) this.stopTimer();
    else this.timer ??= setInterval(() => this.tick(), 250);
    if (video.status === 'completed' && this.media?.id !== video.id) void this.loadMedia(video);
  }

  /** Shows a live preview of the running video in place of the empty space before its player. */
  showPreview(preview: VideoPreview): void {
    const video = this.video;
    if (!video || video.id !== preview.video_id || isTerminalStatus(video.status)) return;
    if (this.shownPreview && this.shownPreview.step >= preview.step) return;
    this.shownPreview?.controller.abort();
    const controller = new AbortController();
    const previous = this.shownPreview;
    this.shownPreview = { id: preview.video_id, step: preview.step, revoke: () => undefined, controller };
    void this.previewSource(preview, controller.signal).then(
      ({ url, revoke }) => {
        if (this.shownPreview?.controller !== controller) return revoke();
        this.shownPreview.revoke = revoke;
        previous?.revoke();
        this.previewImg.src = url;
        this.previewImg.dataset['step'] = String(preview.step);
        this.previewCaption.textContent = `Live preview · step ${preview.step} of ${preview.total}`;
        this.preview.hidden = false;
      },
      // The job moved on or ended before the picture was fetched: the next one (or the video) follows.
      () => undefined,
    );
  }

  private releasePreview(): void {
    this.shownPreview?.controller.abort();
    this.shownPreview?.revoke();
    this.shownPreview = undefined;
    this.preview.hidden = true;
    this.previewImg.removeAttribute('src');
    delete this.previewImg.dataset['step'];
  }

  /** An error about the job shown (e.g. its cancel was refused). */
  showError(message: string): void {
    showMessage(this.error, message);
  }

  private tick(): void {
    if (!this.video) return;
    const verb = isTerminalStatus(this.video.status) ? 'took' : 'elapsed';
    this.elapsed.textContent = `${verb} ${formatSeconds(elapsedSeconds(this.video))}`;
  }

  private stopTimer(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private async loadMedia(video: Video): Promise<void> {
    this.releaseMedia();
    const controller = new AbortController();
    this.media = { id: video.id, revoke: () => undefined, controller };
    try {
      const { url, revoke } = await this.source(video.id, controller.signal);
      if (this.media?.controller !== controller) return revoke();
      this.media.revoke = revoke;
      this.player.src = url;
      this.player.hidden = false;
      this.download.href = url;
      this.download.download = `${video.id}.mp4`;
      this.download.hidden = false;
      this.copyLink.hidden = false;
      void this.player.play().catch(() => undefined);
    } catch (error) {
      if (!controller.signal.aborted) this.showError(`Could not load the video: ${(error as Error).message}`);
    }
  }

  private releaseMedia(): void {
    this.media?.controller.abort();
    this.media?.revoke();
    this.media = undefined;
  }

  private async copy(text: string): Promise<void> {
    try {
      await navigator.clipboard.writeText(text);
      this.copyStatus.textContent = 'Link copied.';
    } catch {
      // The async clipboard needs a secure context; a plain-HTTP cluster address is not one.
      window.prompt('Copy this link:', text);
    }
  }
}
