/**
 * The data directory: created 0700 on first start, it holds the store, the keys, the TLS pair, the admin token
 * and ports.json. This module only prepares the directory and writes the small files others read.
 */
import fs from 'node:fs/promises';
import path from 'node:path';

/** Creates the data directory (0700) if needed. */
export async function prepareDataDir(dataDir: string): Promise<void> {
  await fs.mkdir(dataDir, { recursive: true, mode: 0o700 });
}

/** Writes a file readable only by its owner, atomically (write to a temp file, then rename). */
export async function writePrivateFile(file: string, content: string): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`;
  await fs.writeFile(tmp, content, { mode: 0o600 });
  await fs.rename(tmp, file);
}

/** The ports each listener bound, written to `<dataDir>/ports.json` for tests and scripts. */
export async function writePorts(dataDir: string, ports: Record<string, number>): Promise<void> {
  await writePrivateFile(path.join(dataDir, 'ports.json'), `${JSON.stringify(ports)}\n`);
}

/** True when a file exists. */
export async function exists(file: string): Promise<boolean> {
  return fs.access(file).then(() => true, () => false);
}
