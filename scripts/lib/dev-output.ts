/**
 * What `npm start` shows of `wrangler dev`'s output: the Worker's JSON log lines (one per request,
 * src/middleware/request-context.ts, and any other it writes) as one readable line each, e.g.
 *
 *   12:01:02 GET /v1/devices?limit=2 200 12 ms req_3c5319f30e1d4ac091a932b4b98a1176
 *
 * everything else passed through as it came, minus wrangler's start-up chatter that `npm start`
 * replaces with its own summary. What is dropped, all of it known by its text (NOISE below):
 *
 * - the `⛅️ wrangler <version>` banner and the rule under it;
 * - "Using secrets defined in .dev.vars" (`npm start` writes that file itself);
 * - the bindings table ("Your Worker has access to the following bindings:" and its `env.…` rows);
 * - "⎔ Starting local server..." and "[wrangler:info] Ready on …" (`npm start` says where it runs);
 * - the "Scheduled Workers are not automatically triggered during local development." box (the
 *   summary says how to trigger the cron);
 * - wrangler's own line per request (`[wrangler:info] GET /health 200 OK (3ms)`): the Worker's
 *   line says the same, and more. Not for a 5xx: when the Worker failed outside its app (at start-up,
 *   past a limit), wrangler's line is the only one naming the request;
 * - blank lines outside a box (wrangler's spacing).
 *
 * Any other line, every `✘ [ERROR]` box and every other `▲ [WARNING]` box included, is shown as it
 * came: an error is never filtered out. A Worker line wrangler wrapped in a warning or error box
 * (console.warn / console.error) is unwrapped and shown like the others.
 */

export type Stream = 'stdout' | 'stderr';

export interface DevOutputOptions {
  /** Writes one line (without its line break) to our stdout or stderr. */
  write: (line: string, stream: Stream) => void;
  /** Colour the rendered lines (a terminal that wants colour); wrangler's own colours are kept only then too. */
  color: boolean;
  /** While false, the Worker's lines for GET /health are dropped: they are `npm start` polling for readiness. */
  ready: () => boolean;
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: matching terminal escape sequences is the point.
const ANSI = /\x1b\[[0-9;]*m/g;
const BOX = /^(?:▲ \[WARNING\]|✘ \[ERROR\]) (?<text>.*)$/;

/** Lines dropped on their own (matched after removing colour codes). */
const NOISE: RegExp[] = [
  /^\s*⛅️?\s*wrangler \d+\.\d+\.\d+/,
  /^─+$/,
  /^Using (?:secrets|vars) defined in \S+$/,
  /^⎔ Starting local server\.\.\.$/,
  /^\[wrangler:info\] Ready on \S+$/,
  /^\[wrangler:info\] (?:GET|HEAD|POST|PUT|PATCH|DELETE|OPTIONS|CONNECT|TRACE) \S+ [1-4]\d\d\b.*\(\d+ms\)$/,
];
/** The first line of a table or box dropped with the lines under it (the indented or `env.…` ones). */
const NOISE_BLOCKS: RegExp[] = [
  /^Your Worker has access to the following bindings:$/,
  /^▲ \[WARNING\] Scheduled Workers are not automatically triggered during local development\.$/,
];

const LEVEL_COLOR: Record<string, string> = { debug: '2', info: '36', warn: '33', error: '31' };

function paint(text: string, code: string, color: boolean): string {
  return color ? `\x1b[${code}m${text}\x1b[0m` : text;
}

function clock(time: unknown): string {
  const date = typeof time === 'string' ? new Date(time) : new Date();
  const valid = Number.isNaN(date.getTime()) ? new Date() : date;
  return valid.toTimeString().slice(0, 8);
}

function statusCode(status: number): string {
  return status >= 500 ? '31' : status >= 400 ? '33' : status >= 300 ? '36' : '32';
}

function scalar(value: unknown): string {
  return typeof value === 'string' && /^[^\s"=]+$/.test(value) ? value : JSON.stringify(value);
}

/** A Worker log line (`{"level":…,"msg":…,"time":…,…}`), or undefined when `text` is not one. */
function parseLogLine(text: string): Record<string, unknown> | undefined {
  if (!text.startsWith('{')) return undefined;
  try {
    const parsed: unknown = JSON.parse(text);
    if (parsed !== null && typeof parsed === 'object' && typeof (parsed as { msg?: unknown }).msg === 'string') {
      return parsed as Record<string, unknown>;
    }
  } catch {
    // Not JSON after all: shown as it came.
  }
  return undefined;
}

/** One readable line for a Worker log line. */
export function renderLogLine(line: Record<string, unknown>, color: boolean): string {
  const time = paint(clock(line.time), '2', color);
  if (line.msg === 'request' && typeof line.method === 'string' && typeof line.status === 'number') {
    const path = `${String(line.path ?? line.route ?? '?')}${typeof line.query === 'string' ? line.query : ''}`;
    const duration = typeof line.duration_ms === 'number' ? `${Math.round(line.duration_ms)} ms` : '';
    const error = line.error === undefined ? '' : ` ${paint(`error=${scalar(line.error)}`, '31', color)}`;
    return [
      time,
      line.method,
      path,
      paint(String(line.status), statusCode(line.status), color),
      duration,
      paint(String(line.request_id ?? ''), '2', color),
    ]
      .filter((part) => part !== '')
      .join(' ')
      .concat(error);
  }
  const level = typeof line.level === 'string' ? line.level : 'info';
  const rest = Object.entries(line)
    .filter(([key]) => !['level', 'msg', 'time', 'trace_id', 'span_id'].includes(key))
    .map(([key, value]) => `${key}=${scalar(value)}`);
  return [time, paint(level, LEVEL_COLOR[level] ?? '0', color), line.msg, ...rest].join(' ');
}

/** A line handler for {@link startLocalWorker}'s `log` option that shows what the module comment says. */
export function devOutputFilter(options: DevOutputOptions): (raw: string, stream: Stream) => void {
  // Inside a dropped block (its indented lines and blank lines follow), or a shown box (the same, shown).
  let block: 'none' | 'dropped' | 'shown' = 'none';
  return (raw, stream) => {
    const line = raw.replace(ANSI, '');
    if (block !== 'none') {
      const inside =
        line.trim() === '' || /^\s/.test(line) || (block === 'dropped' && /^env\.\S/.test(line)) || /^Binding\s+Resource/.test(line);
      if (inside) {
        if (block === 'shown') options.write(options.color ? raw : line, stream);
        return;
      }
      block = 'none';
    }
    if (line.trim() === '' || NOISE.some((pattern) => pattern.test(line))) return;
    if (NOISE_BLOCKS.some((pattern) => pattern.test(line))) {
      block = 'dropped';
      return;
    }
    const boxed = BOX.exec(line)?.groups?.text;
    const logLine = parseLogLine(boxed ?? line);
    if (logLine !== undefined) {
      if (!options.ready() && logLine.msg === 'request' && logLine.path === '/health') return;
      // One stream for all of them, so that they stay in order.
      options.write(renderLogLine(logLine, options.color), 'stdout');
      return;
    }
    if (boxed !== undefined) block = 'shown';
    options.write(options.color ? raw : line, stream);
  };
}
