import { loadModule, parseSync, parsePlPgSQLSync } from 'libpg-query';
await loadModule();
const strip = (o) => JSON.stringify(o, (k, v) => k === 'location' || k==='lineno' ? undefined : v);
for (const q of process.argv.slice(2)) {
  const f = `CREATE FUNCTION warden_do() RETURNS void LANGUAGE plpgsql AS $x$${q}$x$`;
  try { console.log(q, '\n  ', strip(parsePlPgSQLSync(f))); } catch (e) { console.log(q, 'ERR', e.message, JSON.stringify(e.sqlDetails)); }
}
