/**
 * Crash-safe file writes shared by the identity file, the queue and the
 * activation marker: a reader sees either the old file or the whole new one,
 * never a torn write.
 */
import { randomBytes } from "node:crypto";
import { open, rename, rm } from "node:fs/promises";
import { basename, dirname, join } from "node:path";

/** Prefix of temporary files; a crash can leave them behind, and whoever owns the directory removes them. */
export const TEMP_PREFIX = ".tmp-";

/** Writes `data` to `path` atomically: temp file in the same directory, fsync, rename, fsync the directory. */
export async function writeFileAtomic(path: string, data: string, mode = 0o600): Promise<void> {
  const tmp = join(dirname(path), `${TEMP_PREFIX}${basename(path)}.${randomBytes(6).toString("hex")}`);
  const file = await open(tmp, "wx", mode);
  try {
    await file.writeFile(data);
    await file.sync();
    await file.close();
    await rename(tmp, path);
  } catch (err) {
    await file.close().catch(() => {});
    await rm(tmp, { force: true });
    throw err;
  }
  await syncDir(dirname(path));
}

/** fsyncs a directory so a rename or unlink in it survives a power cut; a no-op where directories cannot be opened. */
export async function syncDir(dir: string): Promise<void> {
  let handle: Awaited<ReturnType<typeof open>> | undefined;
  try {
    handle = await open(dir, "r");
    await handle.sync();
  } catch {
    // Some platforms (Windows) cannot fsync a directory; rename is still atomic there.
  } finally {
    await handle?.close().catch(() => {});
  }
}
