import type { Command } from 'commander';
import type { App } from '../../app.js';
import {
  checkCron,
  describeSchedule,
  formatEvery,
  nextRun,
  parseEvery,
  type Schedule,
} from '../../catalog/schedule.js';
import { StorageCatalog } from '../../catalog/storages.js';
import type { StorageRecord } from '../../db/repositories/storages.js';
import { secretKeysOf } from '../../storage/options.js';
import { splitServiceOptions } from '../../storage/limits/options.js';
import { backendFor } from '../../storage/registry.js';
import { URL_LIKE } from '../../storage/url.js';
import { openApp, storageSpecFrom, writeLine, type CliIo } from '../context.js';
import { parsePositiveInt, UsageError } from '../errors.js';
import { formatCount, printable } from '../format.js';

interface CommonFlags {
  db?: string;
  json?: boolean;
}

interface ChangeFlags extends CommonFlags {
  name?: string;
  every?: string;
  cron?: string;
  schedule?: boolean;
  maxConcurrency?: number | null;
  set: string[];
  unset?: string[];
  passwordStdin?: boolean;
  exclude: string[];
  unexclude?: string[];
}

const DB_FLAG = ['--db <file|url>', 'index database: a SQLite file or postgres:// URL'] as const;

/** `trawl storages …`: the tenant's storages as managed objects. */
export function storagesCommand(program: Command, io: CliIo): void {
  const storages = program
    .command('storages')
    .description('the storages of the tenant: add, list, show, edit, remove, enable, disable');

  storages
    .command('add')
    .description('register a storage (a local folder or a URL) under a name')
    .argument('<path|url>', 'local folder, or a storage URL')
    .option('--name <name>', 'its name (default: a readable form of the location)')
    .option('--every <duration>', 'scan it every 30m, 6h, 1d… (stored; the job layer fires it)')
    .option('--cron <expression>', 'scan it at these times, 5 fields, UTC: "0 3 * * *"')
    .option('--max-concurrency <n>', 'requests in flight to it (default 5)', concurrency)
    .option('--set <key=value>', 'a backend option (repeatable)', collect, [])
    .option(
      '--exclude <glob>',
      'a gitignore pattern its scans leave out (repeatable; docs/excludes.md)',
      collect,
      [],
    )
    .option('--password-stdin', "read the backend's password (or secret key) from stdin")
    .option(...DB_FLAG)
    .option('--json', 'print the storage as one JSON object')
    .action(async (input: string, flags: ChangeFlags) => {
      const set: Record<string, unknown> = parseSets(flags.set);
      if (flags.exclude.length > 0) set.exclude = flags.exclude;
      const schedule = scheduleFrom(flags);
      const secret = flags.passwordStdin ? await readSecret(io) : undefined;
      let spec = storageSpecFrom(input, set);
      if (secret !== undefined) {
        spec = storageSpecFrom(input, { ...set, [firstSecret(spec.kind)]: secret });
      }
      warnSecretsOnCommandLine(io, spec.kind, input, parseSets(flags.set));
      await withApp(io, flags.db, async (app) => {
        const record = await app.catalog.add(app.tenantId, spec, {
          ...(flags.name !== undefined ? { name: flags.name } : {}),
          schedule: schedule ?? null,
          maxConcurrency: flags.maxConcurrency ?? null,
        });
        if (flags.json) writeLine(io.stdout, JSON.stringify(await view(app, record)));
        else writeLine(io.stdout, `added ${record.name}: ${printable(record.location)}`);
      });
    });

  storages
    .command('ls')
    .description('the storages, one a line')
    .option(...DB_FLAG)
    .option('--json', 'one JSON object per line (secrets shown as ***)')
    .action(async (flags: CommonFlags) => {
      await withApp(io, flags.db, async (app) => {
        for (const record of await app.catalog.list(app.tenantId)) {
          const v = await view(app, record);
          if (flags.json) writeLine(io.stdout, JSON.stringify(v));
          else {
            writeLine(
              io.stdout,
              `${record.name.padEnd(20)} ${record.kind.padEnd(6)} ${(record.enabled ? 'enabled' : 'disabled').padEnd(8)} ` +
                `${(v.schedule ? describeSchedule(scheduleOf(record)!) : '-').padEnd(16)} ${printable(record.location)}`,
            );
          }
        }
      });
    });

  storages
    .command('show')
    .description('one storage: options (secrets as ***), schedule, version, entries, last scans')
    .argument('<name>', 'the storage')
    .option(...DB_FLAG)
    .option('--json', 'one JSON object')
    .action(async (name: string, flags: CommonFlags) => {
      await withApp(io, flags.db, async (app) => {
        const record = await app.catalog.byName(app.tenantId, name);
        const v = await view(app, record);
        const entries = await app.catalog.countEntries(record.id);
        const scans = (
          await app.index.scans.list({ tenantId: app.tenantId, storageId: record.id, limit: 5 })
        ).map((s) => ({
          id: s.id,
          status: s.status,
          startedAt: new Date(s.startedAt).toISOString(),
          finishedAt: s.finishedAt === null ? null : new Date(s.finishedAt).toISOString(),
          files: s.files,
          created: s.created,
          updated: s.updated,
          deleted: s.deleted,
          errors: s.errors,
        }));
        if (flags.json) {
          writeLine(io.stdout, JSON.stringify({ ...v, entries, lastScans: scans }));
          return;
        }
        const out = (label: string, value: string) =>
          writeLine(io.stdout, `${label.padEnd(16)}${value}`);
        out('name', record.name);
        out('kind', record.kind);
        out('location', printable(record.location));
        out('enabled', record.enabled ? 'yes' : 'no');
        out('version', String(record.version));
        out(
          'maxConcurrency',
          record.maxConcurrency === null ? 'default (5)' : String(record.maxConcurrency),
        );
        const schedule = scheduleOf(record);
        out(
          'schedule',
          schedule
            ? `${describeSchedule(schedule)}, next ${v.nextRunAt}`
            : 'none (scanned on demand)',
        );
        out('entries', formatCount(entries));
        const options = Object.entries(v.options);
        out('options', options.length === 0 ? '(defaults)' : '');
        for (const [key, value] of options) {
          const shown = Array.isArray(value) ? JSON.stringify(value) : String(value);
          writeLine(io.stdout, `  ${key} = ${printable(shown)}`);
        }
        out('last scans', scans.length === 0 ? 'none' : '');
        for (const s of scans) {
          writeLine(
            io.stdout,
            `  ${String(s.id).padStart(5)}  ${s.startedAt}  ${s.status.padEnd(9)}  files ${formatCount(s.files)}  errors ${formatCount(s.errors)}`,
          );
        }
      });
    });

  storages
    .command('edit')
    .description('change a storage: options, name, schedule, max concurrency')
    .argument('<name>', 'the storage')
    .option('--name <new>', 'rename it')
    .option('--set <key=value>', 'set a backend option (repeatable)', collect, [])
    .option('--unset <key>', 'remove an option: back to its default (repeatable)', collect, [])
    .option(
      '--exclude <glob>',
      'add a gitignore pattern to its exclude list (repeatable)',
      collect,
      [],
    )
    .option(
      '--unexclude <glob>',
      'take a pattern off its exclude list (repeatable; --unset exclude empties it)',
      collect,
      [],
    )
    .option('--password-stdin', "read the backend's password (or secret key) from stdin")
    .option('--every <duration>', 'scan it every 30m, 6h, 1d…')
    .option('--cron <expression>', 'scan it at these times, 5 fields, UTC: "0 3 * * *"')
    .option('--no-schedule', 'remove its schedule')
    .option('--max-concurrency <n|default>', 'requests in flight to it', concurrency)
    .option(...DB_FLAG)
    .option('--json', 'print the storage as one JSON object')
    .action(async (name: string, flags: ChangeFlags) => {
      const set: Record<string, unknown> = parseSets(flags.set);
      const schedule = scheduleFrom(flags);
      const secret = flags.passwordStdin ? await readSecret(io) : undefined;
      await withApp(io, flags.db, async (app) => {
        const current = await app.catalog.byName(app.tenantId, name);
        if (secret !== undefined) set[firstSecret(current.kind)] = secret;
        const unset = [...(flags.unset ?? [])];
        const excludes = editedExcludes(current, flags.exclude, flags.unexclude ?? []);
        if (excludes?.length === 0) unset.push('exclude');
        else if (excludes) set.exclude = excludes;
        warnSecretsOnCommandLine(io, current.kind, '', parseSets(flags.set));
        const record = await app.catalog.edit(app.tenantId, name, {
          ...(flags.name !== undefined ? { name: flags.name } : {}),
          ...(Object.keys(set).length > 0 ? { set } : {}),
          ...(unset.length ? { unset } : {}),
          ...(schedule !== undefined ? { schedule } : {}),
          ...(flags.maxConcurrency !== undefined ? { maxConcurrency: flags.maxConcurrency } : {}),
        });
        if (flags.json) writeLine(io.stdout, JSON.stringify(await view(app, record)));
        else {
          const what = record.version === current.version ? '' : ` (version ${record.version})`;
          writeLine(io.stdout, `changed ${record.name}${what}`);
        }
      });
    });

  storages
    .command('rm')
    .description('remove a storage with its index entries, scan history and schedule')
    .argument('<name>', 'the storage')
    .option('-y, --yes', 'do it (needed on a terminal, where it otherwise only says what would go)')
    .option(...DB_FLAG)
    .option('--json', 'print what was removed as one JSON object')
    .action(async (name: string, flags: CommonFlags & { yes?: boolean }) => {
      await withApp(io, flags.db, async (app) => {
        const record = await app.catalog.byName(app.tenantId, name);
        const entries = await app.catalog.countEntries(record.id);
        if (!flags.yes && io.stdout.isTTY) {
          throw new UsageError(
            `this removes ${record.name} (${printable(record.location)}) with its ${formatCount(entries)} index entries and scan history; run again with --yes`,
          );
        }
        await app.catalog.remove(app.tenantId, name);
        if (flags.json) {
          writeLine(io.stdout, JSON.stringify({ removed: record.name, id: record.id, entries }));
        } else {
          writeLine(io.stdout, `removed ${record.name} and ${formatCount(entries)} index entries`);
        }
      });
    });

  for (const enabled of [true, false]) {
    const verb = enabled ? 'enable' : 'disable';
    storages
      .command(verb)
      .description(
        enabled
          ? 'let a storage be scanned again'
          : 'stop scans of a storage (its index stays; live connections close)',
      )
      .argument('<name>', 'the storage')
      .option(...DB_FLAG)
      .option('--json', 'print the storage as one JSON object')
      .action(async (name: string, flags: CommonFlags) => {
        await withApp(io, flags.db, async (app) => {
          const record = await app.catalog.setEnabled(app.tenantId, name, enabled);
          if (flags.json) writeLine(io.stdout, JSON.stringify(await view(app, record)));
          else writeLine(io.stdout, `${verb}d ${record.name}`);
        });
      });
  }
}

async function withApp(
  io: CliIo,
  db: string | undefined,
  work: (app: App) => Promise<void>,
): Promise<void> {
  const app = await openApp(io, db);
  try {
    await work(app);
  } finally {
    await app.close();
  }
}

/** A storage as `--json` shows it: never a secret, sealed or not. */
async function view(app: App, record: StorageRecord) {
  const schedule = scheduleOf(record);
  let nextRunAt: string | null = null;
  if (schedule) {
    const [last] = await app.index.scans.list({
      tenantId: app.tenantId,
      storageId: record.id,
      limit: 1,
    });
    nextRunAt = nextRun(schedule, new Date(), last?.startedAt).toISOString();
  }
  return {
    id: record.id,
    name: record.name,
    kind: record.kind,
    location: record.location,
    enabled: record.enabled,
    version: record.version,
    maxConcurrency: record.maxConcurrency,
    schedule: schedule
      ? schedule.everyMs !== undefined
        ? { every: formatEvery(schedule.everyMs) }
        : { cron: schedule.cron }
      : null,
    nextRunAt,
    options: StorageCatalog.redacted(record),
    createdAt: record.createdAt === undefined ? null : new Date(record.createdAt).toISOString(),
    updatedAt: record.updatedAt === undefined ? null : new Date(record.updatedAt).toISOString(),
  };
}

function scheduleOf(record: StorageRecord): Schedule | undefined {
  if (record.scheduleEveryMs) return { everyMs: record.scheduleEveryMs };
  if (record.scheduleCron) return { cron: record.scheduleCron };
  return undefined;
}

/** The schedule the flags ask for: undefined (unchanged), null (none) or one. */
function scheduleFrom(flags: ChangeFlags): Schedule | null | undefined {
  if (flags.every !== undefined && flags.cron !== undefined) {
    throw new UsageError('give --every or --cron, not both');
  }
  if (flags.every !== undefined) return { everyMs: parseEvery(flags.every) };
  if (flags.cron !== undefined) return { cron: checkCron(flags.cron) };
  if (flags.schedule === false) return null;
  return undefined;
}

/**
 * The storage's exclude list after `--exclude` (added at the end, where they win a tie) and
 * `--unexclude`; undefined when neither was given.
 */
function editedExcludes(
  record: StorageRecord,
  add: readonly string[],
  remove: readonly string[],
): string[] | undefined {
  if (add.length === 0 && remove.length === 0) return undefined;
  const current = splitServiceOptions(record.options).service.exclude ?? [];
  for (const p of remove) {
    if (!current.includes(p) && !add.includes(p)) {
      throw new UsageError(
        `${JSON.stringify(p)} is not on ${record.name}'s exclude list (${current.length > 0 ? current.map((c) => JSON.stringify(c)).join(', ') : 'empty'})`,
      );
    }
  }
  const kept = current.filter((p) => !remove.includes(p) && !add.includes(p));
  return [...kept, ...add.filter((p) => !remove.includes(p))];
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

function concurrency(value: string): number | null {
  if (value === 'default') return null;
  return parsePositiveInt('--max-concurrency')(value);
}

function parseSets(items: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of items) {
    const eq = item.indexOf('=');
    if (eq <= 0) {
      throw new UsageError(`--set expects key=value, got ${JSON.stringify(item)}`);
    }
    out[item.slice(0, eq)] = item.slice(eq + 1);
  }
  return out;
}

/** The option `--password-stdin` fills: the kind's first secret (password, secretAccessKey). */
function firstSecret(kind: string): string {
  const [first] = secretKeysOf(backendFor(kind).options);
  if (!first) throw new UsageError(`a ${kind} storage takes no password`);
  return first;
}

/** Everything on stdin, less one trailing newline (`echo pw |`, a here-string). */
async function readSecret(io: CliIo): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of io.stdin ?? process.stdin) {
    chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  }
  const text = Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '');
  if (text === '') throw new UsageError('--password-stdin read nothing from stdin');
  return text;
}

/** A secret typed on the command line shows in `ps` and the shell's history: say so, once. */
function warnSecretsOnCommandLine(
  io: CliIo,
  kind: string,
  input: string,
  set: Record<string, string>,
): void {
  const secrets = secretKeysOf(backendFor(kind).options);
  const inUrl = URL_LIKE.test(input) && hasUrlPassword(input);
  const inSet = Object.keys(set).some((k) => secrets.includes(k));
  if (inUrl || inSet) {
    writeLine(
      io.stderr,
      'trawl: note: a password on the command line is visible to other users (ps) and kept in your shell history; --password-stdin reads it from stdin instead',
    );
  }
}

function hasUrlPassword(input: string): boolean {
  try {
    return new URL(input).password !== '';
  } catch {
    return false;
  }
}
