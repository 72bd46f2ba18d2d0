/**
 * What test/fixtures/paced-scan.mjs serves as memory://paced, as index rows, so that a test
 * can check an index a broken scan left behind: every row whole and true to the tree.
 */

/** [path, isDir, size, mtime] of every entry of the paced tree, keyed by path. */
export function pacedRows(
  dirs: number,
  files: number,
): Map<string, [string, boolean, number, number]> {
  const rows = new Map<string, [string, boolean, number, number]>();
  for (let d = 0; d < dirs; d++) {
    rows.set(`/d${d}`, [`/d${d}`, true, 0, 0]);
    for (let f = 0; f < files; f++) rows.set(`/d${d}/f${f}.txt`, [`/d${d}/f${f}.txt`, false, f, d]);
  }
  return rows;
}

/**
 * Checks rows read from an index against the paced tree: each is an entry of the tree with
 * its exact values, and no file is indexed under a directory the index does not hold.
 * Returns how many rows there were.
 */
export function expectTrueToTree(
  indexed: Array<[string, boolean, number, number]>,
  dirs: number,
  files: number,
): number {
  const truth = pacedRows(dirs, files);
  const paths = new Set(indexed.map((r) => r[0]));
  for (const row of indexed) {
    const want = truth.get(row[0]);
    if (!want || want.some((v, i) => v !== row[i])) {
      throw new Error(
        `index row ${JSON.stringify(row)} is not in the tree (${JSON.stringify(want)})`,
      );
    }
    const parent = row[0].slice(0, row[0].lastIndexOf('/'));
    if (parent !== '' && !paths.has(parent)) throw new Error(`${row[0]} indexed without ${parent}`);
  }
  return indexed.length;
}
