import { loadModule, parseSync, parsePlPgSQLSync } from 'libpg-query';
await loadModule();
const strip = (o) => JSON.stringify(o, (k, v) => k === 'location' ? undefined : v);
for (const q of process.argv.slice(2)) {
  try { console.log(q, '\n  ', strip(parseSync(q).stmts)); } catch (e) { console.log(q, 'ERR', e.message, JSON.stringify(e.sqlDetails)); }
}
