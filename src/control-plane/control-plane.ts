/**
 * The control plane: the fleet registry, subject requests across regions
 * (receipts only), builds and the release gate, rollouts, advisories,
 * incidents and (in later issues) reviews and the audit log. It never holds owner or usage data.
 */
import { anchorJob } from "./anchors/index.ts";
import { registerAuditRoutes } from "../core/audit-log/index.ts";
import { registerAnchorRoutes } from "./anchors/index.ts";
import { authorize } from "./operators/index.ts";
import { registerDataMapRoutes } from "./datamap/index.ts";
import { registerAdvisoryRoutes } from "./advisories/index.ts";
import { type Config, regionOfMarket } from "../core/config/index.ts";
import { type Db, openDb } from "../core/db/index.ts";
import { migrate } from "../core/db/index.ts";
import { cachedDirectory } from "../core/directory/index.ts";
import { findDevicesByKeyIds, registerFleetRoutes, revocationFeed } from "./fleet/index.ts";
import { type App, createService, urlOf } from "../core/http/index.ts";
import { checkKeyFingerprints, serviceTokenFingerprint, serviceTokens } from "../core/keys/index.ts";
import type { Logger } from "../core/log/index.ts";
import { loadDictionary } from "../core/dictionary/index.ts";
import type { IncidentContext } from "./incidents/index.ts";
import { registerIncidentRoutes, sweepJob } from "./incidents/index.ts";
import { oidcSignIn, registerOperatorRoutes } from "./operators/index.ts";
import { registerReviewRoutes } from "./reviews/index.ts";
import { registerServiceTokenRoutes } from "./service-token/index.ts";
import { registerSupportRoutes } from "./support/index.ts";
import { peersFromConfig, registerConsole, registerPortal, type WebPeers } from "../core/web-apps/index.ts";
import { actorHook } from "./operators/index.ts";
import { loadPackagePolicy } from "./release/index.ts";
import { registerReleaseRoutes } from "./release/index.ts";
import { registerRolloutRoutes } from "./rollouts/index.ts";
import { registerOrchestrationRoutes } from "./subject-requests/index.ts";
import { startLeasedJobs } from "../core/leases/index.ts";
import { registerRegionListRoute } from "./regions/index.ts";
import { registerLedgerRoute } from "./regions/index.ts";

/** A started control plane. */
export interface RunningControlPlane {
  url: string;
  app: App;
  db: Db;
  /** The service token it presents now. */
  readonly serviceToken: string;
  /** Tells the control plane where regions that listened on port 0 ended up. */
  regionUrls: Map<string, string>;
  close(): Promise<void>;
}

/** Opens the control-plane store (migrating it) and starts its HTTP service. */
export async function startControlPlane(
  config: Config,
  logger: Logger,
  peers: WebPeers = peersFromConfig(config),
): Promise<RunningControlPlane> {
  // Read before the store is opened: a broken policy or dictionary stops the start, and holds nothing.
  const policy = loadPackagePolicy(config.packagePolicyFile);
  const { dictionary } = loadDictionary(config.dictionaryDir, { regions: config.regions.map((r) => r.id) });
  const db = await openDb(config.controlPlane.store, "control plane", {
    onPrimaryChanged: (to, from) =>
      logger.warn(
        { service: "control-plane", from, to },
        "the store's primary moved: writing to the new one",
      ),
  });
  await migrate(db, "control");
  // The tokens it presents and accepts, re-read while it runs: a rotation needs no restart.
  const serviceToken = serviceTokens(config.dataDir);
  await checkKeyFingerprints(db, [serviceTokenFingerprint(serviceToken.files())], config.dataDir).catch(
    async (error: unknown) => {
      await db.close();
      throw error;
    },
  );
  let ready = false;
  const { app, metrics } = await createService({
    name: "control-plane",
    description:
      "Fleet registry, data dictionary and subject-request receipts. Holds factory records and receipts only: no owner or usage data.",
    logger: logger.child({ service: "control-plane" }),
    http: config.http,
    metricsToken: serviceToken,
    tls: config.controlPlane.tls,
    ready: async () => {
      if (!ready) return false;
      // Ready only on a store that takes writes: not while a failover has left no primary.
      await db.checkWritable();
      return true;
    },
    corsOrigins: () => peers.origins(),
  });
  await registerPortal(app, peers);
  const publicUrl = () =>
    config.controlPlane.listen.port === 0 ? urlOf(app, config.controlPlane) : config.controlPlane.url;
  const oidc =
    config.controlPlane.oidc === undefined ? undefined : oidcSignIn(db, config.controlPlane.oidc, publicUrl);
  const local = config.controlPlane.oidc?.localSignIn ?? "all";
  await registerConsole(app, {
    passwordSignIn: local,
    provider: oidc === undefined ? null : { name: oidc.name, signInUrl: "/v1/sessions/oidc" },
  });
  // Handlers run as the actor their authorisation found, for the audit log.
  app.addHook("preHandler", actorHook);
  const regionUrls = new Map<string, string>();
  registerFleetRoutes(app, { db, config, serviceToken });
  registerRegionListRoute(app, config, () => regionUrls);
  registerOrchestrationRoutes(app, {
    db,
    // Owner tokens are checked against the control plane's own fleet records.
    // Every replica reads the revocation feed, so a revoked key's tokens are refused within the bound.
    directory: cachedDirectory((keys) => findDevicesByKeyIds(db, keys), {
      revocations: (after) => revocationFeed(db, after),
    }),
    regions: () => config.regions.map((r) => ({ id: r.id, url: regionUrls.get(r.id) ?? r.url })),
  });
  registerReleaseRoutes(app, {
    db,
    serviceToken,
    gate: () => ({
      policy,
      dictionary,
      collectors: new Map(config.regions.map((r) => [r.id, regionUrls.get(r.id) ?? r.url])),
    }),
  });
  registerRolloutRoutes(app, { db, serviceToken });
  registerAdvisoryRoutes(app, {
    db,
    serviceToken,
    regions: () => config.regions.map((r) => ({ id: r.id, url: regionUrls.get(r.id) ?? r.url })),
  });
  const incidents: IncidentContext = {
    db,
    serviceToken,
    regions: () =>
      config.regions.map((r) => ({ id: r.id, url: regionUrls.get(r.id) ?? r.url, storedIn: r.storedIn })),
    regionOfMarket: (market) => regionOfMarket(config, market),
    policy,
    dictionary,
  };
  registerIncidentRoutes(app, incidents);
  const regionRefs = () => config.regions.map((r) => ({ id: r.id, url: regionUrls.get(r.id) ?? r.url }));
  registerAnchorRoutes(app, { db, serviceToken, regions: regionRefs });
  registerAuditRoutes(app, {
    db,
    store: "control-plane",
    readEntries: authorize({ db, serviceToken }, "audit.read"),
  });
  registerDataMapRoutes(app, { db, config, dictionary });
  registerOperatorRoutes(app, { db, serviceToken, signIn: config.signIn, local, oidc });
  registerLedgerRoute(app, {
    db,
    serviceToken,
    regions: () => config.regions.map((r) => ({ id: r.id, url: regionUrls.get(r.id) ?? r.url })),
  });
  registerSupportRoutes(app, {
    db,
    serviceToken,
    regions: () => config.regions.map((r) => ({ id: r.id, url: regionUrls.get(r.id) ?? r.url })),
    regionOfMarket: (market) => regionOfMarket(config, market),
  });
  registerReviewRoutes(app, {
    db,
    serviceToken,
    dictionaryDir: config.dictionaryDir,
    regions: config.regions.map((r) => r.id),
  });
  registerServiceTokenRoutes(app, { db, serviceToken });
  await app.listen({ host: config.controlPlane.listen.host, port: config.controlPlane.listen.port });
  ready = true;
  const log = logger.child({ service: "control-plane" });
  // Each timed job runs on one control-plane replica per period: the one holding its lease.
  const jobs = startLeasedJobs(
    [
      sweepJob(incidents, config.incidents.sweepIntervalSeconds, log),
      anchorJob(db, regionRefs, config.audit.anchorIntervalSeconds),
    ],
    { db, ttlMs: config.jobs.leaseSeconds * 1000, logger: log, metrics },
  );
  return {
    url: config.controlPlane.listen.port === 0 ? urlOf(app, config.controlPlane) : config.controlPlane.url,
    app,
    db,
    get serviceToken() {
      return serviceToken.current();
    },
    regionUrls,
    close: async () => {
      ready = false;
      await jobs.stop();
      await app.close();
      await db.close();
    },
  };
}
