import { Controller, Get, Inject, Query, Req, Res } from '@nestjs/common';
import { ApiOperation, ApiProduces, ApiQuery, ApiResponse, ApiTags } from '@nestjs/swagger';

import { ApiError } from '../common/api-error';
import { abortOnClose, type HttpReply, type HttpRequest, preferredType } from '../common/http';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { OUTPUT_STORE, type OutputStore } from '../storage/output-store';
import { CreateAndWait } from '../videos/create-and-wait';
import { VideoPresenter } from '../videos/video-presenter';
import { VideoRequests } from '../videos/video-requests';
import { errorResponses } from '../wire/openapi-refs';

const TEXT = 'text/plain; charset=utf-8';

/** The original service's endpoint: blocks until the video exists, then says where it is. */
@ApiTags('compatibility')
@Controller()
export class GenerateController {
  constructor(
    @Inject(APP_CONFIG) private readonly config: Pick<AppConfig, 'maxWaitS'>,
    private readonly requests: VideoRequests,
    private readonly createAndWait: CreateAndWait,
    private readonly presenter: VideoPresenter,
    @Inject(OUTPUT_STORE) private readonly outputs: Pick<OutputStore, 'locate'>,
  ) {}

  @Get('generate')
  @ApiOperation({
    summary: 'Generate and wait (compatibility)',
    description:
      'Answers `Video generated at <path>` as text, or JSON when Accept prefers application/json. ' +
      'Still running at the deadline: 202. Besides `prompt`, any field of CreateVideoRequest may be given ' +
      'as a query parameter (`size`, `width`, `height`, `num_frames`, `seconds`, `fps`, `seed`, `user`, …); ' +
      'they are snapped and reported as on POST /v1/videos (`t2v-adjusted`, `Prefer: handling=strict`).',
  })
  @ApiQuery({ name: 'prompt', required: true })
  @ApiQuery({ name: 'size', required: false, description: 'WIDTHxHEIGHT, snapped to the model grid.' })
  @ApiQuery({ name: 'num_frames', required: false, description: 'Snapped to the nearest 4k+1.' })
  @ApiQuery({ name: 'user', required: false, description: 'End-user identifier.' })
  @ApiProduces('text/plain', 'application/json')
  @ApiResponse({ status: 200, description: 'Generated.' })
  @ApiResponse({ status: 202, description: 'Still running; poll /v1/videos/{id}.' })
  @errorResponses(400, 401, 500, 503)
  async generate(
    @Query() query: Record<string, unknown>,
    @Req() req: HttpRequest,
    @Res() res: HttpReply,
  ): Promise<void> {
    if (typeof query['prompt'] !== 'string')
      throw ApiError.badRequest('prompt', "Missing required query parameter 'prompt'.", 'missing_field');
    // The create fields as query parameters, typed as in a multipart form.
    const request = await this.requests.fromQuery(req, query);
    const done = await this.createAndWait.run(request, null, this.config.maxWaitS * 1000, abortOnClose(res));
    this.presenter.setCreateHeaders(res, this.requests.preferences(req), request.adjusted, null);
    const video = await this.presenter.present(done);
    const file = this.outputs.locate(done.id);
    const json = preferredType(req.headers.accept, ['text/plain', 'application/json']) === 'application/json';
    if (done.status === 'completed') {
      if (json)
        await res.send({
          id: done.id,
          status: done.status,
          path: file,
          url: `/v1/videos/${done.id}/content`,
          video,
        });
      else await res.type(TEXT).send(`Video generated at ${file}`);
      return;
    }
    if (done.status === 'failed' || done.status === 'cancelled') {
      const message =
        `Video generation ${done.status}: ${done.errorCode ?? 'CANCELLED'}: ${done.errorMessage ?? ''}`.trim();
      if (json) throw new ApiError(500, 'server_error', 'internal_error', message);
      await res.code(500).type(TEXT).send(message);
      return;
    }
    res.code(202).header('Location', `/v1/videos/${done.id}`);
    if (json) await res.send({ id: done.id, status: done.status, video });
    else await res.type(TEXT).send(`Video ${done.id} is ${done.status}; poll /v1/videos/${done.id}`);
  }
}
