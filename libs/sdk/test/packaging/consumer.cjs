// A CommonJS consumer of the installed tarball: `require` of the ESM package (Node >= 20.19).
const { T2V, BadRequestError, VERSION } = require('@t2v/sdk');

async function main() {
  const client = new T2V(); // T2V_BASE_URL from the environment
  const statuses = new Set();
  const video = await client.videos.createAndWait(
    { prompt: 'packaged, required from CommonJS', size: '256x256', seconds: 1 },
    { onProgress: (v) => statuses.add(v.status) },
  );
  const file = await client.videos.downloadTo(video.id, 'from-cjs.mp4');
  let badParam = null;
  try {
    await client.videos.create({ prompt: 'x', size: '7x7' });
  } catch (error) {
    if (error instanceof BadRequestError) badParam = error.param;
  }
  console.log(
    JSON.stringify({
      consumer: 'cjs',
      version: VERSION,
      id: video.id,
      status: video.status,
      seen: [...statuses],
      bytes: file.bytes,
      badParam,
    }),
  );
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
