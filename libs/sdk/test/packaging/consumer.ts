// A TypeScript consumer, type-checked against the installed package's declarations.
import { APIError, T2V, type Video, type VideoCreateParams } from '@t2v/sdk';

const params: VideoCreateParams = { prompt: 'typed', size: '256x256', seconds: 1 };
export async function typed(client: T2V = new T2V()): Promise<Video['status']> {
  try {
    const video: Video = await client.videos.createAndWait(params, { onProgress: (v) => v.progress });
    return video.status;
  } catch (error) {
    if (error instanceof APIError) return error.code === 'queue_full' ? 'queued' : 'failed';
    throw error;
  }
}
