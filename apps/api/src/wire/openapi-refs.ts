import { applyDecorators } from '@nestjs/common';
import { ApiResponse } from '@nestjs/swagger';

/** A `$ref` to one of the component schemas generated from the zod schemas (see openapi.ts). */
export function ref(name: string): { $ref: string } {
  return { $ref: `#/components/schemas/${name}` };
}

const DESCRIPTIONS: Record<number, string> = {
  400: 'Invalid request; `error.param` names the field.',
  401: 'Missing or invalid API key.',
  403: 'The key or token lacks the scope this route needs.',
  404: 'Not found.',
  409: 'Conflict with the current state (not ready, already finished, Idempotency-Key reused).',
  413: 'Request body too large.',
  415: 'Unsupported Content-Type.',
  416: 'Range not satisfiable.',
  429: 'Rate limited, or the API key has as many queued jobs as its max_queued allows; see Retry-After.',
  500: 'Generation failed or internal error.',
  503: 'Queue full, not ready or shutting down; see Retry-After.',
};

/** Documents error statuses, all in the OpenAI error envelope. */
export function errorResponses(...statuses: number[]): MethodDecorator & ClassDecorator {
  return applyDecorators(
    ...statuses.map((status) =>
      ApiResponse({ status, description: DESCRIPTIONS[status] ?? 'Error.', schema: ref('ErrorResponse') }),
    ),
  );
}
