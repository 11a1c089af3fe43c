import { type Static, Type as T } from "@sinclair/typebox";
import { DURATION_PATTERN, EXACT_DURATION_PATTERN } from "../calendar/index.ts";

const Country = T.String({ pattern: "^[A-Z]{2}$", description: "ISO 3166-1 alpha-2 country code" });
const RegionId = T.String({ pattern: "^[a-z][a-z0-9-]{0,30}$", description: "region id, e.g. global or cn" });
const Listen = T.String({
  pattern: "^(\\[[0-9a-fA-F:]+\\]|[A-Za-z0-9.-]+):[0-9]{1,5}$",
  description: "host:port to listen on; port 0 picks a free port",
});
const Url = T.String({ pattern: "^https?://[^\\s]+$", maxLength: 2048 });

/** The roles an operator can hold (as @phonehome/shared's ROLES, which core does not import). */
const Role = T.Union(
  ["operator", "privacy-reviewer", "support", "auditor", "admin"].map((r) => T.Literal(r)),
  { description: "a phonehome role" },
);

/** An OpenID provider operators sign in through (docs/operators.md#signing-in-through-an-openid-provider). */
const Oidc = T.Object(
  {
    name: T.String({
      minLength: 1,
      maxLength: 60,
      description: 'the provider as operators know it: the console offers "Sign in with <name>"',
    }),
    issuer: T.String({
      pattern: "^https?://[^\\s]+$",
      maxLength: 2048,
      description: "the issuer URL; its /.well-known/openid-configuration is read",
    }),
    clientId: T.String({ minLength: 1, maxLength: 255 }),
    clientSecretFile: T.Optional(
      T.String({
        minLength: 1,
        description:
          "a file holding the client secret (client_secret_basic); absent: a public client, PKCE only",
      }),
    ),
    redirectUri: T.Optional(
      T.String({
        pattern: "^https?://[^\\s]+$",
        maxLength: 2048,
        description: "registered at the provider; default <controlPlane.url>/v1/sessions/oidc/callback",
      }),
    ),
    postLogoutRedirectUri: T.Optional(
      T.String({
        pattern: "^https?://[^\\s]+$",
        maxLength: 2048,
        description:
          "where the provider sends the browser after signing out; default <controlPlane.url>/console/",
      }),
    ),
    scopes: T.Optional(
      T.Array(T.String({ pattern: "^[\\x21\\x23-\\x5B\\x5D-\\x7E]{1,100}$" }), {
        minItems: 1,
        maxItems: 20,
        uniqueItems: true,
        description: "scopes asked for; must include openid (default openid, profile, email)",
      }),
    ),
    roleClaim: T.Optional(
      T.String({
        pattern: "^[A-Za-z0-9_:./-]{1,200}$",
        description:
          "the claim carrying the person's groups or roles, a string or an array of strings (default groups)",
      }),
    ),
    roles: T.Array(
      T.Object(
        {
          value: T.String({ minLength: 1, maxLength: 500, description: "a value of the role claim" }),
          role: Role,
        },
        { additionalProperties: false },
      ),
      {
        minItems: 1,
        maxItems: 100,
        description:
          "claim values mapped to roles; the first entry whose value the person has gives the role",
      },
    ),
    sessionMaxSeconds: T.Optional(
      T.Integer({
        minimum: 5,
        maximum: 86_400,
        description:
          "the longest a session opened through the provider lasts; the ID token's expiry may end it sooner (default 28800)",
      }),
    ),
    localSignIn: T.Optional(
      T.Union([T.Literal("admin"), T.Literal("all"), T.Literal("none")], {
        description:
          "who may still sign in with a local password: admin (local admins only, the break-glass account; the default), all, or none",
      }),
    ),
  },
  { additionalProperties: false },
);

const Store = T.Union(
  [
    T.Object(
      { dataDir: T.String({ minLength: 1, description: "PGlite data directory" }) },
      { additionalProperties: false },
    ),
    T.Object(
      {
        url: T.String({ pattern: "^postgres(ql)?://", description: "PostgreSQL connection URL" }),
        schema: T.Optional(T.String({ pattern: "^[a-z_][a-z0-9_]{0,62}$" })),
        poolSize: T.Optional(T.Integer({ minimum: 1, maximum: 200 })),
        connectTimeoutMs: T.Optional(
          T.Integer({
            minimum: 100,
            maximum: 120_000,
            description: "longest wait for a connection (default 3000)",
          }),
        ),
        statementTimeoutMs: T.Optional(
          T.Integer({
            minimum: 100,
            maximum: 600_000,
            description: "longest a statement may run before the store cancels it (default 5000)",
          }),
        ),
        idleInTransactionTimeoutMs: T.Optional(
          T.Integer({
            minimum: 100,
            maximum: 600_000,
            description: "longest a transaction may sit idle before the store ends it (default 10000)",
          }),
        ),
      },
      { additionalProperties: false },
    ),
  ],
  { description: "where the service keeps its data: a PGlite directory or a PostgreSQL URL" },
);

const Tls = T.Object(
  { cert: T.String({ minLength: 1 }), key: T.String({ minLength: 1 }) },
  { additionalProperties: false, description: "PEM certificate and key files; serves HTTPS when present" },
);

/** The configuration file, as written (before defaults and path resolution). */
export const ConfigFileSchema = T.Object(
  {
    dataDir: T.Optional(
      T.String({ minLength: 1, description: "keys, secrets and embedded stores live here" }),
    ),
    logLevel: T.Optional(
      T.Union(["fatal", "error", "warn", "info", "debug", "trace", "silent"].map((l) => T.Literal(l))),
    ),
    dictionary: T.Optional(T.String({ minLength: 1, description: "folder of collection YAML files" })),
    packagePolicy: T.Optional(
      T.String({ minLength: 1, description: "the package policy file the release gate reads (YAML)" }),
    ),
    notices: T.Optional(
      T.String({ minLength: 1, description: "folder of consent notices (Markdown per language)" }),
    ),
    controlPlane: T.Optional(
      T.Object(
        {
          listen: T.Optional(Listen),
          url: T.Optional(Url),
          store: T.Optional(Store),
          tls: T.Optional(Tls),
          oidc: T.Optional(Oidc),
        },
        { additionalProperties: false },
      ),
    ),
    regions: T.Optional(
      T.Array(
        T.Object(
          {
            id: RegionId,
            storedIn: Country,
            listen: T.Optional(Listen),
            url: T.Optional(Url),
            store: T.Optional(Store),
            tls: T.Optional(Tls),
          },
          { additionalProperties: false },
        ),
        { minItems: 1, maxItems: 32 },
      ),
    ),
    policy: T.Optional(
      T.Object(
        {
          markets: T.Optional(T.Record(T.String({ pattern: "^[A-Z]{2}$" }), RegionId)),
          default: T.Optional(RegionId),
        },
        { additionalProperties: false },
      ),
    ),
    http: T.Optional(
      T.Object(
        {
          headersTimeoutMs: T.Optional(
            T.Integer({
              minimum: 100,
              maximum: 300_000,
              description: "longest wait for a request's headers, from its first byte (default 10000)",
            }),
          ),
          requestTimeoutMs: T.Optional(
            T.Integer({
              minimum: 100,
              maximum: 3_600_000,
              description: "longest wait for a whole request, headers and body (default 30000)",
            }),
          ),
          keepAliveTimeoutMs: T.Optional(
            T.Integer({
              minimum: 100,
              maximum: 3_600_000,
              description: "how long a kept-alive connection may sit idle between requests (default 72000)",
            }),
          ),
          idleTimeoutMs: T.Optional(
            T.Integer({
              minimum: 0,
              maximum: 86_400_000,
              description:
                "a connection with no traffic either way for this long is closed, also while its request is being worked on (default 300000; 0: never)",
            }),
          ),
          trustProxy: T.Optional(
            T.Array(
              T.String({
                pattern: "^[0-9A-Fa-f.:]+(/[0-9]{1,3})?$",
                maxLength: 64,
                description: "an address or CIDR range",
              }),
              {
                maxItems: 100,
                description:
                  "the load balancers in front of the services: a request from one of them is from the address its X-Forwarded-For names",
              },
            ),
          ),
        },
        { additionalProperties: false },
      ),
    ),
    signIn: T.Optional(
      T.Object(
        {
          windowSeconds: T.Optional(
            T.Integer({
              minimum: 10,
              maximum: 86_400,
              description: "how far back failed sign-ins count (default 900)",
            }),
          ),
          perAccountAndAddress: T.Optional(
            T.Integer({
              minimum: 1,
              maximum: 1000,
              description: "failures for one username from one address within the window (default 5)",
            }),
          ),
          perAddress: T.Optional(
            T.Integer({
              minimum: 1,
              maximum: 100_000,
              description: "failures from one address, any username, within the window (default 20)",
            }),
          ),
          perAccount: T.Optional(
            T.Integer({
              minimum: 1,
              maximum: 100_000,
              description: "failures for one username, from every address, within the window (default 50)",
            }),
          ),
        },
        { additionalProperties: false },
      ),
    ),
    ingest: T.Optional(
      T.Object(
        {
          maxBodyBytes: T.Optional(T.Integer({ minimum: 1024, maximum: 16 * 1024 * 1024 })),
          batchSize: T.Optional(T.Integer({ minimum: 1, maximum: 10_000 })),
          batchDelayMs: T.Optional(T.Integer({ minimum: 0, maximum: 1000 })),
          commitsInFlight: T.Optional(T.Integer({ minimum: 1, maximum: 16 })),
          maxClockSkewSeconds: T.Optional(T.Integer({ minimum: 0, maximum: 86_400 })),
        },
        { additionalProperties: false },
      ),
    ),
    retention: T.Optional(
      T.Object(
        {
          purgeIntervalMinutes: T.Optional(
            T.Integer({
              minimum: 1,
              maximum: 10_080,
              description: "minutes between a region's retention purges",
            }),
          ),
          records: T.Optional(
            T.String({
              pattern: DURATION_PATTERN,
              description:
                "how long proof records are kept: a consent decision after a later one replaced it, an erasure or access receipt after it was issued (ISO 8601, e.g. P3Y)",
            }),
          ),
        },
        { additionalProperties: false },
      ),
    ),
    keys: T.Optional(
      T.Object(
        {
          lifetime: T.Optional(
            T.String({
              pattern: EXACT_DURATION_PATTERN,
              description:
                "how long a region key (sealing or receipts) is the current one before the scheduled rotation replaces it (ISO 8601, e.g. P90D; default P90D)",
            }),
          ),
          overlap: T.Optional(
            T.String({
              pattern: EXACT_DURATION_PATTERN,
              description:
                "how long envelopes sealed to the previous region key are still opened once the next has started (default P30D)",
            }),
          ),
          startsIn: T.Optional(
            T.String({
              pattern: EXACT_DURATION_PATTERN,
              description:
                "how long after a rotation the new region key starts, so that devices learn it first (default PT24H)",
            }),
          ),
          checkIntervalSeconds: T.Optional(
            T.Integer({
              minimum: 1,
              maximum: 86_400,
              description:
                "seconds between the scheduled key job's runs (ended keys recorded, rotations when due; default 3600)",
            }),
          ),
          reloadSeconds: T.Optional(
            T.Integer({
              minimum: 1,
              maximum: 300,
              description:
                "seconds between a replica's reloads of its region's key set from the store: the bound on how long a replica lags a rotation (default 10)",
            }),
          ),
        },
        { additionalProperties: false },
      ),
    ),
    jobs: T.Optional(
      T.Object(
        {
          leaseSeconds: T.Optional(
            T.Integer({
              minimum: 1,
              maximum: 600,
              description:
                "how long a replica's lease on a timed job (retention, incident sweep, audit anchors) lasts unless renewed: the longest a dead replica's jobs wait for another to take them (default 15)",
            }),
          ),
        },
        { additionalProperties: false },
      ),
    ),
    audit: T.Optional(
      T.Object(
        {
          anchorIntervalSeconds: T.Optional(
            T.Integer({
              minimum: 0,
              maximum: 86_400,
              description:
                "seconds between the control plane's anchoring of every region's audit head in its own chain (0: only on request)",
            }),
          ),
        },
        { additionalProperties: false },
      ),
    ),
    incidents: T.Optional(
      T.Object(
        {
          sweepIntervalSeconds: T.Optional(
            T.Integer({
              minimum: 0,
              maximum: 86_400,
              description:
                "seconds between the control plane's reads of every collector's misrouting alerts, each new alert opening an incident (0: only on request)",
            }),
          ),
        },
        { additionalProperties: false },
      ),
    ),
    auditor: T.Optional(
      T.Object(
        {
          approvedHosts: T.Optional(
            T.Array(
              T.String({
                pattern: "^(\\*\\.)?[A-Za-z0-9.:\\[\\]-]+$",
                maxLength: 300,
                description: "host, *.domain, host:port, address or address:port",
              }),
              {
                maxItems: 1000,
                description:
                  "third parties devices may send to, besides their region's collector (`phonehome audit`)",
              },
            ),
          ),
          allowedCountries: T.Optional(
            T.Record(RegionId, T.Array(Country, { maxItems: 250 }), {
              description:
                "per region, countries its devices may send to besides the one its data is stored in (`phonehome audit`)",
            }),
          ),
        },
        { additionalProperties: false },
      ),
    ),
    demo: T.Optional(
      T.Object(
        { devices: T.Optional(T.Integer({ minimum: 0, maximum: 100_000 })) },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);

/** The configuration file, as written. */
export type ConfigFile = Static<typeof ConfigFileSchema>;
