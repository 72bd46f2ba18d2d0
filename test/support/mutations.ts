import {
  appendFileSync,
  mkdirSync,
  renameSync,
  rmSync,
  unlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';

/** A small seeded PRNG (mulberry32): the same seed makes the same mutations. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface MutationCounts {
  createFile: number;
  modifyFile: number;
  deleteFile: number;
  renameFile: number;
  touch: number;
  mkdir: number;
  mkdirNested: number;
  rmdir: number;
  renameDir: number;
}

/**
 * Random mutations of a real folder — files and directories created, written, deleted,
 * renamed and moved, nested directories made and filled at once, subtrees removed and moved —
 * with a model of the tree kept alongside so each step picks real targets without reading
 * the disk. Paths in the model are relative (`a/b`), the root is `''`.
 */
export class TreeMutator {
  readonly root: string;
  readonly counts: MutationCounts = {
    createFile: 0,
    modifyFile: 0,
    deleteFile: 0,
    renameFile: 0,
    touch: 0,
    mkdir: 0,
    mkdirNested: 0,
    rmdir: 0,
    renameDir: 0,
  };
  readonly #random: () => number;
  #dirs: string[] = [''];
  #files: string[] = [];
  #n = 0;
  readonly #maxFiles: number;

  /** Directories and files in the tree now. */
  get size(): { dirs: number; files: number } {
    return { dirs: this.#dirs.length - 1, files: this.#files.length };
  }

  constructor(root: string, seed: number, maxFiles = 2500) {
    this.root = root;
    this.#random = seeded(seed);
    this.#maxFiles = maxFiles;
  }

  /** A starting tree: `dirs` directories (nested up to 3 deep), `files` files among them. */
  seed(dirs: number, files: number): void {
    for (let i = 0; i < dirs; i++) this.#mkdir(this.#pick(this.#dirs));
    for (let i = 0; i < files; i++) this.#createFile();
  }

  /** One random mutation. */
  step(): void {
    const r = this.#random();
    const crowded = this.#files.length >= this.#maxFiles;
    if (this.#files.length === 0 || r < 0.28) {
      if (crowded) this.#deleteFile();
      else this.#createFile();
    } else if (r < 0.42) this.#modifyFile();
    else if (r < 0.56) this.#deleteFile();
    else if (r < 0.66) this.#renameFile();
    else if (r < 0.7) this.#touch();
    else if (r < 0.8) this.#mkdir(this.#pick(this.#dirs), this.#random() < 0.5);
    else if (r < 0.86) this.#rmdir();
    else this.#renameDir();
  }

  #abs(rel: string): string {
    return rel === '' ? this.root : join(this.root, rel);
  }

  #pick<T>(list: readonly T[]): T {
    return list[Math.floor(this.#random() * list.length)]!;
  }

  #name(prefix: string): string {
    return `${prefix}${++this.#n}${this.#random() < 0.1 ? ' é #%' : ''}`;
  }

  #under(dir: string, name: string): string {
    return dir === '' ? name : `${dir}/${name}`;
  }

  #bytes(): Buffer {
    return Buffer.alloc(Math.floor(this.#random() * 64), 120);
  }

  #createFile(): void {
    const path = this.#under(this.#pick(this.#dirs), this.#name('f'));
    writeFileSync(this.#abs(path), this.#bytes());
    this.#files.push(path);
    this.counts.createFile++;
  }

  #modifyFile(): void {
    if (this.#files.length === 0) return;
    appendFileSync(
      this.#abs(this.#pick(this.#files)),
      'x'.repeat(1 + Math.floor(this.#random() * 8)),
    );
    this.counts.modifyFile++;
  }

  #deleteFile(): void {
    if (this.#files.length === 0) return;
    const i = Math.floor(this.#random() * this.#files.length);
    unlinkSync(this.#abs(this.#files[i]!));
    this.#files.splice(i, 1);
    this.counts.deleteFile++;
  }

  #renameFile(): void {
    if (this.#files.length === 0) return;
    const i = Math.floor(this.#random() * this.#files.length);
    const to = this.#under(this.#pick(this.#dirs), this.#name('r'));
    renameSync(this.#abs(this.#files[i]!), this.#abs(to));
    this.#files[i] = to;
    this.counts.renameFile++;
  }

  #touch(): void {
    const target = this.#random() < 0.5 && this.#files.length > 0;
    const path = target ? this.#pick(this.#files) : this.#pick(this.#dirs);
    const when = new Date(Date.now() - Math.floor(this.#random() * 1e9));
    utimesSync(this.#abs(path), when, when);
    this.counts.touch++;
  }

  /** A new directory; `nested` also makes one inside it and a file in that, at once. */
  #mkdir(parent: string, nested = false): void {
    if (parent.split('/').length > 6) parent = '';
    const dir = this.#under(parent, this.#name('d'));
    mkdirSync(this.#abs(dir));
    this.#dirs.push(dir);
    this.counts.mkdir++;
    if (!nested) return;
    const inner = this.#under(dir, this.#name('n'));
    mkdirSync(this.#abs(inner));
    const file = this.#under(inner, this.#name('f'));
    writeFileSync(this.#abs(file), this.#bytes());
    this.#dirs.push(inner);
    this.#files.push(file);
    this.counts.mkdirNested++;
  }

  /** Removes a directory holding no directory (with its files): the tree keeps growing. */
  #rmdir(): void {
    if (this.#dirs.length < 4) return;
    const dir = this.#pick(this.#dirs.slice(1));
    if (this.#dirs.some((d) => d.startsWith(`${dir}/`))) return;
    rmSync(this.#abs(dir), { recursive: true });
    const prefix = `${dir}/`;
    this.#dirs = this.#dirs.filter((d) => d !== dir && !d.startsWith(prefix));
    this.#files = this.#files.filter((f) => !f.startsWith(prefix));
    this.counts.rmdir++;
  }

  #renameDir(): void {
    if (this.#dirs.length < 3) return;
    const dir = this.#pick(this.#dirs.slice(1));
    const prefix = `${dir}/`;
    const targets = this.#dirs.filter((d) => d !== dir && !d.startsWith(prefix));
    let parent = this.#pick(targets);
    if (parent.split('/').length > 6) parent = '';
    const to = this.#under(parent, this.#name('m'));
    renameSync(this.#abs(dir), this.#abs(to));
    const move = (p: string) =>
      p === dir ? to : p.startsWith(prefix) ? to + p.slice(dir.length) : p;
    this.#dirs = this.#dirs.map(move);
    this.#files = this.#files.map(move);
    this.counts.renameDir++;
  }
}
