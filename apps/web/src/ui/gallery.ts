import { isTerminalStatus, type Video } from '@t2v/sdk';

import type { MediaSource } from './job-view';
import { byId, el, showMessage } from './dom';
import { statusLabel } from './format';

interface Card {
  li: HTMLLIElement;
  video: Video;
  thumb?: { revoke: () => void };
}

/**
 * Recent videos, newest first: thumbnail, status badge, prompt, and a cancel button on the ones
 * still queued or rendering. Cards are updated in place by id, so a refresh does not reload images.
 */
export class Gallery {
  private readonly list = byId<HTMLUListElement>('gallery-list');
  private readonly empty = byId('gallery-empty');
  private readonly error = byId('gallery-error');
  private readonly cards = new Map<string, Card>();

  constructor(
    private readonly thumbnails: MediaSource,
    private readonly onOpen: (video: Video) => void,
    private readonly onCancel: (id: string) => void,
  ) {}

  /** Whether any shown video may still change (worth refreshing for). */
  get hasActive(): boolean {
    for (const card of this.cards.values()) if (!isTerminalStatus(card.video.status)) return true;
    return false;
  }

  showError(message: string | undefined): void {
    showMessage(this.error, message);
  }

  /** Replaces the shown page with `videos`, reusing the cards of ids already shown. */
  render(videos: Video[]): void {
    const keep = new Set(videos.map((v) => v.id));
    for (const [id, card] of this.cards) {
      if (keep.has(id)) continue;
      card.thumb?.revoke();
      card.li.remove();
      this.cards.delete(id);
    }
    const items = videos.map((video) => this.upsert(video));
    this.list.replaceChildren(...items);
    this.empty.hidden = videos.length > 0;
  }

  /** Updates one card if it is shown (e.g. from the events of the current job). */
  update(video: Video): void {
    if (this.cards.has(video.id)) this.upsert(video);
  }

  /** Marks the card of the video open in the player. */
  select(id: string | undefined): void {
    for (const [cardId, card] of this.cards) card.li.classList.toggle('selected', cardId === id);
  }

  private upsert(video: Video): HTMLLIElement {
    const existing = this.cards.get(video.id);
    if (existing && sameState(existing.video, video)) return existing.li;
    const card: Card = existing ?? { li: el('li', { class: 'tile' }), video };
    const hadThumb = existing?.thumb !== undefined;
    card.video = video;
    this.cards.set(video.id, card);
    this.fill(card, hadThumb);
    return card.li;
  }

  private fill(card: Card, keepThumb: boolean): void {
    const { li, video } = card;
    li.dataset['id'] = video.id;
    li.dataset['status'] = video.status;
    const oldImage = keepThumb ? li.querySelector('img') : null;
    const frame = el('div', { class: 'thumb' });
    if (oldImage) frame.append(oldImage);
    else
      frame.append(
        el('span', { class: 'thumb-placeholder', 'aria-hidden': 'true', text: placeholder(video) }),
      );
    if (!isTerminalStatus(video.status)) {
      const bar = el('progress', { max: '100', 'aria-label': 'Progress' });
      bar.value = video.progress;
      frame.append(bar);
    }
    const open = el('button', { type: 'button', class: 'tile-open', 'aria-label': `Open: ${video.prompt}` }, [
      frame,
      el('span', { class: 'tile-prompt', text: video.prompt }),
    ]);
    open.addEventListener('click', () => this.onOpen(card.video));
    const meta = el('div', { class: 'tile-meta' }, [
      el('span', { class: `badge ${video.status}`, text: statusLabel(video.status) }),
      el('span', { class: 'muted', text: `${video.size} · ${video.seconds} s` }),
    ]);
    if (video.input_reference) {
      const { width, height } = video.input_reference;
      meta.append(
        el('span', {
          class: 'badge from-image',
          text: 'from image',
          title: `Started from an image, fitted to ${width}×${height}`,
        }),
      );
    }
    if (!isTerminalStatus(video.status)) {
      const cancel = el('button', {
        type: 'button',
        class: 'danger small',
        text: 'Cancel',
        'aria-label': `Cancel: ${video.prompt}`,
      });
      cancel.addEventListener('click', () => {
        cancel.disabled = true;
        this.onCancel(video.id);
      });
      meta.append(cancel);
    }
    li.replaceChildren(open, meta);
    if (video.status === 'completed' && !oldImage) void this.loadThumb(card, frame);
  }

  private async loadThumb(card: Card, frame: HTMLElement): Promise<void> {
    try {
      const { url, revoke } = await this.thumbnails(card.video.id, new AbortController().signal);
      card.thumb = { revoke };
      const img = el('img', { src: url, alt: '', loading: 'lazy', decoding: 'async' });
      frame.replaceChildren(img);
    } catch {
      /* the placeholder stays: a missing thumbnail is not worth an alert */
    }
  }
}

function sameState(a: Video, b: Video): boolean {
  return (
    a.status === b.status &&
    a.progress === b.progress &&
    a.queue_position === b.queue_position &&
    a.queue_reason === b.queue_reason
  );
}

function placeholder(video: Video): string {
  if (video.status === 'queued') return video.queue_position ? `#${video.queue_position}` : '…';
  if (video.status === 'in_progress') return `${video.progress}%`;
  return video.status === 'completed' ? '' : 'no video';
}
