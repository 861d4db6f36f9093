export { ffprobe, firstFrame, pixelNear, type ProbeResult } from '@t2v/testing/media';
