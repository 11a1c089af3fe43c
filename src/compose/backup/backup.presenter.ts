/** What `backup` and `restore` print: the store, the copy, its tables' rows and the audit chain. */
import { describeContents, type RestoreResult } from "./backup.service.ts";
import { describeStore, type Manifest } from "./manifest.ts";

function size(bytes: number): string {
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;
}

function copyOf(manifest: Manifest): string {
  const { archive } = manifest;
  return archive.format === "pglite-datadir-tgz"
    ? `embedded (PGlite, PostgreSQL ${archive.serverVersion}); copied by ${archive.tool}`
    : `PostgreSQL ${archive.serverVersion}, schema ${archive.schema}; copied by ${archive.tool}`;
}

function auditLine(manifest: Manifest): string {
  const { audit } = manifest.facts;
  const head = `head ${audit.head.seq}:${audit.head.hash}`;
  return audit.intact
    ? `intact, ${audit.entries} entries; ${head}`
    : `BROKEN at entry ${audit.broken?.seq} (${audit.broken?.problem}), as it was when backed up; ` +
        `${audit.entries} entries verified before it; ${head}`;
}

function tableLines(manifest: Manifest, heading: string): string[] {
  const width = Math.max(24, ...manifest.facts.tables.map((t) => t.name.length + 2));
  return [
    `  ${"table".padEnd(width)}${heading}`,
    ...manifest.facts.tables.map(
      (t) => `  ${t.name.padEnd(width)}${String(t.rows).padStart(heading.length)}`,
    ),
  ];
}

/** The lines `phonehome backup` prints. */
export function formatBackup(file: string, manifest: Manifest): string[] {
  return [
    `backup of ${describeStore(manifest.store)}'s store written to ${file} (${size(manifest.archive.bytes)})`,
    `  store        ${copyOf(manifest)}`,
    `  migration    ${manifest.facts.migrations}`,
    `  audit log    ${auditLine(manifest)}`,
    `  sha256       ${manifest.archive.sha256}`,
    ...tableLines(manifest, "      rows"),
  ];
}

/** The lines `phonehome restore` prints. */
export function formatRestore(file: string, result: RestoreResult): string[] {
  const { manifest, replaced } = result;
  return [
    `${describeStore(manifest.store)}'s store restored from ${file} (backup of ${manifest.createdAt}, phonehome ${manifest.phonehome})`,
    ...(replaced === null ? [] : [`  replaced     ${describeContents(replaced)}`]),
    `  store        ${copyOf(manifest)}`,
    `  migration    ${manifest.facts.migrations} (a service applies newer migrations when it starts)`,
    `  audit log    ${auditLine(manifest)}, as in the backup`,
    ...tableLines(manifest, "      rows, as in the backup"),
  ];
}

/** `phonehome backup --json`. */
export function backupJson(file: string, manifest: Manifest): object {
  return { file, manifest };
}

/** `phonehome restore --json`. */
export function restoreJson(file: string, result: RestoreResult): object {
  return { file, manifest: result.manifest, replaced: result.replaced };
}
