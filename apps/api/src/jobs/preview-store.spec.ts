import type { Job } from './job.types';
import { JobEvents } from './job-events';
import { type Preview, PreviewStore } from './preview-store';
import type { JobTransport } from './queue-driver';

const preview = (jobId: string, step: number, bytes: number): Preview => ({
  jobId,
  step,
  total: 10,
  mime: 'image/webp',
  width: 64,
  height: 32,
  createdAt: 0,
  data: Buffer.alloc(bytes, step),
});

describe('PreviewStore', () => {
  it('keeps the latest preview per job and ignores an older step', () => {
    const store = new PreviewStore(1000);
    expect(store.put(preview('a', 2, 100))).toBe(true);
    expect(store.put(preview('a', 1, 100))).toBe(false);
    expect(store.put(preview('a', 4, 150))).toBe(true);
    expect(store.get('a')?.step).toBe(4);
    expect(store.bytes).toBe(150);
  });

  it('stays within its memory bound, forgetting the least recently updated job first', () => {
    const store = new PreviewStore(1000);
    store.put(preview('a', 1, 400));
    store.put(preview('b', 1, 400));
    store.put(preview('a', 2, 400)); // a is now the most recent
    store.put(preview('c', 1, 400));
    expect(store.bytes).toBeLessThanOrEqual(1000);
    expect([store.get('a')?.step, store.get('b'), store.get('c')?.step]).toEqual([2, undefined, 1]);
    expect(store.put(preview('d', 1, 1001))).toBe(false); // larger than the whole bound
    store.drop('a');
    store.drop('c');
    expect([store.size, store.bytes]).toEqual([0, 0]);
  });
});

describe('JobEvents previews', () => {
  it('delivers previews here and to the other replicas, and drops a job preview when it leaves in_progress', () => {
    const sent: Preview[] = [];
    let fromOthers: (p: Preview) => void = () => undefined;
    const transport: JobTransport = {
      publish: () => undefined,
      cancel: () => undefined,
      onJob: () => undefined,
      onCancel: () => undefined,
      publishPreview: (p) => sent.push(p),
      onPreview: (l) => (fromOthers = l),
    };
    const events = new JobEvents({ transport }, new PreviewStore(10_000));
    const heard: number[] = [];
    const off = events.subscribePreviews('job-1', (p) => heard.push(p.step));
    events.publishPreview(preview('job-1', 1, 10));
    fromOthers(preview('job-1', 3, 10));
    fromOthers(preview('job-2', 1, 10));
    expect(heard).toEqual([1, 3]);
    expect(sent.map((p) => p.step)).toEqual([1]); // only its own go out
    events.publish({ id: 'job-1', status: 'in_progress' } as Job);
    expect(events.previews.get('job-1')?.step).toBe(3);
    events.publish({ id: 'job-1', status: 'completed' } as Job);
    expect(events.previews.get('job-1')).toBeUndefined();
    expect(events.previews.get('job-2')?.step).toBe(1);
    off();
  });
});
