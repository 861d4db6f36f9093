import {
  APIConnectionError,
  APIError,
  APITimeoutError,
  AuthenticationError,
  BadRequestError,
  ConflictError,
  InternalServerError,
  NotFoundError,
  PayloadTooLargeError,
  RateLimitError,
  ServiceUnavailableError,
} from './errors.js';

describe('APIError.generate', () => {
  const headers = { 'x-request-id': 'req_42' };
  const envelope = {
    error: {
      message: 'size must be one of 256x256',
      type: 'invalid_request_error',
      param: 'size',
      code: 'unsupported_size',
    },
  };

  it.each([
    [400, BadRequestError],
    [401, AuthenticationError],
    [404, NotFoundError],
    [409, ConflictError],
    [413, PayloadTooLargeError],
    [429, RateLimitError],
    [500, InternalServerError],
    [502, InternalServerError],
    [503, ServiceUnavailableError],
  ])('maps %i to %p', (status, Class) => {
    const error = APIError.generate(status, envelope, headers);
    expect(error).toBeInstanceOf(Class);
    expect(error).toBeInstanceOf(APIError);
    expect(error.status).toBe(status);
  });

  it('carries the envelope fields and the request id, with the message as sent', () => {
    const error = APIError.generate(400, envelope, headers);
    expect(error.message).toBe('size must be one of 256x256');
    expect(error.code).toBe('unsupported_size');
    expect(error.param).toBe('size');
    expect(error.type).toBe('invalid_request_error');
    expect(error.requestId).toBe('req_42');
    expect(error.name).toBe('BadRequestError');
  });

  it('keeps a 503 catchable as a server error', () => {
    expect(APIError.generate(503, envelope, headers)).toBeInstanceOf(InternalServerError);
  });

  it('falls back to the raw body or the status when there is no envelope', () => {
    expect(APIError.generate(502, 'Bad Gateway', {}).message).toBe('Bad Gateway');
    expect(APIError.generate(502, `<html>${'x'.repeat(2000)}</html>`, {}).message).toHaveLength(501);
    const bare = APIError.generate(418, undefined, {});
    expect(bare.message).toBe('418 status code (no error message)');
    expect(bare.code).toBeNull();
    expect(bare.requestId).toBeNull();
    expect(bare.constructor).toBe(APIError);
  });

  it('makes timeouts a kind of connection error with no status', () => {
    const error = new APITimeoutError();
    expect(error).toBeInstanceOf(APIConnectionError);
    expect(error.status).toBeUndefined();
  });
});
