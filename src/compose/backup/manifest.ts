/**
 * A backup's manifest: which store it is of, the copy it carries, and what a
 * restore must find in the copy (the migration level, each table's rows, the
 * audit chain's verdict and head). Read from a file, it is checked against
 * its schema (compiled once) before anything trusts it.
 */
import { type Static, Type as T } from "@sinclair/typebox";
import { Ajv } from "ajv";
import { PhoneHomeError } from "../../core/errors/index.ts";

/** The version of the file format this phonehome writes and reads. */
export const FORMAT_VERSION = 1;

const Hash = T.String({ pattern: "^[0-9a-f]{64}$" });
const Name = T.String({ minLength: 1, maxLength: 63 });
const Count = T.Integer({ minimum: 0 });

/** Which store a backup is of: one region's, or the control plane's. */
export const StoreRole = T.Union([
  T.Object(
    { role: T.Literal("region"), region: T.String({ pattern: "^[a-z][a-z0-9-]{0,30}$" }) },
    {
      additionalProperties: false,
    },
  ),
  T.Object({ role: T.Literal("control-plane") }, { additionalProperties: false }),
]);
/** Which store a backup is of. */
export type StoreRole = Static<typeof StoreRole>;

/** The audit chain as a backup found it: verified whole, with its head. */
export const AuditVerdict = T.Object(
  {
    intact: T.Boolean(),
    entries: Count,
    head: T.Object({ seq: Count, hash: Hash }, { additionalProperties: false }),
    broken: T.Optional(
      T.Object({ seq: Count, problem: T.String({ maxLength: 1000 }) }, { additionalProperties: false }),
    ),
  },
  { additionalProperties: false },
);
/** The audit chain as a backup found it. */
export type AuditVerdict = Static<typeof AuditVerdict>;

/** What a store holds, as a backup counts it and a restore must find it again. */
export const StoreFacts = T.Object(
  {
    /** The last migration applied (schema_migrations). */
    migrations: T.Integer({ minimum: 1, maximum: 9999 }),
    /** Every table (a partitioned table with its partitions' rows), by name, with its rows. */
    tables: T.Array(T.Object({ name: Name, rows: Count }, { additionalProperties: false }), {
      maxItems: 500,
    }),
    audit: AuditVerdict,
  },
  { additionalProperties: false },
);
/** What a store holds, as a backup counts it. */
export type StoreFacts = Static<typeof StoreFacts>;

/** The manifest at the head of a backup file. */
export const Manifest = T.Object(
  {
    format: T.Literal("phonehome-backup"),
    version: T.Literal(FORMAT_VERSION),
    createdAt: T.String({ pattern: "^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}(\\.\\d{1,9})?Z$" }),
    /** The phonehome version that made it. */
    phonehome: T.String({ maxLength: 50 }),
    store: StoreRole,
    archive: T.Object(
      {
        format: T.Union([T.Literal("pglite-datadir-tgz"), T.Literal("pg_dump-custom")]),
        schema: T.Union([T.String({ pattern: "^[a-z_][a-z0-9_]{0,62}$" }), T.Null()]),
        serverVersion: T.String({ maxLength: 100 }),
        tool: T.String({ maxLength: 200 }),
        bytes: T.Integer({ minimum: 1 }),
        sha256: Hash,
      },
      { additionalProperties: false },
    ),
    facts: StoreFacts,
  },
  { additionalProperties: false },
);
/** The manifest at the head of a backup file. */
export type Manifest = Static<typeof Manifest>;

const validateManifest = new Ajv({ allErrors: true, strict: false }).compile<Manifest>(Manifest);

/** Checks parsed JSON against the manifest's schema; throws `backup.unreadable` listing each problem. */
export function asManifest(value: unknown, file: string): Manifest {
  if (validateManifest(value)) return value;
  throw new PhoneHomeError("backup.unreadable", `${file}: its manifest is not a phonehome backup manifest`, {
    problems: (validateManifest.errors ?? []).map((e) => ({
      path: e.instancePath || "/",
      message: e.message ?? "is not valid",
    })),
  });
}

/** "region global" or "the control plane". */
export function describeStore(store: StoreRole): string {
  return store.role === "region" ? `region ${store.region}` : "the control plane";
}

/** The store a restore goes into: its role, and the kind of store it is configured as. */
export interface RestoreTarget {
  store: StoreRole;
  kind: "pglite" | "postgres";
}

/**
 * Refuses (`backup.wrong_store`) a manifest of another store than `target`:
 * another role or region (a region's data stays in its region), the other
 * kind of store, or a migration newer than `knownMigrations`.
 */
export function checkFits(manifest: Manifest, target: RestoreTarget, knownMigrations: number): void {
  const refuse = (why: string) =>
    new PhoneHomeError(
      "backup.wrong_store",
      `the file is a backup of ${describeStore(manifest.store)}'s store${why}; nothing was changed`,
    );
  if (
    manifest.store.role !== target.store.role ||
    describeStore(manifest.store) !== describeStore(target.store)
  ) {
    const where =
      manifest.store.role === "region" ? ` (a region's data is restored into that region's store only)` : "";
    throw refuse(`, not ${describeStore(target.store)}'s${where}`);
  }
  const kind = manifest.archive.format === "pglite-datadir-tgz" ? "pglite" : "postgres";
  if (kind !== target.kind) {
    throw refuse(
      kind === "pglite"
        ? ", an embedded (PGlite) store, and the store configured is PostgreSQL"
        : ", a PostgreSQL store, and the store configured is embedded (PGlite)",
    );
  }
  if (manifest.facts.migrations > knownMigrations) {
    throw refuse(
      ` at migration ${manifest.facts.migrations}, newer than this phonehome knows (${knownMigrations}): ` +
        `restore it with phonehome ${manifest.phonehome} or later`,
    );
  }
}
