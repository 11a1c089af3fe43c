/**
 * A backup file: a header block of `HEADER_BYTES` (the line
 * `phonehome-backup/<version>`, the manifest as one line of JSON, spaces to
 * fill the block) followed by the store's copy as its tool made it. The block
 * has a fixed size so that the copy can be written first, streaming, and the
 * manifest, which names its size and SHA-256, after it. `head -c 65536 FILE`
 * shows the manifest.
 */
import { createHash, randomBytes } from "node:crypto";
import { createReadStream, createWriteStream, existsSync } from "node:fs";
import { link, open, rm, stat } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { type Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { PhoneHomeError } from "../../core/errors/index.ts";
import { asManifest, FORMAT_VERSION, type Manifest } from "./manifest.ts";

/** The header block's size: the manifest (table names and counts, a few KiB) must fit in it. */
export const HEADER_BYTES = 64 * 1024;

const MAGIC = "phonehome-backup/";

/** Counts and hashes what passes, reporting the bytes so far. */
function measuring(onBytes: (bytes: number) => void): {
  through: Transform;
  result: () => { bytes: number; sha256: string };
} {
  const hash = createHash("sha256");
  let bytes = 0;
  const through = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      hash.update(chunk);
      bytes += chunk.length;
      onBytes(bytes);
      done(null, chunk);
    },
  });
  return { through, result: () => ({ bytes, sha256: hash.digest("hex") }) };
}

/** The header block of `manifest`; throws when the manifest does not fit. */
export function headerBlock(manifest: Manifest): Buffer {
  const text = `${MAGIC}${FORMAT_VERSION}\n${JSON.stringify(manifest)}\n`;
  const block = Buffer.alloc(HEADER_BYTES, " ");
  if (Buffer.byteLength(text) > HEADER_BYTES) {
    throw new Error(
      `the manifest takes ${Buffer.byteLength(text)} bytes, more than the ${HEADER_BYTES} of the header`,
    );
  }
  block.write(text, 0, "utf8");
  return block;
}

/** What the copy's bytes were: how many, and their SHA-256. */
export interface WrittenArchive {
  bytes: number;
  sha256: string;
}

/**
 * Writes a backup file at `out`, which must not exist: `fill` is given a
 * function that writes the copy's bytes (after the header block) and answers
 * their size and hash, and answers the manifest once they are written. The
 * file appears at `out` only whole (written beside it, synced, then linked,
 * which never replaces a file), with mode 0600: it holds what the store
 * holds. On failure nothing is left.
 */
export async function writeBackupFile(
  out: string,
  fill: (writeArchive: (archive: Readable) => Promise<WrittenArchive>) => Promise<Manifest>,
  onBytes: (bytes: number) => void = () => {},
): Promise<Manifest> {
  if (existsSync(out)) {
    throw new PhoneHomeError("backup.invalid", `${out} exists already: a backup never replaces a file`, {
      path: "--out",
    });
  }
  if (!existsSync(dirname(out))) {
    throw new PhoneHomeError("backup.invalid", `the folder of ${out} does not exist`, { path: "--out" });
  }
  const partial = join(dirname(out), `.${basename(out)}.partial-${randomBytes(6).toString("hex")}`);
  // Created exclusively; then the copy is streamed in after the header block, and the header written last.
  await (await open(partial, "wx", 0o600)).close();
  try {
    const manifest = await fill(async (archive) => {
      const measure = measuring(onBytes);
      await pipeline(
        archive,
        measure.through,
        createWriteStream(partial, { flags: "r+", start: HEADER_BYTES }),
      );
      return measure.result();
    });
    const handle = await open(partial, "r+");
    try {
      await handle.write(headerBlock(manifest), 0, HEADER_BYTES, 0);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await link(partial, out).catch((error: unknown) => {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      throw new PhoneHomeError(
        "backup.invalid",
        `${out} appeared while the backup ran: it was not replaced`,
        {
          path: "--out",
        },
      );
    });
    return manifest;
  } finally {
    await rm(partial, { force: true });
  }
}

function unreadable(file: string, why: string): PhoneHomeError {
  return new PhoneHomeError("backup.unreadable", `${file} ${why}; nothing was changed`, { path: file });
}

/** Reads and checks the header of a backup file: its format and version, and its manifest. */
export async function readManifest(file: string): Promise<Manifest> {
  const handle = await open(file, "r").catch((error: unknown) => {
    throw new PhoneHomeError("backup.invalid", `${file} cannot be read: ${(error as Error).message}`, {
      path: "--from",
    });
  });
  let head: Buffer;
  try {
    const block = Buffer.alloc(HEADER_BYTES);
    const { bytesRead } = await handle.read(block, 0, HEADER_BYTES, 0);
    head = block.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
  const text = head.toString("utf8");
  const first = /^phonehome-backup\/([0-9]{1,6})\n/.exec(text);
  if (first === null)
    throw unreadable(file, "is not a phonehome backup (it does not start with phonehome-backup/)");
  if (Number(first[1]) !== FORMAT_VERSION) {
    throw unreadable(
      file,
      `is a backup of format version ${first[1]}, which this phonehome does not read (it reads version ${FORMAT_VERSION})`,
    );
  }
  if (head.length < HEADER_BYTES) throw unreadable(file, "is cut short inside its header");
  const end = text.indexOf("\n", first[0].length);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text.slice(first[0].length, end));
  } catch {
    throw unreadable(file, "has a manifest that is not JSON");
  }
  return asManifest(parsed, file);
}

/**
 * Checks that the copy after the header is the one the manifest names: its
 * size first (a file cut short says so), then its SHA-256, read through once.
 */
export async function checkArchive(
  file: string,
  manifest: Manifest,
  onBytes: (bytes: number) => void = () => {},
): Promise<void> {
  const expected = manifest.archive.bytes;
  const present = (await stat(file)).size - HEADER_BYTES;
  if (present < expected) {
    throw unreadable(file, `is cut short: it holds ${present} of the ${expected} bytes of its copy`);
  }
  if (present > expected) {
    throw unreadable(file, `holds ${present - expected} bytes more than the ${expected} of its copy`);
  }
  const measure = measuring(onBytes);
  await pipeline(createReadStream(file, { start: HEADER_BYTES }), measure.through, async (source) => {
    for await (const _ of source);
  });
  if (measure.result().sha256 !== manifest.archive.sha256) {
    throw unreadable(
      file,
      "has changed since it was written: its copy's SHA-256 is not the one its manifest names",
    );
  }
}
