import { T2V } from '@t2v/sdk';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';

import { cancel, download, get, list, models, remove } from './commands/inspect.js';
import { generate, type GenerateOptions } from './commands/generate.js';
import { usage, type UsageOptions } from './commands/usage.js';
import { reportError } from './errors.js';
import { ExitCode } from './exit-codes.js';
import type { CliIO, GlobalOptions } from './io.js';

const VERSION = '0.1.0';

const EXIT_CODES_HELP = `
Environment:
  T2V_BASE_URL   server root (default http://localhost:8080)
  T2V_API_KEY    API key, sent as a bearer token

Exit codes:
  0 done · 1 unexpected error · 2 bad command line · 3 request rejected (400/409/413/422)
  4 authentication failed · 5 not found · 6 server busy or failing (429/5xx)
  7 server unreachable or timed out · 8 video failed · 9 video cancelled · 130 interrupted`;

function integer(name: string, min = 0) {
  return (value: string): number => {
    if (!/^-?\d+$/.test(value) || Number(value) < min)
      throw new InvalidArgumentError(`${name} must be an integer ≥ ${min}.`);
    return Number(value);
  };
}

function decimal(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n))
      throw new InvalidArgumentError(`${name} must be a number.`);
    return n;
  };
}

/** `--lora name` or `--lora name=0.8`, collected in order. */
function loraOption(value: string, previous: Array<{ name: string; scale: number }> = []) {
  const match = /^([^=\s]+)(?:=(.+))?$/.exec(value);
  const scale = match?.[2] === undefined ? 1 : Number(match[2]);
  if (!match || !Number.isFinite(scale))
    throw new InvalidArgumentError('--lora must be a name or name=scale (e.g. style=0.8).');
  return [...previous, { name: match[1]!, scale }];
}

/** Builds the `t2v` command tree writing to `io`; each action calls `act` with a client. */
function buildProgram(
  io: CliIO,
  act: (fn: (client: T2V, global: GlobalOptions) => Promise<void>, cmd: Command) => Promise<void>,
) {
  const program = new Command('t2v')
    .description('Generate videos from text with a t2v server.')
    .version(VERSION, '-V, --version')
    .option('--base-url <url>', 'server root (default: T2V_BASE_URL or http://localhost:8080)')
    .option('--api-key <key>', 'API key (default: T2V_API_KEY)')
    .option('--timeout <ms>', 'per-request timeout in ms', integer('--timeout', 1))
    .option('--json', 'print machine-readable JSON on stdout (errors as JSON on stderr)')
    .option('-q, --quiet', 'no progress or summaries on stderr')
    .showHelpAfterError('(t2v --help for usage)')
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: (s) => io.stderr.write(s) })
    .addHelpText('after', EXIT_CODES_HELP);

  program
    .command('generate')
    .description('create a video, show its progress, download it')
    .argument('<prompt>', 'what to render')
    .option('-o, --output <file>', 'where to write the MP4 (default: <id>.mp4)')
    .option('--size <WxH>', "frame size, one of the model's presets (see t2v models)")
    .option('--seconds <n>', 'duration in seconds')
    .option(
      '--seed <n>',
      'noise seed (identical seeded requests may be served from cache)',
      integer('--seed'),
    )
    .option('--steps <n>', 'denoising steps', integer('--steps', 1))
    .option('--negative-prompt <text>', 'what to avoid')
    .option('--guidance-scale <x>', 'classifier-free guidance scale', decimal('--guidance-scale'))
    .option('--fps <n>', 'frames per second', integer('--fps', 1))
    .option('--model <id>', 'model id (default: the loaded model)')
    .option('--thumbnail <file>', 'also write the JPEG thumbnail here')
    .option('--image <file>', 'image-to-video: start from this PNG, JPEG or WebP')
    .addOption(
      new Option('--fit <how>', 'fit the image to the size: crop (default), pad or stretch').choices([
        'crop',
        'pad',
        'stretch',
      ]),
    )
    .option(
      '--lora <name[=scale]>',
      'apply a LoRA adapter the model lists (t2v models), scale 1 by default; repeatable',
      loraOption,
    )
    .option(
      '--no-acceleration',
      "every step in full: the server's step cache does not apply (a reference render)",
    )
    .addOption(new Option('--poll', 'poll instead of following the events stream').hideHelp())
    .action((prompt: string, options: GenerateOptions, cmd: Command) =>
      act((client, global) => generate(client, prompt, options, global, io), cmd),
    );

  program
    .command('list')
    .description('list videos, newest first')
    .option('--limit <n>', 'videos per page', integer('--limit', 1))
    .option('--after <id>', 'start after this video id')
    .addOption(new Option('--order <order>', 'sort order').choices(['asc', 'desc']))
    .option('--all', 'follow every page')
    .action(
      (options: { limit?: number; after?: string; order?: 'asc' | 'desc'; all?: boolean }, cmd: Command) =>
        act((client, global) => list(client, options, global, io), cmd),
    );

  program
    .command('get')
    .description('show one video')
    .argument('<id>', 'video id')
    .action((id: string, _options: unknown, cmd: Command) =>
      act((client, global) => get(client, id, global, io), cmd),
    );

  program
    .command('download')
    .description('download a completed video (or its thumbnail)')
    .argument('<id>', 'video id')
    .option('-o, --output <file>', 'where to write it (default: <id>.mp4 or <id>.jpg)')
    .option('--thumbnail', 'the JPEG thumbnail instead of the MP4')
    .action((id: string, options: { output?: string; thumbnail?: boolean }, cmd: Command) =>
      act((client, global) => download(client, id, options, global, io), cmd),
    );

  program
    .command('cancel')
    .description('cancel a queued or running video, keeping its record')
    .argument('<id>', 'video id')
    .action((id: string, _options: unknown, cmd: Command) =>
      act((client, global) => cancel(client, id, global, io), cmd),
    );

  program
    .command('delete')
    .description('cancel if needed, then remove a video and its files')
    .argument('<id>', 'video id')
    .action((id: string, _options: unknown, cmd: Command) =>
      act((client, global) => remove(client, id, global, io), cmd),
    );

  program
    .command('models')
    .description('list the served models and their presets')
    .action((_options: unknown, cmd: Command) => act((client, global) => models(client, global, io), cmd));

  program
    .command('usage')
    .description(
      'what callers used: jobs, output seconds and frames, GPU-seconds (a key with the admin scope)',
    )
    .option('--start <when>', 'ISO 8601 date or time, or unix seconds (default: 30 days before --end)')
    .option('--end <when>', 'exclusive; ISO 8601 date or time, or unix seconds (default: now)')
    .option('--group-by <keys>', 'comma-separated: caller, model, day (default: caller,model)')
    .option('--csv', 'CSV on stdout instead of a table')
    .action((options: UsageOptions, cmd: Command) =>
      act((client, global) => usage(client, options, global, io), cmd),
    );

  for (const command of program.commands) {
    command
      .exitOverride()
      .configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: (s) => io.stderr.write(s) });
  }
  return program;
}

/**
 * Runs `t2v` with `argv` (without `node` and the script) and resolves with the exit code.
 * Never calls `process.exit`, so tests run it in-process.
 */
export async function run(argv: string[], io: CliIO): Promise<number> {
  let exitCode: number = ExitCode.OK;
  const act = async (fn: (client: T2V, global: GlobalOptions) => Promise<void>, cmd: Command) => {
    const global = cmd.optsWithGlobals<GlobalOptions>();
    try {
      const options = {
        baseURL: global.baseUrl,
        apiKey: global.apiKey,
        timeout: global.timeout,
        env: io.env,
      };
      const client = io.createClient ? io.createClient(options) : new T2V(options);
      await fn(client, global);
    } catch (error) {
      exitCode = reportError(error, io, global.json === true);
    }
  };
  const program = buildProgram(io, act);
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (error) {
    if (error instanceof CommanderError) {
      if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version') {
        return ExitCode.OK;
      }
      return ExitCode.USAGE;
    }
    return reportError(error, io, false);
  }
  return exitCode;
}
