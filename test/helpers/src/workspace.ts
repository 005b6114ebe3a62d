// What an application under test keeps apart from every other suite: its own database and data directory.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestDatabase, type TestDatabase } from './postgres.js';

export interface AppWorkspace {
  /** A new, empty database (see `createTestDatabase`). */
  db: TestDatabase;
  /** A new, empty directory under the system's temporary directory. */
  dataDir: string;
  /** Drops the database and deletes the directory with all it holds. */
  remove(): Promise<void>;
}

/**
 * Creates a database labelled `label` and a directory named `<dirPrefix>-<random>`. Call
 * `remove()` once the app has stopped, and when it fails to start.
 */
export async function createAppWorkspace(label: string, dirPrefix = label): Promise<AppWorkspace> {
  const db = await createTestDatabase(label);
  const dataDir = mkdtempSync(join(tmpdir(), `${dirPrefix}-`));
  return {
    db,
    dataDir,
    async remove() {
      await db.drop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
