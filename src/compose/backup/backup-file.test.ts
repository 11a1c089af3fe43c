/**
 * The backup file: written whole or not at all, never over a file; its
 * header read back; a file that is no backup, of another format version,
 * with a manifest out of its schema, cut short or changed is refused with
 * `backup.unreadable`.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import {
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { after, describe, test } from "node:test";
import { isPhoneHomeError } from "../../core/errors/index.ts";
import { checkArchive, HEADER_BYTES, headerBlock, readManifest, writeBackupFile } from "./backup-file.ts";
import type { Manifest } from "./manifest.ts";

const dir = mkdtempSync(join(tmpdir(), "phonehome-backup-file-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const COPY = Buffer.from("the store's copy, as its tool made it\n".repeat(1000));

function manifestOf(bytes: number, sha256: string): Manifest {
  return {
    format: "phonehome-backup",
    version: 1,
    createdAt: "2031-05-01T12:00:00.000Z",
    phonehome: "0.1.0",
    store: { role: "region", region: "global" },
    archive: {
      format: "pg_dump-custom",
      schema: "global",
      serverVersion: "15.20",
      tool: "pg_dump 15.20",
      bytes,
      sha256,
    },
    facts: {
      migrations: 12,
      tables: [
        { name: "activations", rows: 41 },
        { name: "audit_log", rows: 3 },
      ],
      audit: { intact: true, entries: 3, head: { seq: 3, hash: "a".repeat(64) } },
    },
  };
}

/** Writes a backup of `COPY` at `name`; answers its path and manifest. */
async function written(name: string): Promise<{ file: string; manifest: Manifest }> {
  const file = join(dir, name);
  const manifest = await writeBackupFile(file, async (writeArchive) => {
    const { bytes, sha256 } = await writeArchive(
      Readable.from([COPY.subarray(0, 1000), COPY.subarray(1000)]),
    );
    return manifestOf(bytes, sha256);
  });
  return { file, manifest };
}

const unreadable = (pattern: RegExp) => (e: unknown) =>
  isPhoneHomeError(e, "backup.unreadable") && pattern.test(e.message);

describe("a backup file", () => {
  test("holds its header block, then the copy; private to its owner; its manifest reads back", async () => {
    const { file, manifest } = await written("whole.backup");
    assert.equal(manifest.archive.bytes, COPY.length);
    assert.equal(manifest.archive.sha256, createHash("sha256").update(COPY).digest("hex"));
    const bytes = readFileSync(file);
    assert.equal(bytes.length, HEADER_BYTES + COPY.length);
    assert.ok(bytes.subarray(HEADER_BYTES).equals(COPY));
    assert.match(bytes.subarray(0, 60).toString(), /^phonehome-backup\/1\n\{"format":"phonehome-backup"/);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.deepEqual(await readManifest(file), manifest);
    await checkArchive(file, manifest);
    assert.deepEqual(
      readdirSync(dir).filter((n) => n.includes("partial")),
      [],
      "nothing left beside it",
    );
  });

  test("never replaces a file, and leaves nothing when the copy fails", async () => {
    const { file } = await written("taken.backup");
    const before = readFileSync(file);
    await assert.rejects(
      written("taken.backup"),
      (e) => isPhoneHomeError(e, "backup.invalid") && /exists already/.test(e.message),
    );
    assert.ok(readFileSync(file).equals(before));
    await assert.rejects(
      writeBackupFile(join(dir, "failed.backup"), async () => {
        throw new Error("pg_dump failed");
      }),
      /pg_dump failed/,
    );
    assert.equal(existsSync(join(dir, "failed.backup")), false);
    assert.deepEqual(
      readdirSync(dir).filter((n) => n.includes("failed")),
      [],
    );
    await assert.rejects(written("no-such-folder/x.backup"), (e) => isPhoneHomeError(e, "backup.invalid"));
  });

  test("cut short, or with a byte changed, is refused and says which", async () => {
    const { file, manifest } = await written("damaged.backup");
    const original = readFileSync(file);
    truncateSync(file, original.length - 10);
    await assert.rejects(
      checkArchive(file, manifest),
      unreadable(/cut short: it holds 37990 of the 38000 bytes/),
    );
    truncateSync(file, 100);
    await assert.rejects(readManifest(file), unreadable(/cut short inside its header/));
    const changed = Buffer.from(original);
    changed.writeUInt8(changed.readUInt8(HEADER_BYTES + 500) ^ 1, HEADER_BYTES + 500);
    writeFileSync(file, changed);
    await assert.rejects(checkArchive(file, manifest), unreadable(/SHA-256/));
    writeFileSync(file, Buffer.concat([original, Buffer.from("more")]));
    await assert.rejects(checkArchive(file, manifest), unreadable(/4 bytes more/));
  });

  test("that is no backup, of another version, or whose manifest is out of its schema, is refused", async () => {
    const file = join(dir, "other.backup");
    writeFileSync(file, "PGDMP custom archive");
    await assert.rejects(readManifest(file), unreadable(/is not a phonehome backup/));
    writeFileSync(file, Buffer.concat([Buffer.from("phonehome-backup/2\n{}\n"), Buffer.alloc(HEADER_BYTES)]));
    await assert.rejects(readManifest(file), unreadable(/format version 2/));
    const extra = { ...manifestOf(COPY.length, "b".repeat(64)), secret: "x" } as Manifest;
    writeFileSync(file, Buffer.concat([headerBlock(extra), COPY]));
    await assert.rejects(
      readManifest(file),
      (e) =>
        isPhoneHomeError(e, "backup.unreadable") &&
        (e.problems ?? []).some((p) => /additional properties/.test(p.message)),
    );
    const bad = manifestOf(COPY.length, "b".repeat(64));
    bad.facts.tables[0] = { name: "activations", rows: -1 };
    writeFileSync(file, Buffer.concat([headerBlock(bad), COPY]));
    await assert.rejects(
      readManifest(file),
      (e) =>
        isPhoneHomeError(e, "backup.unreadable") &&
        (e.problems ?? []).some((p) => p.path === "/facts/tables/0/rows"),
    );
    await assert.rejects(readManifest(join(dir, "missing.backup")), (e) =>
      isPhoneHomeError(e, "backup.invalid"),
    );
  });
});
