import { pino, type DestinationStream, type Logger, type LevelWithSilent } from 'pino';
import { redactText, SECRET_KEYS } from '../util/redact.js';

export type { Logger };

export interface LoggerOptions {
  /** @default 'info' */
  level?: LevelWithSilent;
  /** Where JSON lines go. @default stderr (stdout stays clean for `--json` output) */
  destination?: DestinationStream;
  /** Fields on every line (`{ service: 'worker' }`). */
  base?: Record<string, unknown>;
}

/**
 * Structured logs (pino, one JSON object a line). Credentials never reach the output: values
 * under secret-looking keys are censored wherever they are nested, and every error message
 * and stack passes through {@link redactText}, so a URL with a password inside a native
 * error is cleaned too.
 */
export function createLogger(options: LoggerOptions = {}): Logger {
  if (options.level === 'silent' && !options.destination) return pinoSilent();
  return pino(
    {
      level: options.level ?? 'info',
      base: options.base ?? null,
      redact: { paths: redactPaths(), censor: '[redacted]' },
      serializers: { err: serializeError, error: serializeError },
      formatters: { level: (label) => ({ level: label }) },
    },
    options.destination ?? pino.destination({ fd: 2, sync: true }),
  );
}

/** pino at level silent: a whole logger (Fastify's, under `TRAWL_LOG_LEVEL=silent`). */
function pinoSilent(): Logger {
  return pino({ level: 'silent' });
}

function redactPaths(): string[] {
  // fast-redact matches exact paths; cover a key at the top, one and two levels down.
  return SECRET_KEYS.flatMap((k) => [k, `*.${k}`, `*.*.${k}`]);
}

function serializeError(error: unknown): Record<string, unknown> {
  if (!(error instanceof Error)) return { message: redactText(String(error)) };
  const out: Record<string, unknown> = {
    type: error.name,
    message: redactText(error.message),
  };
  const code = (error as { code?: unknown }).code;
  if (code !== undefined) out.code = code;
  if (error.stack) out.stack = redactText(error.stack);
  return out;
}
