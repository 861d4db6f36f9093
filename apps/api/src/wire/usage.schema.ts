import { z } from 'zod';

const usageRowSchema = z.object({
  caller: z
    .string()
    .optional()
    .describe('With group_by caller: `key:<name>`, `sub:<subject>`, `user:<user>` or `anonymous`.'),
  model: z.string().optional().describe('With group_by model.'),
  day: z.string().optional().describe('With group_by day: the UTC date the jobs ended, YYYY-MM-DD.'),
  jobs: z
    .object({
      completed: z.number().int(),
      failed: z.number().int(),
      cancelled: z.number().int(),
      total: z.number().int(),
    })
    .describe('Jobs that ended in the range, by outcome.'),
  output_seconds: z.number().describe('Seconds of video delivered (completed jobs).'),
  frames: z.number().int().describe('Frames delivered (completed jobs).'),
  gpu_seconds: z
    .number()
    .describe('Worker wall time of every run × the devices in its worker group (a CPU worker: one).'),
});

/** GET /v1/usage: what callers used, recorded durably when each job ended. Also documents the spec. */
export const usageReportSchema = z
  .object({
    object: z.literal('usage'),
    start: z.string().describe('Range start, inclusive (ISO 8601).'),
    end: z.string().describe('Range end, exclusive (ISO 8601).'),
    group_by: z.array(z.enum(['caller', 'model', 'day'])),
    data: z.array(usageRowSchema).describe('One row per group, ordered by day, caller, model.'),
    total: usageRowSchema.describe('Everything in the range.'),
  })
  .describe('Usage report');

export type UsageReport = z.infer<typeof usageReportSchema>;
