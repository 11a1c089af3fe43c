/**
 * Crash-safe file writes shared by the identity file, the queue and the
 * activation marker: a reader sees either the old file or the whole new one,
 * never a torn write.
 */
import { randomBytes } from "node:crypto";
import { open, readdir, rename, rm, stat } from "node:fs/promises";
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

// A crashed writer's temp file is removed once it is surely not someone's write in progress.
const STALE_TEMP_MS = 60_000;

/** A file of a sequenced directory store (queue, held events): its name, sequence number and size. */
export interface SequencedFile {
  /** The file name without `.json`. */
  id: string;
  file: string;
  seq: number;
  bytes: number;
  /** The name matched against the store's pattern, for the store's own parts (e.g. a flag). */
  match: RegExpExecArray;
}

/**
 * The files of `dir` whose names match `pattern` (its first group is the
 * sequence number), oldest first. Temp files a crash left behind over a
 * minute ago are removed on the way.
 */
export async function scanSequenced(dir: string, pattern: RegExp): Promise<SequencedFile[]> {
  const found: SequencedFile[] = [];
  for (const file of await readdir(dir)) {
    const match = pattern.exec(file);
    const info = await stat(join(dir, file)).catch(() => undefined);
    if (info === undefined) continue;
    if (match === null) {
      if (file.startsWith(TEMP_PREFIX) && Date.now() - info.mtimeMs > STALE_TEMP_MS) {
        await rm(join(dir, file), { force: true });
      }
      continue;
    }
    found.push({ id: file.slice(0, -".json".length), file, seq: Number(match[1]), bytes: info.size, match });
  }
  return found.sort((a, b) => a.seq - b.seq);
}
