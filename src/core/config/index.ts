/**
 * The one configuration module. The file is read once, checked against its
 * schema and across its parts, every problem is listed, and the result is
 * frozen. Nothing else in the code base reads `process.env`.
 */
import { existsSync, readFileSync } from "node:fs";
import { isIP } from "node:net";
import { dirname, isAbsolute, join, resolve } from "node:path";
import { Ajv } from "ajv";
import { parse as parseYaml } from "yaml";
import type { StoreConfig } from "../db/index.ts";
import { parseDurationMs, parseRetention, type Retention } from "../calendar/index.ts";
import { PhoneHomeError, type Problem } from "../errors/index.ts";
import { type ConfigFile, ConfigFileSchema } from "./schema.ts";

/** Where the package itself lives; the shipped dictionary and notices are found from here. */
/** How long proof records are kept once they stop being current, unless the configuration says otherwise. */
export const DEFAULT_RECORDS_RETENTION = "P3Y";

function recordsRetention(duration: string): Retention {
  const parsed = parseRetention(duration);
  // The schema's pattern admits only what parses; this guards the default.
  if (parsed === null) throw new Error(`retention.records ${duration} is not an ISO 8601 duration`);
  return parsed;
}

function exactDuration(duration: string): number {
  const ms = parseDurationMs(duration);
  // The schema's pattern admits only what parses; this guards the defaults.
  if (ms === null) throw new Error(`${duration} is not an ISO 8601 duration`);
  return ms;
}

export const PACKAGE_ROOT = new URL("../../../", import.meta.url).pathname;

/** A host and port to listen on. */
export interface Listen {
  host: string;
  port: number;
}

/** TLS material: PEM file paths. */
export interface TlsConfig {
  cert: string;
  key: string;
}

/** One data-residency region: its collector, its store and the country its data is stored in. */
export interface RegionConfig {
  id: string;
  /** ISO 3166-1 alpha-2 country where this region's data is stored. */
  storedIn: string;
  listen: Listen;
  /** Public base URL devices use; derived from `listen` when not set. */
  url: string;
  store: StoreConfig;
  tls: TlsConfig | undefined;
}

/** The control plane: fleet registry, dictionary, and (later) reviews, advisories and incidents. */
export interface ControlPlaneConfig {
  listen: Listen;
  url: string;
  store: StoreConfig;
  tls: TlsConfig | undefined;
  /** The OpenID provider operators sign in through; undefined: local accounts only (the embedded default). */
  oidc: OidcConfig | undefined;
}

/** A phonehome role, as the configuration names one (the same list as @phonehome/shared's ROLES). */
export type ConfigRole = "operator" | "privacy-reviewer" | "support" | "auditor" | "admin";

/** An OpenID provider for operators' sign-in (docs/operators.md). */
export interface OidcConfig {
  /** The provider's name as operators know it ("Sign in with <name>"). */
  name: string;
  /** The issuer URL; discovery reads its /.well-known/openid-configuration. */
  issuer: string;
  clientId: string;
  /** A file holding the client secret, read at start; undefined: a public client (PKCE only). */
  clientSecretFile: string | undefined;
  /** The callback registered at the provider; undefined: the control plane's URL + /v1/sessions/oidc/callback, as it runs. */
  redirectUri: string | undefined;
  /** Where the provider sends the browser after sign-out; undefined: the control plane's URL + /console/. */
  postLogoutRedirectUri: string | undefined;
  scopes: readonly string[];
  /** The claim carrying groups or roles (a string or an array of strings). */
  roleClaim: string;
  /** Claim values mapped to roles; the first entry the person's claim holds gives the role. */
  roles: readonly { value: string; role: ConfigRole }[];
  /** The longest a provider's session lasts, in seconds; the ID token's expiry may end it sooner. */
  sessionMaxSeconds: number;
  /** Who still signs in with a local password: local admins only (break-glass), everyone, or no one. */
  localSignIn: "admin" | "all" | "none";
}

/** How long every service waits for a client, in milliseconds. */
export interface HttpConfig {
  /** Longest wait for a request's headers, from its first byte. */
  headersTimeoutMs: number;
  /** Longest wait for a whole request, headers and body. */
  requestTimeoutMs: number;
  /** How long a kept-alive connection may sit idle between requests. */
  keepAliveTimeoutMs: number;
  /** A connection with no traffic either way for this long is closed, also mid-request; 0: never. */
  idleTimeoutMs: number;
  /** Addresses and CIDR ranges of the load balancers whose X-Forwarded-For is believed. */
  trustProxy: readonly string[];
}

/**
 * The HTTP defaults: headers within 10 s and the whole request within 30 s of
 * its first byte; a kept-alive connection kept longer than a load balancer's
 * usual 60 s, so that the balancer, not the service, closes it; no connection
 * silent for 5 minutes, which the longest request (a purge, a gathered answer
 * from every region) stays well within.
 */
export const DEFAULT_HTTP: Readonly<HttpConfig> = Object.freeze({
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  keepAliveTimeoutMs: 72_000,
  idleTimeoutMs: 300_000,
  trustProxy: Object.freeze([]),
});

/** Failed sign-ins allowed within a sliding window before further attempts are refused (429). */
export interface SignInConfig {
  /** How far back failures count, in seconds. */
  windowSeconds: number;
  /** For one username from one address. */
  perAccountAndAddress: number;
  /** From one address, whatever the username. */
  perAddress: number;
  /** For one username, from every address together. */
  perAccount: number;
}

/** How a region's keys rotate and how fast replicas follow. */
export interface KeysConfig {
  /** How long a key is the current one before the scheduled rotation replaces it, in milliseconds. */
  lifetimeMs: number;
  /** How long the previous seal key is still opened once the next has started, in milliseconds. */
  overlapMs: number;
  /** How long after a rotation the new seal key starts, in milliseconds. */
  startsInMs: number;
  /** Seconds between the scheduled key job's runs. */
  checkIntervalSeconds: number;
  /** Seconds between a replica's reloads of the key set: how long a replica may lag a rotation. */
  reloadSeconds: number;
}

/** The validated, frozen configuration. */
export interface Config {
  /** The file it came from, or null for the built-in defaults. */
  file: string | null;
  /** Keys, secrets and embedded stores. */
  dataDir: string;
  logLevel: string;
  /** Folder of collection YAML files. */
  dictionaryDir: string;
  /** Folder of consent notices, `<purpose>/v<N>.<lang>.md`. */
  noticesDir: string;
  /** The package policy file of the release gate. */
  packagePolicyFile: string;
  controlPlane: ControlPlaneConfig;
  regions: RegionConfig[];
  /** Market (country) to region; markets not named go to `default`. */
  policy: { markets: Readonly<Record<string, string>>; default: string };
  /** Every service's HTTP connections (docs/configuration.md). */
  http: HttpConfig;
  /** How failed operator sign-ins are throttled (docs/operators.md). */
  signIn: SignInConfig;
  ingest: {
    /** Largest request body a collector reads, in bytes. */
    maxBodyBytes: number;
    /** Most events one group commit carries. */
    batchSize: number;
    /** How long a group commit waits for company, in milliseconds. */
    batchDelayMs: number;
    /** Group-commit transactions in flight at once, per region; unset: 1 on PGlite, 2 on PostgreSQL. */
    commitsInFlight: number | undefined;
    /** How far in the future an envelope's `sentAt` may lie, in seconds. */
    maxClockSkewSeconds: number;
  };
  retention: {
    /** Minutes between a region's retention purges (periods aligned to the clock; run by the lease holder). */
    purgeIntervalMinutes: number;
    /** How long proof records are kept once they stop being current (a replaced consent decision, a receipt). */
    records: Retention;
  };
  /** How a region's keys rotate (docs/operations.md, "Keys"). */
  keys: KeysConfig;
  jobs: {
    /** How long a replica's lease on a timed job lasts unless renewed, in seconds. */
    leaseSeconds: number;
  };
  audit: {
    /** Seconds between the control plane's anchoring of the regions' audit heads; 0: only on request. */
    anchorIntervalSeconds: number;
  };
  incidents: {
    /** Seconds between the control plane's sweeps of the collectors' misrouting alerts; 0: only on request. */
    sweepIntervalSeconds: number;
  };
  /** What `phonehome audit` allows devices to send to, besides their region's collector. */
  auditor: {
    approvedHosts: readonly string[];
    /** Region → further countries its devices may send to; the region's `storedIn` always may. */
    allowedCountries: Readonly<Record<string, readonly string[]>>;
  };
  /** Demo fleet provisioned by `phonehome up` on first start. */
  demo: { devices: number };
}

type FileRegion = NonNullable<ConfigFile["regions"]>[number];
type FileStore = NonNullable<FileRegion["store"]>;

const DEFAULT_REGIONS: FileRegion[] = [
  { id: "global", storedIn: "SG" },
  { id: "cn", storedIn: "CN" },
];

const validateFile = new Ajv({ allErrors: true, strict: false }).compile<ConfigFile>(ConfigFileSchema);

/**
 * Reads the configuration: `path` if given, else `$PHONEHOME_CONFIG`, else
 * `./phonehome.yaml` if present, else the built-in embedded defaults.
 * Throws `config.invalid` listing every problem.
 */
export function loadConfig(path?: string): Config {
  const chosen =
    path ?? process.env.PHONEHOME_CONFIG ?? (existsSync("phonehome.yaml") ? "phonehome.yaml" : undefined);
  if (chosen === undefined) return buildConfig({}, process.cwd(), null);
  const file = resolve(chosen);
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    throw new PhoneHomeError("config.invalid", `cannot read configuration file ${file}`, {
      problems: [{ path: file, message: (error as Error).message }],
    });
  }
  let raw: unknown;
  try {
    raw = parseYaml(text) ?? {};
  } catch (error) {
    throw new PhoneHomeError("config.invalid", `configuration file ${file} is not valid YAML`, {
      problems: [{ path: file, message: (error as Error).message }],
    });
  }
  return buildConfig(raw, dirname(file), file);
}

/**
 * Checks a parsed configuration document and fills in defaults. Relative
 * paths are resolved against `baseDir`. Throws `config.invalid` with every problem.
 */
export function buildConfig(raw: unknown, baseDir: string, file: string | null = null): Config {
  if (!validateFile(raw)) {
    const problems = (validateFile.errors ?? []).map((e) => ({
      path: e.instancePath || "/",
      message:
        e.keyword === "additionalProperties"
          ? `unknown setting ${JSON.stringify((e.params as { additionalProperty: string }).additionalProperty)}`
          : (e.message ?? "is invalid"),
    }));
    throw new PhoneHomeError("config.invalid", describe(file, problems.length), { problems });
  }
  const problems: Problem[] = [];
  const at = (p: string) => (isAbsolute(p) ? p : join(baseDir, p));
  const dataDir = at(raw.dataDir ?? ".phonehome");

  const listenOf = (value: string | undefined, fallbackPort: number, where: string): Listen => {
    if (value === undefined) return { host: "127.0.0.1", port: fallbackPort };
    const cut = value.lastIndexOf(":");
    const host = value.slice(0, cut).replace(/^\[|\]$/g, "");
    const port = Number(value.slice(cut + 1));
    if (port > 65_535) problems.push({ path: where, message: `port ${port} is out of range` });
    return { host, port };
  };
  const storeOf = (value: FileStore | undefined, fallback: string): StoreConfig => {
    if (value === undefined) return { kind: "pglite", dataDir: join(dataDir, fallback) };
    if ("dataDir" in value) {
      // `memory://` is PGlite's in-memory store: nothing is kept (documentation builds, throwaway demos).
      return { kind: "pglite", dataDir: value.dataDir === "memory://" ? value.dataDir : at(value.dataDir) };
    }
    const timeouts = {
      ...(value.connectTimeoutMs === undefined ? {} : { connectMs: value.connectTimeoutMs }),
      ...(value.statementTimeoutMs === undefined ? {} : { statementMs: value.statementTimeoutMs }),
      ...(value.idleInTransactionTimeoutMs === undefined
        ? {}
        : { idleInTransactionMs: value.idleInTransactionTimeoutMs }),
    };
    return { kind: "postgres", url: value.url, schema: value.schema, poolSize: value.poolSize, timeouts };
  };
  const tlsOf = (value: { cert: string; key: string } | undefined, where: string): TlsConfig | undefined => {
    if (value === undefined) return undefined;
    const tls = { cert: at(value.cert), key: at(value.key) };
    for (const [name, p] of Object.entries(tls)) {
      if (!existsSync(p))
        problems.push({ path: `${where}/tls/${name}`, message: `file ${p} does not exist` });
    }
    return tls;
  };
  const urlOf = (listen: Listen, tls: TlsConfig | undefined) =>
    `${tls ? "https" : "http"}://${listen.host.includes(":") ? `[${listen.host}]` : listen.host}:${listen.port}`;
  const requireTlsOffLoopback = (listen: Listen, tls: TlsConfig | undefined, where: string) => {
    if (!tls && !isLoopback(listen.host)) {
      problems.push({
        path: `${where}/listen`,
        message: `listening on ${listen.host} without TLS: plain HTTP is served on loopback addresses only; set ${where.slice(1)}/tls`,
      });
    }
  };

  const cpRaw = raw.controlPlane ?? {};
  const cpListen = listenOf(cpRaw.listen, 8400, "/controlPlane/listen");
  const cpTls = tlsOf(cpRaw.tls, "/controlPlane");
  requireTlsOffLoopback(cpListen, cpTls, "/controlPlane");
  const controlPlane: ControlPlaneConfig = {
    listen: cpListen,
    url: cpRaw.url ?? urlOf(cpListen, cpTls),
    store: storeOf(cpRaw.store, "control"),
    tls: cpTls,
    oidc: cpRaw.oidc === undefined ? undefined : oidcOf(cpRaw.oidc, at, problems),
  };

  const regionsRaw = raw.regions ?? DEFAULT_REGIONS;
  const seen = new Set<string>();
  const regions: RegionConfig[] = regionsRaw.map((r, i) => {
    const where = `/regions/${i}`;
    if (seen.has(r.id)) problems.push({ path: `${where}/id`, message: `region ${r.id} is declared twice` });
    seen.add(r.id);
    const listen = listenOf(r.listen, 8401 + i, `${where}/listen`);
    const tls = tlsOf(r.tls, where);
    requireTlsOffLoopback(listen, tls, where);
    return {
      id: r.id,
      storedIn: r.storedIn,
      listen,
      url: r.url ?? urlOf(listen, tls),
      store: storeOf(r.store, r.id),
      tls,
    };
  });

  const ports = new Map<string, string>();
  const claimPort = (listen: Listen, who: string) => {
    if (listen.port === 0) return;
    const key = `${listen.host}:${listen.port}`;
    const other = ports.get(key);
    if (other) problems.push({ path: who, message: `listens on ${key}, as ${other} does` });
    ports.set(key, who);
  };
  claimPort(controlPlane.listen, "/controlPlane/listen");
  regions.forEach((r, i) => {
    claimPort(r.listen, `/regions/${i}/listen`);
  });

  const markets: Record<string, string> = raw.policy?.markets ?? (seen.has("cn") ? { CN: "cn" } : {});
  const fallback = raw.policy?.default ?? (seen.has("global") ? "global" : (regions[0]?.id ?? "global"));
  for (const [market, region] of Object.entries(markets)) {
    if (!seen.has(region))
      problems.push({ path: `/policy/markets/${market}`, message: `region ${region} is not declared` });
  }
  if (!seen.has(fallback))
    problems.push({ path: "/policy/default", message: `region ${fallback} is not declared` });

  for (const region of Object.keys(raw.auditor?.allowedCountries ?? {})) {
    if (!seen.has(region))
      problems.push({
        path: `/auditor/allowedCountries/${region}`,
        message: `region ${region} is not declared`,
      });
  }

  const http: HttpConfig = { ...DEFAULT_HTTP, ...raw.http };
  // Node refuses a headers timeout longer than the request's: the headers are part of the request.
  if (http.headersTimeoutMs > http.requestTimeoutMs) {
    problems.push({
      path: "/http/headersTimeoutMs",
      message: `${http.headersTimeoutMs} ms is longer than http.requestTimeoutMs (${http.requestTimeoutMs} ms), which includes the headers`,
    });
  }
  for (const [i, entry] of http.trustProxy.entries()) {
    if (!isAddressOrRange(entry))
      problems.push({
        path: `/http/trustProxy/${i}`,
        message: `${entry} is not an IP address or CIDR range`,
      });
  }

  for (const name of ["lifetime", "overlap"] as const) {
    const value = raw.keys?.[name];
    if (value !== undefined && parseDurationMs(value) === 0)
      problems.push({ path: `/keys/${name}`, message: "must be longer than zero" });
  }

  if (problems.length > 0)
    throw new PhoneHomeError("config.invalid", describe(file, problems.length), { problems });

  return deepFreeze({
    file,
    dataDir,
    logLevel: raw.logLevel ?? "info",
    dictionaryDir: raw.dictionary === undefined ? join(PACKAGE_ROOT, "dictionary") : at(raw.dictionary),
    noticesDir: raw.notices === undefined ? join(PACKAGE_ROOT, "notices") : at(raw.notices),
    packagePolicyFile:
      raw.packagePolicy === undefined ? join(PACKAGE_ROOT, "policy", "packages.yaml") : at(raw.packagePolicy),
    controlPlane,
    regions,
    policy: { markets, default: fallback },
    ingest: {
      maxBodyBytes: raw.ingest?.maxBodyBytes ?? 64 * 1024,
      batchSize: raw.ingest?.batchSize ?? 256,
      batchDelayMs: raw.ingest?.batchDelayMs ?? 2,
      commitsInFlight: raw.ingest?.commitsInFlight,
      maxClockSkewSeconds: raw.ingest?.maxClockSkewSeconds ?? 300,
    },
    http,
    signIn: {
      windowSeconds: raw.signIn?.windowSeconds ?? 900,
      perAccountAndAddress: raw.signIn?.perAccountAndAddress ?? 5,
      perAddress: raw.signIn?.perAddress ?? 20,
      perAccount: raw.signIn?.perAccount ?? 50,
    },
    retention: {
      purgeIntervalMinutes: raw.retention?.purgeIntervalMinutes ?? 60,
      records: recordsRetention(raw.retention?.records ?? DEFAULT_RECORDS_RETENTION),
    },
    keys: {
      lifetimeMs: exactDuration(raw.keys?.lifetime ?? "P90D"),
      overlapMs: exactDuration(raw.keys?.overlap ?? "P30D"),
      startsInMs: exactDuration(raw.keys?.startsIn ?? "PT24H"),
      checkIntervalSeconds: raw.keys?.checkIntervalSeconds ?? 3600,
      reloadSeconds: raw.keys?.reloadSeconds ?? 10,
    },
    jobs: { leaseSeconds: raw.jobs?.leaseSeconds ?? 15 },
    audit: { anchorIntervalSeconds: raw.audit?.anchorIntervalSeconds ?? 300 },
    incidents: { sweepIntervalSeconds: raw.incidents?.sweepIntervalSeconds ?? 60 },
    auditor: {
      approvedHosts: raw.auditor?.approvedHosts ?? [],
      allowedCountries: raw.auditor?.allowedCountries ?? {},
    },
    demo: { devices: raw.demo?.devices ?? 50 },
  });
}

/** The OpenID provider's settings with their defaults, and the problems the schema cannot see. */
function oidcOf(
  raw: NonNullable<NonNullable<ConfigFile["controlPlane"]>["oidc"]>,
  at: (p: string) => string,
  problems: Problem[],
): OidcConfig {
  const where = "/controlPlane/oidc";
  const scopes = raw.scopes ?? ["openid", "profile", "email"];
  if (!scopes.includes("openid"))
    problems.push({ path: `${where}/scopes`, message: "the scopes must include openid" });
  // Plain HTTP to the provider is for a provider on this machine (development, tests), as for the services.
  for (const key of ["issuer", "redirectUri", "postLogoutRedirectUri"] as const) {
    const value = raw[key];
    if (value === undefined) continue;
    const url = new URL(value);
    if (url.protocol === "http:" && !isLoopback(url.hostname.replace(/^\[|\]$/g, ""))) {
      problems.push({
        path: `${where}/${key}`,
        message: `${value} is plain HTTP: use https (http is for loopback only)`,
      });
    }
  }
  const clientSecretFile = raw.clientSecretFile === undefined ? undefined : at(raw.clientSecretFile);
  if (clientSecretFile !== undefined && !existsSync(clientSecretFile))
    problems.push({ path: `${where}/clientSecretFile`, message: `file ${clientSecretFile} does not exist` });
  return {
    name: raw.name,
    issuer: raw.issuer,
    clientId: raw.clientId,
    clientSecretFile,
    redirectUri: raw.redirectUri,
    postLogoutRedirectUri: raw.postLogoutRedirectUri,
    scopes,
    roleClaim: raw.roleClaim ?? "groups",
    roles: raw.roles.map((r) => ({ value: r.value, role: r.role as ConfigRole })),
    sessionMaxSeconds: raw.sessionMaxSeconds ?? 28_800,
    localSignIn: raw.localSignIn ?? "admin",
  };
}

/** The region that holds the personal data of devices sold in `market`. */
export function regionOfMarket(config: Pick<Config, "policy">, market: string): string {
  return config.policy.markets[market] ?? config.policy.default;
}

/** True for loopback hosts, where plain HTTP is allowed for local development. */
export function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/** True for an IPv4 or IPv6 address, alone or with a prefix length that fits it. */
function isAddressOrRange(entry: string): boolean {
  const [address = "", prefix] = entry.split("/");
  const family = isIP(address);
  if (family === 0) return false;
  return prefix === undefined || Number(prefix) <= (family === 4 ? 32 : 128);
}

function describe(file: string | null, count: number): string {
  return `${file ?? "the configuration"} has ${count} problem${count === 1 ? "" : "s"}`;
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === "object") {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}
