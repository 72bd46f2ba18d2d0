import type { FastifyInstance } from 'fastify';

interface OpenApiDoc {
  info: { title: string; version: string; description?: string };
  paths: Record<
    string,
    Record<string, { summary?: string; description?: string; tags?: string[] }>
  >;
}

const escape = (s: string) =>
  s.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!,
  );

/**
 * `/openapi.json` (the document @fastify/swagger builds from the routes' schemas) and
 * `/docs`, a page listing every route made from that document on the server: no script, no
 * assets, nothing for a strict CSP to refuse.
 */
export async function docsRoutes(server: FastifyInstance): Promise<void> {
  server.get('/openapi.json', { config: { auth: 'none' }, schema: { hide: true } }, async () =>
    server.swagger(),
  );
  server.get(
    '/docs',
    { config: { auth: 'none' }, schema: { hide: true } },
    async (_request, reply) => {
      const doc = server.swagger() as unknown as OpenApiDoc;
      const rows: string[] = [];
      for (const [path, ops] of Object.entries(doc.paths)) {
        for (const [method, op] of Object.entries(ops)) {
          rows.push(
            `<tr><td><code>${method.toUpperCase()}</code></td><td><code>${escape(path)}</code></td>` +
              `<td>${escape(op.summary ?? '')}${op.description ? `<br><small>${escape(op.description)}</small>` : ''}</td></tr>`,
          );
        }
      }
      const html =
        `<!doctype html><html lang="en"><head><meta charset="utf-8">` +
        `<meta name="viewport" content="width=device-width, initial-scale=1">` +
        `<title>${escape(doc.info.title)} API</title></head><body>` +
        `<h1>${escape(doc.info.title)} API ${escape(doc.info.version)}</h1>` +
        `<p>${escape(doc.info.description ?? '')}</p>` +
        `<p>The whole description, with every schema: <a href="/openapi.json">/openapi.json</a>.</p>` +
        `<table><thead><tr><th>Method</th><th>Path</th><th>What</th></tr></thead><tbody>${rows.join('')}</tbody></table>` +
        `</body></html>`;
      return reply
        .header('content-type', 'text/html; charset=utf-8')
        .header(
          'content-security-policy',
          "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        )
        .send(html);
    },
  );
}
