/**
 * Media checks with the ffmpeg a user has: what a player sees in a video file (ffprobe), and
 * pictures for image-to-video tests (a solid-colour image to upload, the first decoded frame of an
 * MP4 to compare pixels against it).
 */
import { execFileSync } from 'node:child_process';

/** Writes a `width`×`height` image of one colour (`0xff8000`); the format follows the extension. */
export function solidColorImage(path: string, color: string, width: number, height: number): string {
  execFileSync('ffmpeg', [
    '-v',
    'error',
    '-y',
    '-f',
    'lavfi',
    '-i',
    `color=c=${color}:s=${width}x${height}`,
    '-frames:v',
    '1',
    path,
  ]);
  return path;
}

/** The first frame of a video file as packed rgb24 (decoded by ffmpeg). */
export function firstFrame(file: string): Buffer {
  return execFileSync('ffmpeg', [
    '-v',
    'error',
    '-i',
    file,
    '-frames:v',
    '1',
    '-f',
    'rawvideo',
    '-pix_fmt',
    'rgb24',
    'pipe:1',
  ]);
}

/** Whether pixel (x, y) of a packed rgb24 frame `width` wide is `rgb`, within `tolerance` per channel. */
export function pixelNear(
  frame: Buffer,
  width: number,
  x: number,
  y: number,
  rgb: readonly number[],
  tolerance = 28,
): boolean {
  const at = frame.subarray((y * width + x) * 3, (y * width + x) * 3 + 3);
  return [...at].every((v, i) => Math.abs(v - rgb[i]!) < tolerance);
}

export interface ProbeResult {
  codec: string;
  width: number;
  height: number;
  frames: number;
  pixFmt: string;
}

/** Reads the first video stream of a file with ffprobe, counting frames by decoding. */
export function ffprobe(file: string): ProbeResult {
  const out = execFileSync(
    'ffprobe',
    [
      '-v',
      'error',
      '-select_streams',
      'v:0',
      '-count_frames',
      '-show_entries',
      'stream=codec_name,width,height,nb_read_frames,pix_fmt',
      '-of',
      'json',
      file,
    ],
    { encoding: 'utf8' },
  );
  const s = JSON.parse(out).streams[0];
  return {
    codec: s.codec_name,
    width: s.width,
    height: s.height,
    frames: Number(s.nb_read_frames),
    pixFmt: s.pix_fmt,
  };
}
