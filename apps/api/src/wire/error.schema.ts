import { API_ERROR_CODES, API_ERROR_TYPES } from '@t2v/contracts';
import { z } from 'zod';

/** The OpenAI error envelope every failure is answered with. */
export const errorResponseSchema = z
  .object({
    error: z.object({
      message: z.string(),
      type: z.enum(API_ERROR_TYPES),
      param: z.string().nullable(),
      code: z.enum(API_ERROR_CODES),
    }),
  })
  .describe('ErrorResponse');
