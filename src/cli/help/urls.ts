import { SERVICE_OPTION_KEYS } from '../../storage/limits/options.js';
import { BACKENDS } from '../../storage/registry.js';
import { hanging } from './text.js';

/**
 * How each kind of storage is named, for `--help`: from the registry (each backend's
 * `url` and option schema), so a backend added or an option renamed shows here unasked.
 * With `options`, each kind's option names follow its line (they go in the query string:
 * `?timeoutMs=60000`).
 */
export function urlFormsText(options: { withOptions?: boolean } = {}): string {
  const lines: string[] = [];
  for (const b of Object.values(BACKENDS)) {
    if (b.url.hidden) continue;
    lines.push(`  ${b.url.pattern}`);
    if (b.url.note) lines.push(hanging('      ', b.url.note));
    if (options.withOptions) {
      lines.push(hanging('      options: ', Object.keys(b.options).join(', ')));
    }
  }
  lines.push(
    hanging(
      '  ',
      `Every kind also takes ${SERVICE_OPTION_KEYS.join(', ')} (see docs/storages.md).`,
    ),
  );
  return lines.join('\n');
}
