import type { OptionSchema, OptionSpec } from './options.js';

/**
 * A backend's options as a Markdown table, from its schema: what docs/storages.md shows for
 * each kind (a test checks the page holds exactly this table, so the two cannot drift).
 */
export function optionsTable(schema: OptionSchema): string {
  const rows = Object.entries(schema).map(([name, spec]) =>
    [
      `\`${name}\``,
      typeOf(spec),
      defaultOf(spec),
      spec.env ? spec.env.map((e) => `\`${e}\``).join(', ') : '',
      spec.secret ? 'yes' : '',
      spec.doc.replace(/\|/g, '\\|'),
    ].join(' | '),
  );
  return [
    '| option | type | default | environment | secret | meaning |',
    '| --- | --- | --- | --- | --- | --- |',
    ...rows.map((r) => `| ${r} |`),
  ].join('\n');
}

function typeOf(spec: OptionSpec): string {
  switch (spec.type) {
    case 'bool':
      return 'true/false';
    case 'int': {
      const min = spec.min ?? 1;
      return spec.max === undefined ? `integer ≥ ${min}` : `integer ${min}–${spec.max}`;
    }
    case 'enum':
      return spec.values.map((v) => `\`${v}\``).join(' / ');
    case 'string':
      return 'text';
  }
}

function defaultOf(spec: OptionSpec): string {
  if (spec.defaultDoc) return spec.defaultDoc;
  if (spec.required) return 'required';
  if (spec.default === undefined || spec.default === '') return '';
  return `\`${String(spec.default)}\``;
}
