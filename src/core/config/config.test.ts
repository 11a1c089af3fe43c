import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { stringify } from "yaml";
import { isPhoneHomeError, type Problem } from "../errors/index.ts";
import { buildConfig, isLoopback, loadConfig, PACKAGE_ROOT, regionOfMarket } from "./index.ts";

const BIN = new URL("../../../bin/phonehome.ts", import.meta.url).pathname;
const scratch = mkdtempSync(join(tmpdir(), "phonehome-config-"));
after(() => rmSync(scratch, { recursive: true, force: true }));

/** Runs `fn`, which must fail with `config.invalid`; returns the problems it lists. */
function problemsOf(fn: () => unknown): Problem[] {
  try {
    fn();
  } catch (error) {
    assert.ok(isPhoneHomeError(error, "config.invalid"), `unexpected error: ${String(error)}`);
    assert.ok(error.problems && error.problems.length > 0, "config.invalid without problems");
    return error.problems;
  }
  assert.fail("the configuration was expected to be refused");
}

/** Writes a file under the scratch folder and returns its path. */
function write(relative: string, text: string): string {
  const path = join(scratch, relative);
  mkdirSync(join(path, ".."), { recursive: true });
  writeFileSync(path, text);
  return path;
}

/** A document with every cross-check problem at once; the schema itself is satisfied. */
const EVERY_CROSS_CHECK_PROBLEM = {
  controlPlane: { listen: "127.0.0.1:9400" },
  regions: [
    { id: "global", storedIn: "SG", listen: "127.0.0.1:9400" },
    { id: "global", storedIn: "SG", listen: "127.0.0.1:9401" },
    { id: "eu", storedIn: "DE", listen: "0.0.0.0:9402" },
    {
      id: "us",
      storedIn: "US",
      listen: "0.0.0.0:9403",
      tls: { cert: "nowhere/cert.pem", key: "nowhere/key.pem" },
    },
  ],
  policy: { markets: { CN: "cn", NO: "global" }, default: "mars" },
  auditor: { allowedCountries: { global: ["NO"], venus: ["SE"] } },
};

/** The problems that document must produce: path and a pattern of the message. */
const EXPECTED_CROSS_CHECK_PROBLEMS: [string, RegExp][] = [
  ["/regions/1/id", /^region global is declared twice$/],
  ["/regions/2/listen", /^listening on 0\.0\.0\.0 without TLS: .*loopback.*; set regions\/2\/tls$/],
  ["/regions/3/tls/cert", /^file .*nowhere\/cert\.pem does not exist$/],
  ["/regions/3/tls/key", /^file .*nowhere\/key\.pem does not exist$/],
  ["/regions/0/listen", /^listens on 127\.0\.0\.1:9400, as \/controlPlane\/listen does$/],
  ["/policy/markets/CN", /^region cn is not declared$/],
  ["/policy/default", /^region mars is not declared$/],
  ["/auditor/allowedCountries/venus", /^region venus is not declared$/],
];

function assertEveryCrossCheckProblem(problems: readonly Problem[]): void {
  assert.deepEqual(
    problems.map((p) => p.path).sort(),
    EXPECTED_CROSS_CHECK_PROBLEMS.map(([path]) => path).sort(),
    JSON.stringify(problems, null, 2),
  );
  for (const [path, message] of EXPECTED_CROSS_CHECK_PROBLEMS) {
    const problem = problems.find((p) => p.path === path);
    assert.ok(problem);
    assert.match(problem.message, message);
  }
}

describe("built-in defaults", () => {
  const config = buildConfig({}, scratch);

  it("declares global (stored in Singapore) and cn (stored in China), CN going to cn and the rest to global", () => {
    assert.equal(config.file, null);
    assert.deepEqual(
      config.regions.map((r) => [r.id, r.storedIn]),
      [
        ["global", "SG"],
        ["cn", "CN"],
      ],
    );
    assert.deepEqual(config.policy, { markets: { CN: "cn" }, default: "global" });
    assert.equal(regionOfMarket(config, "CN"), "cn");
    assert.equal(regionOfMarket(config, "NO"), "global");
    assert.equal(regionOfMarket(config, "FI"), "global");
  });

  it("listens on loopback ports 8400 (control plane), 8401 and 8402 (regions), over plain HTTP", () => {
    assert.deepEqual(config.controlPlane.listen, { host: "127.0.0.1", port: 8400 });
    assert.deepEqual(
      config.regions.map((r) => r.listen),
      [
        { host: "127.0.0.1", port: 8401 },
        { host: "127.0.0.1", port: 8402 },
      ],
    );
    assert.equal(config.controlPlane.url, "http://127.0.0.1:8400");
    assert.deepEqual(
      config.regions.map((r) => r.url),
      ["http://127.0.0.1:8401", "http://127.0.0.1:8402"],
    );
    assert.equal(config.controlPlane.tls, undefined);
  });

  it("keeps every store as PGlite under the data directory, resolved against the base folder", () => {
    assert.equal(config.dataDir, join(scratch, ".phonehome"));
    assert.deepEqual(config.controlPlane.store, {
      kind: "pglite",
      dataDir: join(scratch, ".phonehome", "control"),
    });
    assert.deepEqual(
      config.regions.map((r) => r.store),
      [
        { kind: "pglite", dataDir: join(scratch, ".phonehome", "global") },
        { kind: "pglite", dataDir: join(scratch, ".phonehome", "cn") },
      ],
    );
    assert.equal(config.dictionaryDir, join(PACKAGE_ROOT, "dictionary"));
    assert.equal(config.logLevel, "info");
    assert.deepEqual(config.ingest, {
      maxBodyBytes: 65_536,
      batchSize: 256,
      batchDelayMs: 2,
      // Unset: the region picks by store kind (1 on PGlite, 2 on PostgreSQL).
      commitsInFlight: undefined,
      maxClockSkewSeconds: 300,
    });
    assert.deepEqual(config.demo, { devices: 50 });
  });

  it("is frozen all the way down: assigning throws (modules run in strict mode)", () => {
    const first = config.regions[0];
    assert.ok(first);
    assert.throws(() => {
      config.logLevel = "debug";
    }, TypeError);
    assert.throws(() => {
      first.id = "elsewhere";
    }, TypeError);
    assert.throws(() => {
      first.listen.port = 1;
    }, TypeError);
    assert.throws(() => {
      config.regions.push(first);
    }, TypeError);
    assert.throws(() => {
      (config.policy.markets as Record<string, string>).NO = "cn";
    }, TypeError);
    assert.throws(() => {
      config.ingest.batchSize = 1;
    }, TypeError);
    assert.equal(config.logLevel, "info");
    assert.equal(regionOfMarket(config, "NO"), "global");
  });

  it("rotates region keys every 90 days with a 30-day overlap by default, and reads exact ISO 8601 durations", () => {
    const day = 86_400_000;
    assert.deepEqual(buildConfig({}, scratch).keys, {
      lifetimeMs: 90 * day,
      overlapMs: 30 * day,
      startsInMs: day,
      checkIntervalSeconds: 3600,
      reloadSeconds: 10,
    });
    const set = buildConfig({ keys: { lifetime: "P1W", overlap: "PT36H", startsIn: "PT0S" } }, scratch).keys;
    assert.deepEqual([set.lifetimeMs, set.overlapMs, set.startsInMs], [7 * day, 1.5 * day, 0]);
    const problems = problemsOf(() => buildConfig({ keys: { lifetime: "PT0S", overlap: "P1Y" } }, scratch));
    assert.deepEqual(
      problems.map((p) => p.path),
      ["/keys/overlap"],
      "a year is no exact duration (the schema refuses it first)",
    );
    assert.deepEqual(
      problemsOf(() => buildConfig({ keys: { lifetime: "PT0S" } }, scratch)),
      [{ path: "/keys/lifetime", message: "must be longer than zero" }],
    );
  });

  it("gives each region its own default port when only regions are declared", () => {
    const three = buildConfig(
      {
        regions: [
          { id: "global", storedIn: "SG" },
          { id: "cn", storedIn: "CN" },
          { id: "eu", storedIn: "DE" },
        ],
      },
      scratch,
    );
    assert.deepEqual(
      three.regions.map((r) => r.listen.port),
      [8401, 8402, 8403],
    );
    assert.deepEqual(three.policy, { markets: { CN: "cn" }, default: "global" });
  });
});

describe("cross-checks", () => {
  it("lists every problem at once, each with its path", () => {
    assertEveryCrossCheckProblem(problemsOf(() => buildConfig(EVERY_CROSS_CHECK_PROBLEM, scratch)));
  });

  it("names the number of problems and the file in the message", () => {
    assert.throws(
      () => buildConfig(EVERY_CROSS_CHECK_PROBLEM, scratch, "/etc/phonehome.yaml"),
      (error) =>
        isPhoneHomeError(error, "config.invalid") && error.message === "/etc/phonehome.yaml has 8 problems",
    );
  });

  it("accepts a non-loopback listen address when its TLS files exist (relative to the base folder)", () => {
    write("tls/cert.pem", "not checked here\n");
    write("tls/key.pem", "not checked here\n");
    const config = buildConfig(
      {
        controlPlane: { listen: "0.0.0.0:9500", tls: { cert: "tls/cert.pem", key: "tls/key.pem" } },
        regions: [{ id: "global", storedIn: "SG", listen: "127.0.0.1:9501" }],
      },
      scratch,
    );
    assert.deepEqual(config.controlPlane.tls, {
      cert: join(scratch, "tls/cert.pem"),
      key: join(scratch, "tls/key.pem"),
    });
    assert.equal(config.controlPlane.url, "https://0.0.0.0:9500");
    // Without a cn region the default policy sends every market to the only region.
    assert.deepEqual(config.policy, { markets: {}, default: "global" });
  });

  it("allows several services on port 0 (a free port each)", () => {
    const config = buildConfig(
      {
        controlPlane: { listen: "127.0.0.1:0" },
        regions: [
          { id: "global", storedIn: "SG", listen: "127.0.0.1:0" },
          { id: "cn", storedIn: "CN", listen: "127.0.0.1:0" },
        ],
      },
      scratch,
    );
    assert.deepEqual(
      config.regions.map((r) => r.listen.port),
      [0, 0],
    );
  });

  it("reports a port above 65535", () => {
    const problems = problemsOf(() =>
      buildConfig({ regions: [{ id: "global", storedIn: "SG", listen: "127.0.0.1:70000" }] }, scratch),
    );
    assert.deepEqual(problems, [{ path: "/regions/0/listen", message: "port 70000 is out of range" }]);
  });

  it("treats localhost, ::1 and 127.x.y.z as loopback and nothing else", () => {
    for (const host of ["localhost", "::1", "127.0.0.1", "127.10.0.3"]) assert.ok(isLoopback(host), host);
    for (const host of ["0.0.0.0", "::", "10.0.0.1", "128.0.0.1", "example.com", "127.0.0.1.example.com"])
      assert.equal(isLoopback(host), false, host);
  });
});

describe("schema problems", () => {
  it("names an unknown setting with its path, every one of them", () => {
    const problems = problemsOf(() =>
      buildConfig(
        {
          x: 1,
          regions: [{ id: "global", storedIn: "SG", colour: "blue" }],
          ingest: { batchSise: 10 },
        },
        scratch,
      ),
    );
    assert.deepEqual(
      [...problems].sort((a, b) => a.path.localeCompare(b.path)),
      [
        { path: "/", message: 'unknown setting "x"' },
        { path: "/ingest", message: 'unknown setting "batchSise"' },
        { path: "/regions/0", message: 'unknown setting "colour"' },
      ],
    );
  });

  it("reads the traffic auditor's hosts and countries, and refuses a host that is not one", () => {
    const config = buildConfig(
      {
        auditor: {
          approvedHosts: ["*.updates.example.com", "[::1]:8443"],
          allowedCountries: { global: ["NO"] },
        },
      },
      scratch,
    );
    assert.deepEqual(config.auditor, {
      approvedHosts: ["*.updates.example.com", "[::1]:8443"],
      allowedCountries: { global: ["NO"] },
    });
    assert.deepEqual(buildConfig({}, scratch).auditor, { approvedHosts: [], allowedCountries: {} });
    const problems = problemsOf(() => buildConfig({ auditor: { approvedHosts: ["http://x.cn/"] } }, scratch));
    assert.deepEqual(
      problems.map((p) => p.path),
      ["/auditor/approvedHosts/0"],
    );
  });

  it("times every service's clients out and throttles sign-in by default; refuses headers allowed longer than the request", () => {
    assert.deepEqual(buildConfig({}, scratch).http, {
      headersTimeoutMs: 10_000,
      requestTimeoutMs: 30_000,
      keepAliveTimeoutMs: 72_000,
      idleTimeoutMs: 300_000,
      trustProxy: [],
    });
    assert.deepEqual(buildConfig({}, scratch).signIn, {
      windowSeconds: 900,
      perAccountAndAddress: 5,
      perAddress: 20,
      perAccount: 50,
    });
    const set = buildConfig(
      { http: { headersTimeoutMs: 2000, requestTimeoutMs: 5000, trustProxy: ["10.0.0.0/8", "::1"] } },
      scratch,
    );
    assert.deepEqual(set.http, {
      headersTimeoutMs: 2000,
      requestTimeoutMs: 5000,
      keepAliveTimeoutMs: 72_000,
      idleTimeoutMs: 300_000,
      trustProxy: ["10.0.0.0/8", "::1"],
    });
    const problems = problemsOf(() =>
      buildConfig({ http: { requestTimeoutMs: 5000, trustProxy: ["10.0.0.0/40", "::1"] } }, scratch),
    );
    assert.deepEqual(
      problems.map((p) => [p.path, p.message]),
      [
        [
          "/http/headersTimeoutMs",
          "10000 ms is longer than http.requestTimeoutMs (5000 ms), which includes the headers",
        ],
        ["/http/trustProxy/0", "10.0.0.0/40 is not an IP address or CIDR range"],
      ],
    );
  });

  it("has no OpenID provider by default; fills a provider's defaults and refuses what cannot work", () => {
    assert.equal(buildConfig({}, scratch).controlPlane.oidc, undefined);
    const roles = [{ value: "phonehome-admins", role: "admin" }];
    const oidc = buildConfig(
      {
        controlPlane: {
          oidc: { name: "Corp SSO", issuer: "https://id.example.com", clientId: "phonehome", roles },
        },
      },
      scratch,
    ).controlPlane.oidc;
    assert.deepEqual(oidc, {
      name: "Corp SSO",
      issuer: "https://id.example.com",
      clientId: "phonehome",
      clientSecretFile: undefined,
      redirectUri: undefined,
      postLogoutRedirectUri: undefined,
      scopes: ["openid", "profile", "email"],
      roleClaim: "groups",
      roles,
      sessionMaxSeconds: 28_800,
      localSignIn: "admin",
    });
    const problems = problemsOf(() =>
      buildConfig(
        {
          controlPlane: {
            oidc: {
              name: "Corp SSO",
              issuer: "http://id.example.com",
              clientId: "phonehome",
              clientSecretFile: "no-such-secret",
              scopes: ["profile"],
              roles,
            },
          },
        },
        scratch,
      ),
    );
    assert.deepEqual(
      problems.map((p) => p.path),
      ["/controlPlane/oidc/scopes", "/controlPlane/oidc/issuer", "/controlPlane/oidc/clientSecretFile"],
    );
    const shape = problemsOf(() =>
      buildConfig(
        {
          controlPlane: {
            oidc: {
              name: "x",
              issuer: "https://id.example.com",
              clientId: "c",
              roles: [{ value: "g", role: "root" }],
            },
          },
        },
        scratch,
      ),
    );
    assert.ok(
      shape.some((p) => p.path.startsWith("/controlPlane/oidc/roles/0/role")),
      JSON.stringify(shape),
    );
  });

  it("refuses values of the wrong shape with their paths", () => {
    const problems = problemsOf(() =>
      buildConfig(
        { logLevel: "loud", regions: [{ id: "Global!", storedIn: "Singapore" }], ingest: { batchSize: 0 } },
        scratch,
      ),
    );
    const paths = new Set(problems.map((p) => p.path));
    for (const path of ["/logLevel", "/regions/0/id", "/regions/0/storedIn", "/ingest/batchSize"])
      assert.ok(paths.has(path), `${path} missing from ${JSON.stringify(problems)}`);
  });
});

describe("loadConfig(path)", () => {
  it("reads a YAML file and resolves relative paths against the file's folder, not the working directory", () => {
    write("site/tls/region.crt", "pem\n");
    write("site/tls/region.key", "pem\n");
    const file = write(
      "site/phonehome.yaml",
      stringify({
        dataDir: "state",
        logLevel: "warn",
        dictionary: "collections",
        controlPlane: { listen: "127.0.0.1:9600", store: { dataDir: "/var/lib/phonehome/control" } },
        regions: [
          {
            id: "global",
            storedIn: "SG",
            listen: "10.1.2.3:9601",
            url: "https://global.example.com",
            store: { dataDir: "stores/global" },
            tls: { cert: "tls/region.crt", key: "tls/region.key" },
          },
          {
            id: "cn",
            storedIn: "CN",
            listen: "127.0.0.1:9602",
            store: {
              url: "postgres://db.example.cn/phonehome",
              schema: "cn_region",
              poolSize: 4,
              statementTimeoutMs: 2000,
              idleInTransactionTimeoutMs: 20_000,
            },
          },
        ],
        policy: { markets: { CN: "cn", HK: "cn" } },
        ingest: { batchSize: 64 },
      }),
    );
    const site = join(scratch, "site");
    const config = loadConfig(file);
    assert.equal(config.file, file);
    assert.equal(config.dataDir, join(site, "state"));
    assert.equal(config.logLevel, "warn");
    assert.equal(config.dictionaryDir, join(site, "collections"));
    assert.deepEqual(config.controlPlane.store, { kind: "pglite", dataDir: "/var/lib/phonehome/control" });
    const [global, cn] = config.regions;
    assert.ok(global && cn);
    assert.deepEqual(global.store, { kind: "pglite", dataDir: join(site, "stores/global") });
    assert.deepEqual(global.tls, { cert: join(site, "tls/region.crt"), key: join(site, "tls/region.key") });
    assert.equal(global.url, "https://global.example.com");
    assert.deepEqual(cn.store, {
      kind: "postgres",
      url: "postgres://db.example.cn/phonehome",
      schema: "cn_region",
      poolSize: 4,
      timeouts: { statementMs: 2000, idleInTransactionMs: 20_000 },
    });
    assert.equal(cn.url, "http://127.0.0.1:9602");
    assert.equal(regionOfMarket(config, "HK"), "cn");
    assert.equal(regionOfMarket(config, "SE"), "global");
    assert.equal(config.ingest.batchSize, 64);
    assert.equal(config.ingest.batchDelayMs, 2);
  });

  it("reads an empty file as the defaults, with the file's folder as base", () => {
    const file = write("empty/phonehome.yaml", "# nothing set\n");
    const config = loadConfig(file);
    assert.equal(config.file, file);
    assert.equal(config.dataDir, join(scratch, "empty", ".phonehome"));
    assert.deepEqual(
      config.regions.map((r) => r.id),
      ["global", "cn"],
    );
  });

  it("lists every cross-check problem of a file", () => {
    const file = write("bad/phonehome.yaml", stringify(EVERY_CROSS_CHECK_PROBLEM));
    const problems = problemsOf(() => loadConfig(file));
    assertEveryCrossCheckProblem(problems);
    // TLS paths were resolved against the file's folder.
    assert.ok(problems.some((p) => p.message.includes(join(scratch, "bad", "nowhere", "cert.pem"))));
  });

  it("refuses a file that is not valid YAML, naming the file", () => {
    const file = write("broken.yaml", "regions: [\n  { id: global\n");
    const problems = problemsOf(() => loadConfig(file));
    assert.equal(problems.length, 1);
    assert.equal(problems[0]?.path, file);
    assert.throws(
      () => loadConfig(file),
      (error) => isPhoneHomeError(error) && error.message === `configuration file ${file} is not valid YAML`,
    );
  });

  it("refuses a file that does not exist", () => {
    const missing = join(scratch, "no-such.yaml");
    const problems = problemsOf(() => loadConfig(missing));
    assert.equal(problems[0]?.path, missing);
    assert.match(problems[0]?.message ?? "", /ENOENT/);
  });

  it("refuses a YAML document that is not a mapping", () => {
    const file = write("list.yaml", "- a\n- b\n");
    const problems = problemsOf(() => loadConfig(file));
    assert.deepEqual(
      problems.map((p) => p.path),
      ["/"],
    );
  });
});

describe("the CLI on a bad configuration", () => {
  /** Runs the real CLI in a child process (node 24, as the tests run), without any inherited config. */
  function phonehome(...args: string[]) {
    const env = { ...process.env };
    delete env.PHONEHOME_CONFIG;
    const result = spawnSync(process.execPath, [BIN, ...args], {
      cwd: scratch,
      env,
      encoding: "utf8",
      timeout: 60_000,
    });
    return { code: result.status, stdout: result.stdout, stderr: result.stderr };
  }

  it("exits 2 and prints every problem", () => {
    const file = write("cli/BAD.yaml", stringify(EVERY_CROSS_CHECK_PROBLEM));
    const run = phonehome("--config", file, "registry", "check");
    assert.equal(run.code, 2, run.stderr + run.stdout);
    assert.equal(run.stdout, "");
    const lines = run.stderr.trimEnd().split("\n");
    assert.equal(lines[0], `error [config.invalid]: ${file} has 8 problems`);
    const listed = lines.slice(1);
    assert.equal(listed.length, EXPECTED_CROSS_CHECK_PROBLEMS.length, run.stderr);
    for (const [path, message] of EXPECTED_CROSS_CHECK_PROBLEMS) {
      const line = listed.find((l) => l.startsWith(`  - ${path}: `));
      assert.ok(line, `${path} not printed:\n${run.stderr}`);
      assert.match(line.slice(`  - ${path}: `.length), message);
    }
  });

  it("exits 2 on an unknown setting and on bad YAML", () => {
    const unknown = write("cli/unknown.yaml", "regions:\n  - id: global\n    storedIn: SG\n    x: 1\n");
    const run = phonehome("--config", unknown, "registry", "check");
    assert.equal(run.code, 2, run.stderr);
    assert.match(run.stderr, /^ {2}- \/regions\/0: unknown setting "x"$/m);

    const broken = write("cli/broken.yaml", "policy: {\n");
    const again = phonehome("--config", broken, "registry", "check");
    assert.equal(again.code, 2, again.stderr);
    assert.match(again.stderr, /^error \[config\.invalid\]: .*broken\.yaml is not valid YAML$/m);
  });
});
