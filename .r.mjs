import { parseSync, loadModule } from 'libpg-query';
try { parseSync('select 1'); } catch (e) { console.log('before init:', e.message); }
await loadModule();
console.log(JSON.stringify(parseSync('select 1\0; drop table x')));
console.log(JSON.stringify(parseSync("select 'é'; select 'ü' ;  drop table x")));
