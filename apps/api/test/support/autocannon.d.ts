// autocannon ships no type declarations; the tests use this much of it.
declare module 'autocannon' {
  namespace autocannon {
    interface Request {
      method?: string;
      path?: string;
      headers?: Record<string, string>;
      body?: string;
    }
    interface Options {
      url: string;
      connections?: number;
      amount?: number;
      duration?: number;
      requests?: Request[];
    }
    interface Result {
      errors: number;
      non2xx: number;
      requests: { sent: number; average: number };
    }
  }
  function autocannon(
    opts: autocannon.Options,
    cb: (err: Error | null, result: autocannon.Result) => void,
  ): void;
  export = autocannon;
}
