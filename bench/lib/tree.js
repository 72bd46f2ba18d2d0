/**
 * Builds (once) the benchmark tree under `.bench/`: `files` files in ~files/20 leaf
 * directories under about √leaves top directories, with sizes and extensions varied so
 * media kinds and byte counts are exercised. A `.complete` marker makes a half-built tree
 * (an interrupted run) get rebuilt instead of measured.
 */
import {
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';

const EXTENSIONS = ['mkv', 'jpg', 'txt', 'flac', 'srt', 'pdf', 'png', 'mp4', 'json', 'md'];
const FILES_PER_DIR = 20;

/** Shape of the tree for a file count. */
export function treeShape(files) {
  const leaves = Math.ceil(files / FILES_PER_DIR);
  const top = Math.ceil(Math.sqrt(leaves));
  return { files, leaves, top, dirs: leaves + top };
}

export function ensureTree(baseDir, files, log = () => {}) {
  const shape = treeShape(files);
  const root = join(baseDir, `tree-${files}`);
  const marker = join(baseDir, `tree-${files}.complete`);
  if (existsSync(marker) && existsSync(root)) {
    return { root, ...JSON.parse(readFileSync(marker, 'utf8')) };
  }
  rmSync(root, { recursive: true, force: true });
  mkdirSync(root, { recursive: true });
  const started = Date.now();
  const payload = Buffer.alloc(4096, 0x61);
  let made = 0;
  let dirs = 0;
  for (let t = 0; t < shape.top && made < files; t++) {
    const topDir = join(root, `t${t}`);
    mkdirSync(topDir);
    dirs++;
    for (let l = 0; l < shape.top && made < files; l++) {
      const leaf = join(topDir, `d${l}`);
      mkdirSync(leaf);
      dirs++;
      for (let f = 0; f < FILES_PER_DIR && made < files; f++, made++) {
        const ext = EXTENSIONS[made % EXTENSIONS.length];
        writeFileSync(join(leaf, `file-${f} name.${ext}`), payload.subarray(0, made % 4096));
      }
    }
    if (t % 20 === 0)
      log(`  generating: ${made.toLocaleString('en')} / ${files.toLocaleString('en')} files`);
  }
  const info = { files: made, dirs, generatedMs: Date.now() - started };
  writeFileSync(marker, JSON.stringify(info));
  return { root, ...info };
}

/**
 * Each directory under `dir` as a first scan lists it, breadth first, untimed by the benches
 * that replay its writes (write-floor.js, writer-replay.js): `[rel, entries]`, `rel` the
 * directory's path in the tree (`/` at the top), each entry `{ path, name, isDir, size,
 * mtime }` from its `lstat`.
 */
export function* treeListings(dir) {
  const queue = ['/'];
  for (let i = 0; i < queue.length; i++) {
    const rel = queue[i];
    const entries = [];
    for (const name of readdirSync(join(dir, rel))) {
      const path = rel === '/' ? `/${name}` : `${rel}/${name}`;
      const st = lstatSync(join(dir, path));
      const isDir = st.isDirectory();
      if (isDir) queue.push(path);
      entries.push({ path, name, isDir, size: isDir ? 0 : st.size, mtime: Math.floor(st.mtimeMs) });
    }
    yield [rel, entries];
  }
}
