/**
 * @module
 * The RFC 9457 problem document every error response carries.
 */
import { z } from '@hono/zod-openapi';

export const FieldErrorSchema = z
  .object({
    location: z
      .enum(['body', 'query', 'path', 'header'])
      .openapi({ description: 'Which part of the request the invalid value is in.', example: 'body' }),
    pointer: z.string().openapi({
      description: 'JSON Pointer (RFC 6901) to the invalid value within that part; empty for the part itself.',
      example: '/name',
    }),
    detail: z
      .string()
      .openapi({ description: 'What is wrong with the value.', example: 'Too big: expected string to have <=100 characters' }),
    code: z.string().openapi({ description: 'Machine-readable reason, stable across releases.', example: 'too_big' }),
  })
  .openapi('FieldError', { description: 'One invalid field of a request.' });

export const ProblemSchema = z
  .object({
    type: z.url().openapi({
      description: 'URI identifying the kind of problem; documented per `code`.',
      example: 'https://switchyard.dev/problems/validation-failed',
    }),
    title: z.string().openapi({
      description: 'Short summary of the kind of problem; the same for every occurrence.',
      example: 'The request is not valid',
    }),
    status: z.int().min(400).max(599).openapi({ description: 'The HTTP status code of this response.', example: 400 }),
    detail: z.string().openapi({
      description: 'What went wrong in this occurrence, for a human.',
      example: 'query.limit: Too big: expected number to be <=100',
    }),
    instance: z.string().openapi({ description: 'The path of the request that failed.', example: '/v1/devices' }),
    code: z.string().openapi({ description: 'Machine-readable error code; branch on this, not on `title`.', example: 'validation_failed' }),
    request_id: z.string().openapi({
      description: 'The request id, also in the `X-Request-Id` header; quote it when asking for support.',
      example: 'req_3f2b0c1e9d8a4f6b',
    }),
    errors: z.array(FieldErrorSchema).optional().openapi({ description: 'Each invalid field, for validation problems.' }),
  })
  .openapi('Problem', { description: 'An RFC 9457 problem document.' });

export type Problem = z.infer<typeof ProblemSchema>;
export type FieldError = z.infer<typeof FieldErrorSchema>;
