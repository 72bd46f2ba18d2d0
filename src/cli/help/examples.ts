/**
 * Examples shown at the end of each command's `--help`, by command path (`''` is `trawl`
 * itself, `'storages add'` a subcommand). Each is a command line and what it does. A test
 * (test/cli.help.test.ts) runs over every registered command: each has examples here, and
 * every flag an example uses is one the command has — a command added or a flag renamed
 * without its examples fails it.
 */
import { hanging } from './text.js';

export type Example = readonly [commandLine: string, what: string];

export const EXAMPLES: Readonly<Record<string, readonly Example[]>> = {
  '': [
    ['trawl scan ~/Music', 'index a folder (again: only the changes are written)'],
    ['trawl ls ~/Music /albums', 'what the index holds there'],
    ['trawl storages add sftp://me@nas.local/srv/media --name nas', 'register a storage'],
    ['trawl scan nas', 'scan it by its name'],
    ['trawl scans', 'the history of scans'],
  ],
  scan: [
    ['trawl scan ~/Music', 'a local folder, into the default index'],
    ['trawl scan sftp://me@nas.local/srv/media --json', 'a remote storage; the result as JSON'],
    ["trawl scan 's3://photos/2024?endpoint=http://minio.local:9000'", 'S3-compatible storage'],
    ['trawl scan nas --wait', 'a registered storage; wait while another process scans it'],
    ['trawl scan ~/Music --dry-run', 'what a scan would change, writing nothing'],
    ["trawl scan ~/src --exclude 'node_modules/'", 'leave a folder name out'],
    ['trawl scan ~/Music --db ./music.db', 'into an index of its own'],
  ],
  watch: [
    ['trawl watch ~/Music', 'keep its index live from file-system events, until Ctrl-C'],
    ['trawl watch music --rescan-every 1d --json', 'a registered folder; a full rescan daily'],
  ],
  ls: [
    ['trawl ls ~/Music', 'the top of a scanned folder'],
    ["trawl ls nas '/films/2024' -r", 'a registered storage, a whole subtree'],
    ['trawl ls ~/Music --json', 'one JSON object per entry'],
  ],
  find: [
    ["trawl find ~/Music --name '*.flac'", 'files by name (a glob, any case)'],
    ['trawl find nas -k video -S +1G --sort size', 'videos over 1 GB, largest first'],
    ['trawl find nas /films --newer 7d', 'changed in the last week'],
    ['trawl find ~/Music -e mp3,m4a -a -0 | xargs -0 ls -l', 'absolute paths for other tools'],
  ],
  du: [
    ['trawl du ~/Music', 'totals of each top folder, largest first'],
    ['trawl du nas /films -d 2 --json', 'two levels down, as JSON lines'],
  ],
  scans: [
    ['trawl scans', 'the last 50 scans, newest first'],
    ['trawl scans --limit 5 --json', 'as JSON lines'],
  ],
  worker: [
    ['trawl worker', 'run the scheduled scans of this machine (no Redis)'],
    [
      'trawl worker --redis redis://queue.local:6379 --db postgres://trawl@db.local/trawl',
      "one of a fleet's workers",
    ],
  ],
  serve: [
    ['trawl serve', 'the API and web page on http://127.0.0.1:8080'],
    ['trawl serve --host 0.0.0.0 --port 9000', 'reachable from other machines'],
  ],
  jobs: [
    ['trawl jobs --redis redis://queue.local:6379', "a fleet's queue"],
    ['trawl jobs --json', 'as JSON'],
  ],
  migrate: [
    ['trawl migrate --db postgres://trawl@db.local/trawl', "bring a fleet's index up to date"],
  ],
  storages: [
    ['trawl storages add ~/Music', 'register a folder (named Music)'],
    ['trawl storages ls', 'every storage, with its schedule and last scan'],
  ],
  'storages add': [
    ['trawl storages add ~/Music --every 6h', 'a folder, scanned every six hours'],
    [
      'trawl storages add webdavs://me@cloud.example.com/dav --name cloud --password-stdin',
      'the password read from stdin, sealed in the index',
    ],
    ["trawl storages add sftp://me@nas.local/srv --set 'hostKey=SHA256:…'", 'an option'],
  ],
  'storages ls': [['trawl storages ls --json', 'every storage as JSON lines']],
  'storages show': [['trawl storages show nas', 'its options (secrets as ***) and schedule']],
  'storages edit': [
    ['trawl storages edit nas --set timeoutMs=60000', 'change an option'],
    ['trawl storages edit nas --cron "0 3 * * *"', 'scan it at 03:00 UTC'],
    ['trawl storages edit nas --name media', 'rename it'],
  ],
  'storages rm': [['trawl storages rm nas --yes', 'forget it and everything indexed of it']],
  'storages enable': [['trawl storages enable nas', 'scans and schedules run again']],
  'storages disable': [['trawl storages disable nas', 'no scans until enabled']],
  secrets: [['trawl secrets rotate', 'seal every stored secret under a new key']],
  'secrets rotate': [
    ['trawl secrets rotate', 'a new key file, the old key dropped'],
    ['TRAWL_SECRET_KEY=… trawl secrets rotate --json', 'under the key the environment gives'],
  ],
  completion: [
    ['trawl completion bash > ~/.local/share/bash-completion/completions/trawl', 'bash'],
    ['trawl completion zsh > "${fpath[1]}/_trawl"', 'zsh'],
    ['trawl completion fish > ~/.config/fish/completions/trawl.fish', 'fish'],
  ],
};

/** The examples of the command at `path`, formatted for the end of its help. */
export function examplesText(path: string): string {
  const list = EXAMPLES[path];
  if (!list || list.length === 0) return '';
  // What each does goes beside it when the line is short, else under it.
  const width = Math.min(44, Math.max(...list.map(([line]) => line.length)));
  const lines = list.map(([line, what]) =>
    line.length > width
      ? `  ${line}\n${hanging(`  ${' '.repeat(width)}  # `, what)}`
      : hanging(`  ${line.padEnd(width)}  # `, what),
  );
  return `\nExamples:\n${lines.join('\n')}\n`;
}
