import { execFileSync } from 'node:child_process';

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

export { firstFrame, pixelNear } from '@t2v/testing/media';
