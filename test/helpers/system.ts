/**
 * A whole phonehome (control plane + regions `global` and `cn`) on one test
 * backend, listening on free loopback ports, with helpers to provision devices
 * and read every region's store.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  createDeviceIdentity,
  type DeviceIdentity,
  type RegionDescriptor,
  type RootKey,
} from "@phonehome/sdk";
import {
  listActivations,
  type StoredActivation,
} from "../../src/collector/activation/activation.repository.ts";
import { buildConfig, type Config, regionOfMarket } from "../../src/core/config/index.ts";
import { loadFleetTrust } from "../../src/core/keys/index.ts";
import type { RunningRegion } from "../../src/collector/index.ts";
import { findDiagnosticsEvents, type StoredDiagnosticsEvent } from "../../src/collector/diagnostics/index.ts";
import { deviceRef } from "../../src/collector/device-data/index.ts";
import { importFleet } from "../../src/control-plane/fleet/index.ts";
import type { LedgerEntry } from "../../src/collector/ingest/ledger.repository.ts";
import { createLogger } from "../../src/core/log/index.ts";
import { addOperator } from "../../src/control-plane/operators/operators.service.ts";
import { descriptorOf } from "../../src/compose/system/sample-fleet.ts";
import { type RunningSystem, startSystem } from "../../src/compose/system/system.ts";
import type { Backend } from "./stores.ts";

/** A running test system and what the test needs around it. */
export interface TestSystem {
  config: Config;
  system: RunningSystem;
  dataDir: string;
  /** The factory descriptor of a region. */
  descriptor(region: string): RegionDescriptor;
  /** A running region by id. */
  region(id: string): RunningRegion;
  /** The diagnostics events a region stores of a device (by its pseudonym there), oldest first. */
  diagnosticsOf(device: DeviceIdentity, region?: string): Promise<StoredDiagnosticsEvent[]>;
  /** The fleet roots the factory gives devices (the fleet trust of the system's data directory). */
  roots: RootKey[];
  /**
   * Registers devices in the control plane and returns their identities (home = region of market unless
   * given), one batch per market; `build` flashes the worldwide batches with another build than 00WW_3_39B_SP03.
   */
  provision(devices: DeviceSpec[], options?: { build?: string }): Promise<DeviceIdentity[]>;
  /** Every activation stored in each region, by region id. */
  activationsByRegion(): Promise<Map<string, StoredActivation[]>>;
  /** Stops every service and keeps the stores (closed), for work that needs them to itself; once. */
  stop(): Promise<void>;
  /** Stops the services (unless `stop` did) and removes the stores and the data directory. */
  close(): Promise<void>;
}

/** A device to provision: its market, and optionally the region whose descriptor it gets (the incident). */
export interface DeviceSpec {
  market: string;
  home?: string;
}

let counter = 0;

/** Starts a system whose three stores are fresh stores of `backend`. */
export async function startTestSystem(
  backend: Backend,
  overrides: {
    ingest?: Record<string, number>;
    extra?: Record<string, unknown>;
    /** Further settings of the control plane (its OpenID provider). */
    controlPlane?: Record<string, unknown>;
  } = {},
): Promise<TestSystem> {
  const dataDir = mkdtempSync(join(tmpdir(), "phonehome-system-"));
  const stores = await Promise.all(["control", "global", "cn"].map((l) => backend.fresh(l)));
  const storeOf = (i: number) => {
    const s = stores[i]?.store;
    if (!s) throw new Error("no store");
    return s.kind === "pglite" ? { dataDir: s.dataDir } : { url: s.url, schema: s.schema };
  };
  const config = buildConfig(
    {
      dataDir,
      logLevel: "silent",
      controlPlane: { listen: "127.0.0.1:0", store: storeOf(0), ...overrides.controlPlane },
      regions: [
        { id: "global", storedIn: "SG", listen: "127.0.0.1:0", store: storeOf(1) },
        { id: "cn", storedIn: "CN", listen: "127.0.0.1:0", store: storeOf(2) },
      ],
      ingest: { batchDelayMs: 2, ...overrides.ingest },
      ...overrides.extra,
    },
    dataDir,
  );
  const system = await startSystem(config, createLogger("silent"));
  let stopped: Promise<void> | undefined;
  const stop = () => (stopped ??= system.close());
  const regionOf = (region: string) => {
    const r = system.regions.find((x) => x.id === region);
    if (!r) throw new Error(`no region ${region}`);
    return r;
  };
  const descriptor = (region: string) => descriptorOf(regionOf(region));
  const { roots } = await loadFleetTrust(dataDir);
  return {
    config,
    system,
    dataDir,
    descriptor,
    region: regionOf,
    diagnosticsOf: (device, region = "global") => {
      const r = regionOf(region);
      return findDiagnosticsEvents(r.db, deviceRef(r.intake.pseudonymSecret, device.keyId));
    },
    roots,
    provision: async (specs, options = {}) => {
      const worldwide = options.build ?? "00WW_3_39B_SP03";
      counter += 1;
      const tag = `${process.pid.toString(36).toUpperCase()}${counter}`.slice(-6).padStart(6, "0");
      const identities = specs.map((spec, i) => {
        const region = regionOfMarket(config, spec.market);
        const variant = region === "cn" ? "00CN" : "00WW";
        return createDeviceIdentity(
          {
            serial: `T${tag}${String(i).padStart(6, "0")}`,
            model: "TA-1062",
            variant,
            market: spec.market,
            build: region === "cn" ? "00CN_3_39B_SP03" : worldwide,
          },
          descriptor(spec.home ?? region),
          roots,
        );
      });
      const markets = [...new Set(specs.map((s) => s.market))];
      const batchOf = (market: string) => `B${tag}${market}`;
      const factory = {
        version: 1,
        models: [{ id: "TA-1062", name: "Test phone", warrantyMonths: 24 }],
        variants: [
          { id: "00WW", model: "TA-1062", region: "global", description: "worldwide" },
          { id: "00CN", model: "TA-1062", region: "cn", description: "China" },
        ],
        builds: [
          { number: worldwide, model: "TA-1062", variant: "00WW", releasedAt: null },
          { number: "00CN_3_39B_SP03", model: "TA-1062", variant: "00CN", releasedAt: null },
        ],
        batches: markets.map((market) => {
          const cn = regionOfMarket(config, market) === "cn";
          return {
            id: batchOf(market),
            model: "TA-1062",
            variant: cn ? "00CN" : "00WW",
            market,
            build: cn ? "00CN_3_39B_SP03" : worldwide,
            producedAt: "2019-03-01T08:00:00Z",
            size: specs.filter((s) => s.market === market).length,
          };
        }),
        devices: identities.map((d) => ({
          serial: d.serial,
          model: d.model,
          variant: d.variant,
          market: d.market,
          batch: batchOf(d.market),
          publicKey: d.publicKey,
        })),
      };
      await importFleet(system.controlPlane.db, config, {
        name: "factory.json",
        text: JSON.stringify(factory),
      });
      return identities;
    },
    activationsByRegion: async () => {
      const out = new Map<string, StoredActivation[]>();
      for (const region of system.regions) {
        const rows: StoredActivation[] = [];
        let after = "";
        for (;;) {
          const page = await listActivations(region.db, after, 1000);
          rows.push(...page);
          const last = page.at(-1);
          if (!last || page.length < 1000) break;
          after = last.deviceKey;
        }
        out.set(region.id, rows);
      }
      return out;
    },
    stop,
    close: async () => {
      await stop();
      await Promise.all(stores.map((s) => s.cleanup()));
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** The batch id `provision` gives devices of `market` (for ledger assertions). */
export function batchIdPattern(market: string): RegExp {
  return new RegExp(`^B[0-9A-Z]{6}${market}$`);
}

/**
 * Calls the test system's control plane: JSON in and out, with the service
 * token unless `token` says otherwise (null: none). A 204 answers null.
 */
export async function callControlPlane<T>(
  t: TestSystem,
  method: string,
  path: string,
  body?: unknown,
  token: string | null = t.system.controlPlane.serviceToken,
): Promise<{ status: number; body: T }> {
  const headers: Record<string, string> = {};
  if (token !== null) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers["content-type"] = "application/json";
  const response = await fetch(`${t.system.controlPlane.url}${path}`, {
    method,
    headers,
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: response.status, body: (response.status === 204 ? null : await response.json()) as T };
}

/** A row of a collector's ingest ledger, as `GET /v1/ledger` answers it. */
export type LedgerRow = LedgerEntry & { count: number };

/** The ingest ledger of region `region`'s collector (with the service token, which it asks for). */
export async function collectorLedger(t: TestSystem, region: string): Promise<LedgerRow[]> {
  const r = t.system.regions.find((x) => x.id === region);
  if (!r) throw new Error(`no region ${region}`);
  const response = await fetch(`${r.url}/v1/ledger`, {
    headers: { authorization: `Bearer ${t.system.controlPlane.serviceToken}` },
  });
  if (response.status !== 200) throw new Error(`GET /v1/ledger answered ${response.status}`);
  return ((await response.json()) as { rows: LedgerRow[] }).rows;
}

/**
 * Writes a configuration file with which the CLI reaches the running test
 * system: its data directory (and so its service token), the services where
 * they listen, and their stores.
 */
export function writeCliConfig(t: TestSystem, file: string): void {
  const port = (url: string) => new URL(url).port;
  const storeOf = (store: Config["controlPlane"]["store"]) =>
    store.kind === "pglite" ? { dataDir: store.dataDir } : { url: store.url, schema: store.schema };
  writeFileSync(
    file,
    JSON.stringify({
      dataDir: t.dataDir,
      logLevel: "silent",
      controlPlane: {
        listen: `127.0.0.1:${port(t.system.controlPlane.url)}`,
        store: storeOf(t.config.controlPlane.store),
      },
      regions: t.config.regions.map((r) => ({
        id: r.id,
        storedIn: r.storedIn,
        listen: `127.0.0.1:${port(t.system.regions.find((x) => x.id === r.id)?.url ?? r.url)}`,
        store: storeOf(r.store),
      })),
    }),
  );
}

/** The password every test operator has. */
export const OPERATOR_PASSWORD = "a long enough password";

/** Adds operators (username → role) and signs each in; answers their session tokens by username. */
export async function signedInOperators(
  t: TestSystem,
  roles: Record<string, string>,
): Promise<Map<string, string>> {
  const tokens = new Map<string, string>();
  for (const [username, role] of Object.entries(roles)) {
    await addOperator(
      t.system.controlPlane.db,
      { username, name: username, role, password: OPERATOR_PASSWORD },
      "test",
    );
    const signedIn = await callControlPlane<{ token: string }>(t, "POST", "/v1/sessions", {
      username,
      password: OPERATOR_PASSWORD,
    });
    if (signedIn.status !== 200)
      throw new Error(`${username} could not sign in: ${JSON.stringify(signedIn.body)}`);
    tokens.set(username, signedIn.body.token);
  }
  return tokens;
}
