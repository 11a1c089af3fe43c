/** Files of keys and secrets the system generates into its data directory. */
import { randomBytes } from "node:crypto";
import {
  closeSync,
  fsyncSync,
  linkSync,
  mkdirSync,
  openSync,
  readFileSync,
  unlinkSync,
  writeSync,
} from "node:fs";
import { dirname } from "node:path";

/**
 * Reads a file the system generated, or creates it with `make` when missing.
 * Creation is exclusive, so processes starting at once agree on one value: the
 * content is written in full (and synced) under a private name, then linked to
 * `path`, which fails when another creator got there first; a reader never
 * sees a partly written file. The file is readable by its owner only.
 */
export function readOrCreate(path: string, make: () => string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  }
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const temp = writeAside(path, make());
  try {
    linkSync(temp, path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
  } finally {
    unlinkSync(temp);
  }
  return readFileSync(path, "utf8");
}

/**
 * Writes `content` in full, synced, to a new private file beside `path`
 * (readable by its owner only) and returns that file's name, for the caller
 * to link or rename into place.
 */
export function writeAside(path: string, content: string): string {
  const temp = `${path}.${randomBytes(8).toString("hex")}.tmp`;
  const fd = openSync(temp, "wx", 0o600);
  try {
    writeSync(fd, content);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  return temp;
}
