/**
 * The web page end to end: `trawl serve` in its own process, Debian's chromium driven by
 * playwright-core. Tenant A adds a local folder, scans it, watches the bar fill, browses and
 * searches; tenant B sees none of it. Screenshots go to test-results/screenshots/; with
 * TRAWL_UPDATE_SCREENSHOT=1 the README's docs/images/serve.png is written too.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CONTENT_SECURITY_POLICY } from '../src/api/web.js';
import { createDatabase, DIALECTS, skipDialect, type TestDatabase } from './support/databases.js';
import { tempDir } from './support/harness.js';
import {
  call,
  PACED,
  startServe,
  tenantToken,
  TREE,
  writeTree,
  type ServeProcess,
} from './support/web-e2e.js';

const REPO = resolve(import.meta.dirname, '..');
const SHOTS = join(REPO, 'test-results', 'screenshots');
const CHROMIUM = '/usr/bin/chromium';
/** The storage's name (names are identifiers: no spaces); its folder's name has one. */
const NAME = 'family-files';
const ADMIN = `admin-${Math.random().toString(36).slice(2)}-${Date.now()}`;

function noChromium(): boolean {
  if (existsSync(CHROMIUM)) return false;
  if (process.env.TRAWL_REQUIRE_SERVICES) {
    throw new Error(
      `${CHROMIUM} is missing (apt-get install chromium), and TRAWL_REQUIRE_SERVICES is set`,
    );
  }
  return true;
}

/** Rows of a table, each as its cells' text. */
const rows = (page: Page, table: string) =>
  page.$$eval(`${table} tbody tr`, (trs) =>
    trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent ?? '')),
  );

/** Whether the page scrolls sideways (it must not, even at 375 px). */
const sideways = (page: Page) => page.$eval('html', (html) => html.scrollWidth > html.clientWidth);

interface BarState {
  status: string;
  /** null while the bar is indeterminate (nothing listed yet). */
  value: number | null;
  max: number;
}

/**
 * Records, in the page, every state a storage card's progress bar goes through; the returned
 * function reads them.
 */
async function recordBar(page: Page, storageId: string): Promise<() => Promise<BarState[]>> {
  const card = `article.storage[data-id="${storageId}"]`;
  await page.$eval(card, (article) => {
    const seen: BarState[] = [];
    const record = () => {
      const box = article.querySelector('.progress');
      const bar = box?.querySelector('progress');
      if (!box || !bar) return;
      const value = bar.getAttribute('value');
      const state = {
        status: box.dataset.status,
        value: value === null ? null : Number(value),
        max: bar.max,
      };
      if (JSON.stringify(seen.at(-1)) === JSON.stringify(state)) return;
      seen.push(state);
      article.dataset.seen = JSON.stringify(seen);
    };
    const win = article.ownerDocument.defaultView;
    new win.MutationObserver(record).observe(article, {
      subtree: true,
      childList: true,
      attributes: true,
      attributeFilter: ['value', 'max', 'data-status'],
    });
  });
  return async () => JSON.parse((await page.getAttribute(card, 'data-seen')) ?? '[]') as BarState[];
}

for (const dialect of DIALECTS) {
  describe.skipIf(noChromium() || (await skipDialect(dialect)))(
    `the web page on ${dialect}`,
    () => {
      let db: TestDatabase;
      let tmp: ReturnType<typeof tempDir>;
      let server: ServeProcess;
      let browser: Browser;
      let page: Page;
      let tokenA: string;
      let tokenB: string;
      let tree: string;
      let files: number;
      let storageId: string;
      /** Console errors, page errors and CSP violations; each test ends with none. */
      const problems: string[] = [];
      /** Request URLs a test expects to fail (the browser logs each failed one as an error). */
      const expectedFailures = new Set<string>();
      /** Runs a search from the header; resolves to the result rows once they are in. */
      const search = async (q: string, kind = '') => {
        await page.fill('#search input[name=q]', q);
        await page.selectOption('#search select[name=kind]', kind);
        await page.click('#search button');
        // The heading names the query and the kind, so a new view is told from the last one.
        const heading = `Search: ${kind ? `${kind} files` : 'entries'} named like “${q}”`;
        await page.locator('h1', { hasText: heading }).waitFor();
        await page.locator('#results-status:not(:has-text("Searching"))').waitFor();
        return rows(page, '#results');
      };
      const shot = (name: string) =>
        page.screenshot({ path: join(SHOTS, `${dialect}-${name}.png`), fullPage: true });

      beforeAll(async () => {
        mkdirSync(SHOTS, { recursive: true });
        db = await createDatabase(dialect);
        tmp = tempDir('trawl-web-');
        tree = join(tmp.path, 'Family files');
        mkdirSync(tree);
        files = writeTree(tree);
        server = await startServe(dialect === 'sqlite' ? join(tmp.path, 'index.db') : db.url, {
          TRAWL_ADMIN_TOKEN: ADMIN,
          TRAWL_ALLOW_LOCAL_PATHS: tmp.path,
        });
        tokenA = await tenantToken(server.url, ADMIN, 'alpha');
        tokenB = await tenantToken(server.url, ADMIN, 'beta');

        browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
        page = await browser.newPage({ viewport: { width: 1100, height: 800 } });
        // Run by the browser itself (CDP), so the page's CSP does not apply to it.
        await page.addInitScript(`document.addEventListener('securitypolicyviolation', (e) =>
        console.error('CSP violation: ' + e.violatedDirective + ' ' + e.blockedURI))`);
        page.on('console', (m) => {
          if (m.type() !== 'error') return;
          if (expectedFailures.has(m.location().url)) return;
          problems.push(`console: ${m.text()} (${m.location().url})`);
        });
        page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
        page.on('dialog', (d) => {
          problems.push(`dialog: ${d.message()}`);
          void d.dismiss();
        });
      });

      afterAll(async () => {
        await browser?.close();
        await server?.stop();
        await db?.drop();
        tmp?.cleanup();
      });

      afterEach(() => {
        expect(problems.splice(0)).toEqual([]);
      });

      it('serves the page under a strict CSP and signs tenant A in', async () => {
        const res = await page.goto(server.url);
        const headers = res!.headers();
        expect(headers['content-security-policy']).toBe(CONTENT_SECURITY_POLICY);
        expect(headers['x-content-type-options']).toBe('nosniff');
        expect(headers['x-frame-options']).toBe('DENY');
        await page.fill('#signin input[name=token]', tokenA);
        await page.click('#signin button');
        await page.locator('#who', { hasText: 'alpha' }).waitFor();
        await page.locator('#add-storage').waitFor();
        expect(await page.evaluate('sessionStorage.length')).toBe(1);
      });

      it('adds a storage, scans it, and the bar reaches the end', async () => {
        await page.fill('#add-storage input[name=url]', tree);
        // A refused name is shown on its field, and nothing is added.
        expectedFailures.add(`${server.url}/v1/storages`);
        await page.fill('#add-storage input[name=name]', 'Family files');
        await page.click('#add-storage button');
        await page.locator('#add-storage input[name=name][aria-invalid=true]').waitFor();
        expect(await page.locator('#add-storage [role=alert]').textContent()).toContain('name');
        expectedFailures.delete(`${server.url}/v1/storages`);
        expect(await page.locator('article.storage').count()).toBe(0);
        await page.fill('#add-storage input[name=name]', NAME);
        await page.fill('#add-storage input[name=schedule]', '6h');
        await page.click('#add-storage button');
        const card = page.locator('article.storage', { hasText: NAME });
        await card.waitFor();
        expect(await card.textContent()).toContain('every 6h');
        storageId = (await card.getAttribute('data-id'))!;

        const states = await recordBar(page, storageId);
        await card.locator('button', { hasText: 'Scan' }).click();
        await card.locator('.progress').waitFor();
        await shot('1-scanning');
        await card.locator('.progress[data-status=succeeded]').waitFor({ timeout: 60_000 });
        const seen = await states();
        expect(seen.at(-1)).toEqual({ status: 'succeeded', value: 1, max: 1 });
        for (const state of seen)
          if (state.value !== null) expect(state.value).toBeLessThanOrEqual(state.max);
        expect(await card.locator('.progress').textContent()).toContain(`${files} files`);
        expect(await card.locator('.last').textContent()).toContain('succeeded');
        expect(await card.locator('button', { hasText: 'Scan' }).isEnabled()).toBe(true);
        await shot('2-scanned');
      });

      it('moves the bar while a scan runs, and fills it at the end', async () => {
        // memory://paced (test/fixtures/paced-scan.mjs): 60 directories listed one at a time,
        // 50 ms each, so the scan lasts 3 s at least and its progress is written (each
        // second) while it runs.
        const paced = await call<{ id: number }>(server.url, tokenA, 'POST', '/v1/storages', {
          url: 'memory://paced',
          name: 'paced',
          maxConcurrency: 1,
        });
        await page.reload();
        const card = page.locator(`article.storage[data-id="${paced.id}"]`);
        await card.waitFor();
        const states = await recordBar(page, String(paced.id));
        await card.locator('button', { hasText: 'Scan' }).click();
        await card.locator('.progress[data-status=running] progress[value]').waitFor();
        expect(await card.locator('.progress').textContent()).toMatch(/\d+ of \d+ dirs listed/);
        await shot('1-scanning-paced');
        await card.locator('.progress[data-status=succeeded]').waitFor({ timeout: 60_000 });
        const seen = await states();
        const partway = seen.filter(
          (s) => s.status === 'running' && s.value !== null && s.value > 0 && s.value < s.max,
        );
        expect(partway.length, JSON.stringify(seen)).toBeGreaterThan(0);
        expect(seen.at(-1)).toEqual({ status: 'succeeded', value: 1, max: 1 });
        expect(await card.locator('.progress').textContent()).toContain(
          `${PACED.dirs * PACED.files} files`,
        );
      });

      it('browses into a folder and back through the breadcrumbs', async () => {
        await page.locator('article.storage h2 a', { hasText: NAME }).click();
        await page.locator('#history tbody tr').first().waitFor();
        expect((await rows(page, '#history'))[0]![1]).toBe('succeeded');
        const root = async () => (await rows(page, '#entries')).map((r) => r[0]);
        await page.locator('#entries tbody tr').nth(4).waitFor();
        expect((await root()).sort()).toEqual(
          ['Docs/', 'Music/', `${TREE.photos}/`, `${TREE.unicode}/`, 'read me.txt'].sort(),
        );

        await page.locator('#entries a.dir', { hasText: TREE.photos }).click();
        await page.locator('.crumbs [aria-current=page]', { hasText: TREE.photos }).waitFor();
        // One page is 100 entries; the 121 of this folder need "More".
        await page.locator('#entries tbody tr').nth(99).waitFor();
        expect(await page.locator('#entries tbody tr').count()).toBe(100);
        await page.locator('button.more').click();
        await page.locator('#entries tbody tr').nth(TREE.photoCount).waitFor();
        expect(await page.locator('#entries tbody tr').count()).toBe(TREE.photoCount + 1);
        expect(await page.locator('button.more').isHidden()).toBe(true);

        await page.locator('#entries a.dir', { hasText: TREE.summer }).click();
        await page.locator('.crumbs [aria-current=page]', { hasText: TREE.summer }).waitFor();
        await page
          .locator('#entries tbody tr')
          .nth(TREE.beachCount - 1)
          .waitFor();
        const ascending = (await rows(page, '#entries')).map((r) => r[0]);
        expect(ascending).toHaveLength(TREE.beachCount);
        await page.locator('#entries th a', { hasText: 'Name' }).click();
        await page.locator('#entries th[aria-sort=descending]').waitFor();
        await page
          .locator('#entries tbody tr')
          .nth(TREE.beachCount - 1)
          .waitFor();
        expect((await rows(page, '#entries')).map((r) => r[0])).toEqual([...ascending].reverse());
        await page.locator('#entries th a', { hasText: 'Size' }).click();
        await page.locator('#entries th[aria-sort=ascending] a', { hasText: 'Size' }).waitFor();
        await page
          .locator('#entries tbody tr')
          .nth(TREE.beachCount - 1)
          .waitFor();
        expect((await rows(page, '#entries'))[0]![0]).toBe('beach 1.png');
        expect(await page.$$eval('.crumbs li', (li) => li.map((x) => x.textContent))).toEqual([
          NAME,
          TREE.photos,
          TREE.summer,
        ]);
        await shot('3-browse');

        await page.locator('.crumbs a', { hasText: TREE.photos }).click();
        await page.locator('.crumbs [aria-current=page]', { hasText: TREE.photos }).waitFor();
        await page.locator('.crumbs a', { hasText: NAME }).click();
        await page.locator('.crumbs [aria-current=page]', { hasText: NAME }).waitFor();
        await page.locator('#entries tbody tr').nth(4).waitFor();
        expect((await root()).sort()).toContain('read me.txt');
      });

      it('shows names with markup as text', async () => {
        await page.locator('#entries a.dir', { hasText: 'Docs' }).click();
        await page.locator('.crumbs [aria-current=page]', { hasText: 'Docs' }).waitFor();
        await page.locator('#entries tbody tr').nth(43).waitFor();
        const names = (await rows(page, '#entries')).map((r) => r[0]);
        expect(names).toContain(TREE.script);
        expect(names).toContain(TREE.img);
        // The page's own module script is the only script, and no image was made of a name.
        expect(await page.locator('script').count()).toBe(1);
        expect(await page.locator('main img').count()).toBe(0);
      });

      it('searches by name and by kind', async () => {
        const beaches = await search('beach');
        expect(beaches).toHaveLength(TREE.beachCount);
        for (const r of beaches)
          expect(r.slice(1, 3)).toEqual([NAME, `/${TREE.photos}/${TREE.summer}`]);
        expect(await search('beach', 'image')).toHaveLength(TREE.beachCount);
        expect(await search('beach', 'video')).toHaveLength(0);
        expect(await page.locator('#results-status').textContent()).toBe('Nothing found.');
        expect((await search('script')).map((r) => r[0])).toEqual([TREE.script]);
        expect(await search('写真')).toHaveLength(20);
        await shot('4-search');

        // A result's folder opens the browser there.
        await page
          .locator('#results a', { hasText: `/${TREE.unicode}` })
          .first()
          .click();
        await page.locator('.crumbs [aria-current=page]', { hasText: TREE.unicode }).waitFor();
      });

      it('is readable on a phone (375 px) without sideways scrolling', async () => {
        await page.setViewportSize({ width: 375, height: 812 });
        await page.goto(`${server.url}/#/`);
        await page.locator('article.storage').nth(1).waitFor();
        expect(await sideways(page)).toBe(false);
        await shot('5-phone-storages');
        await page.goto(`${server.url}/#/s/${encodeURIComponent(storageId)}?dir=%2FDocs`);
        await page.locator('#history tbody tr').first().waitFor();
        await page.locator('#entries tbody tr').nth(43).waitFor();
        expect(await sideways(page)).toBe(false);
        await shot('6-phone-browse');
        expect(await search('report')).toHaveLength(40);
        expect(await sideways(page)).toBe(false);
        await shot('7-phone-search');
        await page.setViewportSize({ width: 1100, height: 800 });
      });

      it("shows tenant B none of tenant A's storages", async () => {
        await page.goto(`${server.url}/#/`);
        await page.click('#signout');
        await page.locator('#signin').waitFor();
        expect(await page.evaluate('sessionStorage.length')).toBe(0);
        await page.fill('#signin input[name=token]', tokenB);
        await page.click('#signin button');
        await page.locator('#who', { hasText: 'beta' }).waitFor();
        await page.locator('#storages', { hasText: 'No storages yet' }).waitFor();
        expect(await page.locator('article.storage').count()).toBe(0);

        for (const q of ['beach', 'IMG_', 'script', 'Family']) {
          expect(await search(q)).toEqual([]);
          expect(await page.locator('#results-status').textContent()).toBe('Nothing found.');
        }
        // A's storage by its id: the API says it does not exist, the page says so.
        expectedFailures.add(`${server.url}/v1/storages/${encodeURIComponent(storageId)}`);
        await page.goto(`${server.url}/#/s/${encodeURIComponent(storageId)}`);
        await page.locator('main .error').waitFor();
        const text = await page.locator('main').textContent();
        expect(text).not.toContain(NAME);
        expect(text).not.toContain(tree);
        await shot('8-tenant-b');
      });

      // Regenerate with TRAWL_UPDATE_SCREENSHOT=1 on a machine with a CJK font
      // (apt-get install fonts-wqy-microhei), or the Japanese folder name shows as boxes.
      // Always taken (into test-results/); written over the README's only when asked.
      it("takes the README's screenshot: a storage with its index and history", async () => {
        await page.click('#signout');
        await page.fill('#signin input[name=token]', tokenA);
        await page.click('#signin button');
        await page.locator('article.storage').first().waitFor();
        await page.setViewportSize({ width: 1000, height: 760 });
        await page.goto(`${server.url}/#/s/${encodeURIComponent(storageId)}`);
        await page.locator('#history tbody tr').first().waitFor();
        await page.locator('#entries tbody tr').nth(4).waitFor();
        await page.screenshot({ path: join(SHOTS, `readme-${dialect}.png`) });
        if (dialect === 'sqlite' && process.env.TRAWL_UPDATE_SCREENSHOT === '1') {
          mkdirSync(join(REPO, 'docs', 'images'), { recursive: true });
          await page.screenshot({ path: join(REPO, 'docs', 'images', 'serve.png') });
        }
      });
    },
  );
}
