/**
 * One region's collector: its store, its keys, its write path and its HTTP
 * service. `phonehome up` runs every region in one process; `phonehome serve
 * --region R` runs one.
 */
import { Counter, Gauge, Histogram } from "prom-client";
import { registerActivationRoutes } from "./activation/index.ts";
import { loadNotices, type Notices, registerConsentRoutes } from "./consent/index.ts";
import { MAX_EVENTS_PER_BATCH, registerDiagnosticsRoutes } from "./diagnostics/index.ts";
import type { Config, RegionConfig } from "../core/config/index.ts";
import { type Db, openDb } from "../core/db/index.ts";
import { migrate } from "../core/db/index.ts";
import type { Dictionary } from "../core/dictionary/index.ts";
import type { DeviceDirectory } from "../core/directory/index.ts";
import { type App, createService, urlOf } from "../core/http/index.ts";
import { serviceTokenCheck } from "../core/http/index.ts";
import type { IntakeContext } from "./ingest/index.ts";
import { registerAuditRoutes } from "../core/audit-log/index.ts";
import { registerDeviceNoticeRoutes } from "./device-notices/index.ts";
import { registerLedgerRoutes } from "./ingest/index.ts";
import { createRegionWriter } from "./ingest/index.ts";
import { DEVICE_TABLES, writeSteps } from "./device-tables.ts";
import {
  checkKeyFingerprints,
  loadFleetTrust,
  loadKeyWrapSecret,
  loadPseudonymSecret,
  secretFingerprint,
  serviceTokenFingerprint,
  serviceTokens,
} from "../core/keys/index.ts";
import {
  ensureRegionKeys,
  refreshStaleDescriptor,
  RegionKeyRing,
  type RegionKeysContext,
  regionKeysJob,
  registerRegionKeyRoutes,
  rotationDue,
} from "./region-keys/index.ts";
import type { Logger } from "../core/log/index.ts";
import { prepareRetention, registerPurgeRoutes } from "./retention/index.ts";
import { type RunningJobs, startLeasedJobs } from "../core/leases/index.ts";
import {
  erasureEpoch,
  registerSubjectRequestRoutes,
  registerSupportAccessRoute,
} from "./subject-requests/index.ts";
import { ownerAuthenticator } from "../core/owners/index.ts";
import { peersFromConfig, registerPortal, type WebPeers } from "../core/web-apps/index.ts";
import type { UpdateSource } from "./update-check/index.ts";
import { registerAdoptionRoutes } from "./update-check/index.ts";
import { registerUpdateCheckRoutes } from "./update-check/index.ts";
import { countHttpRefusals } from "./http-refusals.ts";
import { registerRegionRoutes } from "./region.routes.ts";

/** A started region. */
export interface RunningRegion {
  id: string;
  /** Base URL devices reach it at. */
  url: string;
  app: App;
  db: Db;
  intake: IntakeContext;
  /** Stops taking requests, flushes the write path and closes the store. */
  close(): Promise<void>;
}

/** What a region needs from outside itself. */
export interface RegionDeps {
  config: Config;
  region: RegionConfig;
  dictionary: Dictionary;
  directory: DeviceDirectory;
  logger: Logger;
  /** The consent notices, loaded and checked against the dictionary (loaded from the config when absent). */
  notices?: Notices;
  /** The control plane's update plan and outcome counts. */
  updates: UpdateSource;
  /** This deployment's services, for the web apps (from the configuration when absent). */
  peers?: WebPeers;
}

/** Opens the region's store (migrating it), loads its keys, and starts its collector. */
export async function startRegion(deps: RegionDeps): Promise<RunningRegion> {
  const { config, region, logger } = deps;
  const peers = deps.peers ?? peersFromConfig(config);
  const db = await openDb(region.store, `collector of region ${region.id}`, {
    onPrimaryChanged: (to, from) =>
      logger.warn({ region: region.id, from, to }, "the store's primary moved: writing to the new one"),
  });
  await migrate(db, "region");
  const retention = await prepareRetention(db, {
    dictionary: deps.dictionary,
    tables: DEVICE_TABLES,
    intervalMs: config.retention.purgeIntervalMinutes * 60_000,
    logger: logger.child({ region: region.id }),
  });
  // The tokens it presents and accepts, re-read while it runs: a rotation needs no restart.
  const serviceToken = serviceTokens(config.dataDir);
  const wrapSecret = loadKeyWrapSecret(config.dataDir, region.id);
  // Every replica of the region holds the same secrets; one started on another data directory stops here.
  // The region's keys are in the store, wrapped under the key-wrapping secret: that secret is what must agree.
  await checkKeyFingerprints(
    db,
    [
      { name: "key-wrap-secret", fingerprint: secretFingerprint(wrapSecret) },
      {
        name: "pseudonym-secret",
        fingerprint: secretFingerprint(loadPseudonymSecret(config.dataDir, region.id)),
      },
      serviceTokenFingerprint(serviceToken.files()),
      // The roots devices got at the factory: a replica that made its own (no fleet-trust.json copied)
      // would publish descriptors every device refuses.
      {
        name: "fleet-roots",
        fingerprint: (await loadFleetTrust(config.dataDir)).roots
          .map((r) => r.kid)
          .sort()
          .join(","),
      },
    ],
    config.dataDir,
  ).catch(async (error: unknown) => {
    await db.close();
    throw error;
  });
  // The URL the descriptor states: the configured one, or the one listened on (known after listen).
  let url = region.url;
  const regionKeys: RegionKeysContext = {
    db,
    region: { id: region.id, storedIn: region.storedIn },
    url: () => url,
    dataDir: config.dataDir,
    wrapSecret,
    policy: config.keys,
  };
  const keys = new RegionKeyRing({
    db,
    region: region.id,
    dataDir: config.dataDir,
    wrapSecret,
    logger: logger.child({ region: region.id }),
  });
  try {
    const first = await ensureRegionKeys(regionKeys);
    if (first.seal !== "kept" || first.receipts !== "kept") {
      logger.info({ region: region.id, ...first }, "the region's first keys are in its store");
    }
    await keys.reload();
  } catch (error) {
    await db.close();
    throw error;
  }
  const notices = deps.notices ?? loadNotices(config.noticesDir, deps.dictionary);
  const writer = createRegionWriter(db, writeSteps(DEVICE_TABLES), {
    maxBatch: config.ingest.batchSize,
    maxDelayMs: config.ingest.batchDelayMs,
    // PGlite runs one statement at a time anyway; PostgreSQL overlaps a commit with the next batch.
    maxInFlight: config.ingest.commitsInFlight ?? (region.store.kind === "postgres" ? 2 : 1),
  });
  const intake: IntakeContext = {
    region: { id: region.id, storedIn: region.storedIn },
    keys,
    pseudonymSecret: loadPseudonymSecret(config.dataDir, region.id),
    policy: config.policy,
    maxClockSkewSeconds: config.ingest.maxClockSkewSeconds,
    maxBodyBytes: config.ingest.maxBodyBytes,
    dictionary: deps.dictionary,
    directory: deps.directory,
    writer,
    // A "yes" counts when given under a notice version that covers the current notice.
    consentPolicy: (purpose) => notices.coveringVersions(purpose),
  };

  let ready = false;
  const { app, metrics } = await createService({
    name: `collector-${region.id}`,
    description: `Collector of region ${region.id} (data stored in ${region.storedIn})`,
    logger: logger.child({ region: region.id }),
    http: config.http,
    metricsToken: serviceToken,
    tls: region.tls,
    ready: async () => {
      if (!ready) return false;
      // Ready only on a store that takes writes: not while a failover has left no primary.
      await db.checkWritable();
      return true;
    },
    corsOrigins: () => peers.origins(),
  });
  // Before the routes, so that every route it counts has the hook.
  countHttpRefusals(app, writer);
  await registerPortal(app, peers);
  const outcomes = new Counter({
    name: "phonehome_ingest_total",
    help: "Messages counted by the ingest ledger, by outcome and reason",
    labelNames: ["outcome", "reason", "collection"] as const,
    registers: [metrics],
  });
  const misrouted = new Counter({
    name: "phonehome_misrouting_total",
    help: "Devices of another region's market that reached this collector, by batch and build",
    labelNames: ["batch", "build", "market", "expected_region"] as const,
    registers: [metrics],
  });
  const batches = new Histogram({
    name: "phonehome_group_commit_size",
    help: "Messages per group-committed transaction",
    buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512],
    registers: [metrics],
  });
  new Gauge({
    name: "phonehome_group_commit_waiting",
    help: "Messages waiting for a group-commit transaction to begin (a backlog grows when the store falls behind)",
    registers: [metrics],
    collect() {
      this.set(writer.waiting);
    },
  });
  writer.onCommit = (items, results) => {
    batches.observe(items.length);
    for (const [i, item] of items.entries()) {
      const counted = results[i]?.counted;
      if (counted)
        outcomes.inc({ outcome: counted.outcome, reason: counted.reason, collection: counted.collection });
      if ("misrouting" in item && item.misrouting) {
        misrouted.inc({
          batch: item.misrouting.batch,
          build: item.misrouting.build,
          market: item.misrouting.market,
          expected_region: item.misrouting.expectedRegion,
        });
        logger.warn(
          { alert: "misrouting", region: region.id, ...item.misrouting },
          "misrouted device refused",
        );
      }
    }
  };

  const failedAlone = new Counter({
    name: "phonehome_write_failed_alone_total",
    help: "Writes that failed on their own after the rest of their group commit was stored, by kind",
    labelNames: ["kind"] as const,
    registers: [metrics],
  });
  writer.onItemFailed = (item, error) => {
    failedAlone.inc({ kind: item.kind });
    logger.error(
      { err: error, region: region.id, kind: item.kind, ledger: item.ledger },
      "a write failed on its own; the rest of its group commit was stored",
    );
  };

  registerRegionRoutes(app, { id: region.id, storedIn: region.storedIn }, keys, config.policy, {
    maxBodyBytes: config.ingest.maxBodyBytes,
    maxDiagnosticsEvents: MAX_EVENTS_PER_BATCH,
  });
  registerActivationRoutes(app, intake);
  registerDiagnosticsRoutes(app, intake);
  registerUpdateCheckRoutes(app, intake, deps.updates, db);
  registerAdoptionRoutes(app, { db, region: region.id, serviceToken });
  registerLedgerRoutes(app, { db, serviceToken });
  registerAuditRoutes(app, {
    db,
    store: region.id,
    readEntries: serviceTokenCheck(serviceToken),
  });
  registerDeviceNoticeRoutes(app, {
    db,
    region: region.id,
    serviceToken,
    recordsRetention: config.retention.records,
  });
  const receipts = keys.receipts;
  // Owner tokens are checked against the directory, and refused once an erasure here postdates them.
  const owners = ownerAuthenticator(deps.directory, (deviceKey) => erasureEpoch(db, deviceKey));
  const ownerDeps = {
    db,
    region: intake.region,
    dictionary: deps.dictionary,
    tables: DEVICE_TABLES,
    owners,
    pseudonymSecret: intake.pseudonymSecret,
    notices,
    receipts,
    recordsRetention: config.retention.records,
  };
  registerSubjectRequestRoutes(app, ownerDeps);
  registerSupportAccessRoute(app, { ...ownerDeps, serviceToken });
  registerConsentRoutes(app, { config, db, intake, notices, owners, tables: DEVICE_TABLES, receipts });
  registerRegionKeyRoutes(app, {
    keys: regionKeys,
    ring: keys,
    serviceToken,
  });
  new Gauge({
    name: "phonehome_region_key_rotation_due",
    help: "1 when the region's key of this purpose is older than keys.lifetime and no next key is published (the scheduled rotation could not sign: rotate with the offline root)",
    labelNames: ["purpose"] as const,
    registers: [metrics],
    collect() {
      const due = rotationDue(keys, config.keys.lifetimeMs);
      this.set({ purpose: "seal" }, due.seal ? 1 : 0);
      this.set({ purpose: "receipts" }, due.receipts ? 1 : 0);
    },
  });
  const shutdown = new AbortController();
  registerPurgeRoutes(app, {
    region: region.id,
    db,
    dictionary: deps.dictionary,
    tables: DEVICE_TABLES,
    serviceToken,
    logger: logger.child({ region: region.id }),
    signal: shutdown.signal,
  });
  await app.listen({ host: region.listen.host, port: region.listen.port });
  if (region.listen.port === 0) url = urlOf(app, region);
  // The embedded root (when at hand) signs a first descriptor, or a new one when the URL changed.
  await refreshStaleDescriptor(regionKeys, keys.descriptor).catch((error: unknown) =>
    logger.warn(
      { err: error, region: region.id },
      "could not re-sign the region descriptor; serving the one in force",
    ),
  );
  await keys.reload();
  if (keys.descriptor === null) {
    logger.warn(
      { region: region.id },
      "the region has no signed descriptor: publish one with `phonehome keys publish --region R --root-key FILE`",
    );
  }
  keys.start(config.keys.reloadSeconds * 1000);
  ready = true;
  // One replica of the region purges per period: the one holding the `retention` lease.
  const keyJob = regionKeysJob({
    keys: regionKeys,
    ring: keys,
    periodMs: config.keys.checkIntervalSeconds * 1000,
    logger: logger.child({ region: region.id }),
  });
  const jobs: RunningJobs = startLeasedJobs([retention, keyJob], {
    db,
    ttlMs: config.jobs.leaseSeconds * 1000,
    logger: logger.child({ region: region.id }),
    metrics,
  });
  return {
    id: region.id,
    url,
    app,
    db,
    intake,
    close: async () => {
      ready = false;
      shutdown.abort();
      keys.stop();
      await jobs.stop();
      await app.close();
      await writer.close();
      await db.close();
    },
  };
}
