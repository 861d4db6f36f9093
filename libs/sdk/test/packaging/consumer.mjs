// An ES module consumer of the installed tarball: named and default imports.
import T2VDefault, { BadRequestError, T2V, VERSION } from '@t2v/sdk';

if (T2VDefault !== T2V) throw new Error('default export is not T2V');
const client = new T2V({ baseURL: process.env.T2V_BASE_URL });
const statuses = new Set();
const video = await client.videos.createAndWait(
  { prompt: 'packaged, imported as ESM', size: '256x256', seconds: 1 },
  { onProgress: (v) => statuses.add(v.status) },
);
const file = await client.videos.downloadTo(video.id, 'from-esm.mp4');
let badParam = null;
try {
  await client.videos.create({ prompt: 'x', size: '7x7' });
} catch (error) {
  if (error instanceof BadRequestError) badParam = error.param;
}
let listed = 0;
for await (const _ of client.videos.list({ limit: 1 })) listed++;
console.log(
  JSON.stringify({
    consumer: 'esm',
    version: VERSION,
    id: video.id,
    status: video.status,
    seen: [...statuses],
    bytes: file.bytes,
    badParam,
    listed,
  }),
);
