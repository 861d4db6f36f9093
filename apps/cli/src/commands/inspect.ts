import type { T2V, Video } from '@t2v/sdk';

import { formatBytes, formatTime, table } from '../format.js';
import type { CliIO, GlobalOptions } from '../io.js';

/** Options of `t2v list`. */
export interface ListOptions {
  limit?: number;
  after?: string;
  order?: 'asc' | 'desc';
  all?: boolean;
}

/** `t2v list`: one page (or `--all` pages) of videos, newest first. */
export async function list(client: T2V, options: ListOptions, global: GlobalOptions, io: CliIO) {
  const params = { limit: options.limit, after: options.after, order: options.order };
  let videos: Video[];
  let hasMore = false;
  if (options.all) {
    videos = [];
    for await (const video of client.videos.list(params, { signal: io.signal })) videos.push(video);
  } else {
    const page = await client.videos.list(params, { signal: io.signal });
    videos = page.data;
    hasMore = page.has_more;
  }
  if (global.json) {
    const last = videos.at(-1)?.id ?? null;
    io.stdout.write(
      `${JSON.stringify({ object: 'list', data: videos, first_id: videos[0]?.id ?? null, last_id: last, has_more: hasMore })}\n`,
    );
    return;
  }
  if (videos.length === 0) {
    io.stderr.write('No videos.\n');
    return;
  }
  io.stdout.write(
    table(
      ['ID', 'STATUS', 'PROGRESS', 'SIZE', 'SECONDS', 'CREATED', 'PROMPT'],
      videos.map((v) => [
        v.id,
        v.status,
        `${Math.round(v.progress)}%`,
        v.size,
        v.seconds,
        formatTime(v.created_at),
        truncate(v.prompt, 40),
      ]),
    ),
  );
  if (hasMore) io.stderr.write(`More: t2v list --after ${videos.at(-1)!.id}\n`);
}

/** `t2v get ID`: every field of one video. */
export async function get(client: T2V, id: string, global: GlobalOptions, io: CliIO) {
  const video = await client.videos.retrieve(id, { signal: io.signal });
  if (global.json) {
    io.stdout.write(`${JSON.stringify(video)}\n`);
    return;
  }
  const rows: Array<[string, string]> = [
    ['id', video.id],
    ['status', video.status],
    ['progress', `${Math.round(video.progress)}%`],
    ['model', video.model],
    ['prompt', video.prompt],
    ['size', video.size],
    ['seconds', video.seconds],
    ['fps', String(video.fps ?? '-')],
    ['frames', String(video.num_frames ?? '-')],
    ['steps', String(video.num_inference_steps ?? '-')],
    ['guidance', String(video.guidance_scale ?? '-')],
    ['seed', String(video.seed ?? '-')],
    ['queue position', String(video.queue_position ?? '-')],
    ['cached', String(video.cached)],
    ['created', formatTime(video.created_at)],
    ['completed', formatTime(video.completed_at)],
    ['expires', formatTime(video.expires_at)],
  ];
  if (video.input_reference) {
    const image = video.input_reference;
    rows.push(['image', `${image.width}x${image.height}, sha256 ${image.sha256.slice(0, 12)}…`]);
  }
  if (video.lora.length > 0) rows.push(['lora', video.lora.map((l) => `${l.name}=${l.scale}`).join(', ')]);
  if (video.error) rows.push(['error', `${video.error.code}: ${video.error.message}`]);
  if (video.timings) {
    const t = video.timings;
    const fmt = (x: number | null) => (x === null ? '-' : `${x.toFixed(2)}s`);
    rows.push([
      'timings',
      `queue ${fmt(t.queue_s)}, load ${fmt(t.load_s)}, inference ${fmt(t.inference_s)}, encode ${fmt(t.encode_s)}`,
    ]);
  }
  if (video.acceleration) {
    const a = video.acceleration;
    const passes = a.transformer_passes === null ? '-' : `${a.transformer_passes}/${a.planned_passes ?? '-'}`;
    rows.push([
      'acceleration',
      `${a.requested}: cache ${a.cache ?? '-'}, compile ${a.compile ?? '-'}, attention ${a.attention ?? '-'}, weights ${a.weights ?? '-'}, passes ${passes}`,
    ]);
  }
  const width = Math.max(...rows.map(([k]) => k.length));
  io.stdout.write(rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join('\n') + '\n');
}

/** `t2v download ID -o FILE`: the MP4 (or `--thumbnail` JPEG), written atomically. */
export async function download(
  client: T2V,
  id: string,
  options: { output?: string; thumbnail?: boolean },
  global: GlobalOptions,
  io: CliIO,
) {
  const variant = options.thumbnail ? 'thumbnail' : 'video';
  const output = options.output ?? `${id}.${variant === 'video' ? 'mp4' : 'jpg'}`;
  const result = await client.videos.downloadTo(id, output, { variant, signal: io.signal });
  if (global.json) {
    io.stdout.write(
      `${JSON.stringify({ id, variant, path: result.path, bytes: result.bytes, content_type: result.contentType })}\n`,
    );
    return;
  }
  io.stdout.write(`${result.path}\n`);
  if (!global.quiet) io.stderr.write(`${id}  ${formatBytes(result.bytes)}\n`);
}

/** `t2v cancel ID`. */
export async function cancel(client: T2V, id: string, global: GlobalOptions, io: CliIO) {
  const video = await client.videos.cancel(id, { signal: io.signal });
  io.stdout.write(global.json ? `${JSON.stringify(video)}\n` : `${video.id}  ${video.status}\n`);
}

/** `t2v delete ID`. */
export async function remove(client: T2V, id: string, global: GlobalOptions, io: CliIO) {
  const deleted = await client.videos.delete(id, { signal: io.signal });
  io.stdout.write(global.json ? `${JSON.stringify(deleted)}\n` : `${deleted.id}  deleted\n`);
}

/** `t2v models`: served models and their presets. */
export async function models(client: T2V, global: GlobalOptions, io: CliIO) {
  const list = await client.models.list({ signal: io.signal });
  if (global.json) {
    io.stdout.write(`${JSON.stringify(list)}\n`);
    return;
  }
  io.stdout.write(
    table(
      ['ID', 'ENGINE', 'DEFAULT SIZE', 'SIZES', 'SECONDS', 'STEPS', 'FPS', 'INPUTS', 'LORAS'],
      list.data.map((m) => [
        m.id,
        m.engine,
        m.presets.default_size,
        m.presets.sizes.join(','),
        `${m.presets.seconds.min}-${m.presets.seconds.max} (${m.presets.seconds.default})`,
        `${m.presets.num_inference_steps.min}-${m.presets.num_inference_steps.max} (${m.presets.num_inference_steps.default})`,
        String(m.presets.fps),
        m.inputs.join('+'),
        m.loras.length > 0 ? m.loras.join(',') : '-',
      ]),
    ),
  );
}

function truncate(text: string, max: number): string {
  const oneLine = text.replace(/\s+/g, ' ');
  return oneLine.length > max ? `${oneLine.slice(0, max - 1)}…` : oneLine;
}
