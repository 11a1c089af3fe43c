/**
 * Every route of a whole system, on PGlite and PostgreSQL, against input no
 * device or operator should send:
 *
 * - text the store cannot hold (U+0000, unpaired surrogates) in every route's
 *   path parameters, query and body is refused with a structured 400 and a
 *   path, before anything is stored;
 * - dates at the calendar's edges (a leap second, 30 February, hour 25) are
 *   refused by name wherever the system takes a date, and an edge date it
 *   takes is stored exactly;
 * - a property-based fuzzer (fast-check) reads both OpenAPI documents and
 *   sends every route generated requests — schema-shaped with hostile values,
 *   random query strings and path parameters, with and without each kind of
 *   credential, under wrong content types — and sealed envelopes signed by a
 *   provisioned device whose payloads are generated, so that the fuzz reaches
 *   payload validation and storage. Any 5xx other than a deliberate 503, or a
 *   service that stops answering, fails the suite with the shrunk request.
 *
 * The seed is printed (PHONEHOME_FUZZ_SEED replays it); PHONEHOME_FUZZ_RUNS
 * sets the runs per route (the soak runs it bigger).
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { type DeviceIdentity, mintOwnerToken, PhoneHomeClient } from "@phonehome/sdk";
import fc from "fast-check";
import { findDiagnosticsEvents } from "../../src/collector/diagnostics/index.ts";
import { deviceRef } from "../../src/collector/device-data/index.ts";
import { activationPayload, buildEnvelope, diagnosticsBatch } from "../helpers/envelopes.ts";
import { type Credentials, type FuzzRequest, HOSTILE_STRINGS, requestOf, valueOf } from "../helpers/fuzz.ts";
import { type Operation, operationsOf, takesEnvelope } from "../helpers/routes.ts";
import { BACKENDS } from "../helpers/stores.ts";
import { callControlPlane, signedInOperators, startTestSystem, type TestSystem } from "../helpers/system.ts";

/** Generated requests per route, and sealed envelopes per collection; the soak raises it. */
const RUNS = Number(process.env.PHONEHOME_FUZZ_RUNS ?? 15);
const SEED = Number(process.env.PHONEHOME_FUZZ_SEED ?? Date.now() % 2 ** 31);
assert.ok(Number.isInteger(RUNS) && RUNS > 0, "PHONEHOME_FUZZ_RUNS must be a whole number");
console.log(`fuzz: seed ${SEED} (PHONEHOME_FUZZ_SEED), ${RUNS} runs per route (PHONEHOME_FUZZ_RUNS)`);

/** How long one request may take before the fuzz calls the service hung. */
const REQUEST_TIMEOUT_MS = 20_000;

/** Percent-encodes every byte of `text`'s UTF-8 but unreserved characters (a lone surrogate as U+FFFD). */
function encodePart(text: string): string {
  let out = "";
  for (const byte of Buffer.from(text, "utf8")) {
    const c = String.fromCharCode(byte);
    out += /[A-Za-z0-9\-._~]/.test(c) ? c : `%${byte.toString(16).padStart(2, "0").toUpperCase()}`;
  }
  return out;
}

/** The URL of a request, with its path parameters and query encoded byte by byte. */
function urlOfRequest(op: Operation, params: Record<string, string>, query: [string, string][]): string {
  const path = op.path.replace(/\{([^}]+)\}/g, (_, name: string) => encodePart(params[name] ?? ""));
  const search = query.map(([k, v]) => `${encodePart(k)}=${encodePart(v)}`).join("&");
  return `${op.base}${path}${search ? `?${search}` : ""}`;
}

/** A short line naming a request, for failure messages. */
function describeRequest(r: FuzzRequest): string {
  const body =
    r.body.kind === "json"
      ? JSON.stringify(r.body.value)
      : r.body.kind === "raw"
        ? `${r.body.contentType ?? "(no type)"} ${JSON.stringify(r.body.text)}`
        : "(no body)";
  return `${r.op.service} ${r.op.method} ${urlOfRequest(r.op, r.params, r.query)} auth=${r.auth} body=${(body ?? "").slice(0, 400)}`;
}

interface Answer {
  status: number;
  code: string | undefined;
  text: string;
}

async function send(
  url: string,
  method: string,
  init: { token?: string; contentType?: string; body?: string },
): Promise<Answer> {
  const headers: Record<string, string> = {};
  if (init.token !== undefined) headers.authorization = `Bearer ${init.token}`;
  if (init.contentType !== undefined) headers["content-type"] = init.contentType;
  const attempt = () =>
    fetch(url, {
      method,
      headers,
      ...(init.body === undefined || method === "GET" || method === "HEAD" ? {} : { body: init.body }),
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
  let response: Response;
  try {
    response = await attempt();
  } catch (error) {
    // A server may close a kept-alive connection after answering a request whose body it did not
    // read (401 before the body, 413); a request sent on it at that moment is reset. Once more, on a
    // new connection; a service that is down fails again.
    const code = (error as { cause?: { code?: unknown } }).cause?.code;
    if (code !== "ECONNRESET" && code !== "UND_ERR_SOCKET") throw error;
    response = await attempt();
  }
  const text = await response.text();
  let code: string | undefined;
  try {
    code = (JSON.parse(text) as { error?: { code?: string } }).error?.code;
  } catch {
    code = undefined;
  }
  return { status: response.status, code, text };
}

/** A 5xx the system means: the store (or a service) cannot take work now, with Retry-After. */
function deliberate(answer: Answer): boolean {
  return answer.status === 503 && answer.code === "service.unavailable";
}

function assertNo5xx(answer: Answer, what: string): void {
  if (answer.status >= 500 && !deliberate(answer)) {
    throw new Error(`${what} answered ${answer.status}: ${answer.text.slice(0, 400)}`);
  }
}

for (const [index, backend] of BACKENDS.entries()) {
  describe(`every route on ${backend.name}`, { skip: backend.skip }, () => {
    let t: TestSystem;
    let ops: Operation[];
    let credentials: Credentials;
    let known: Record<string, string[]> = {};
    let devices: DeviceIdentity[];
    let queues: string;
    let cases = 0;
    const global = () => {
      const r = t.system.regions.find((x) => x.id === "global");
      if (!r) throw new Error("no global region");
      return r;
    };
    const tokenFor = async (r: FuzzRequest): Promise<string | undefined> => {
      switch (r.auth) {
        case "none":
          return undefined;
        case "service":
          return credentials.serviceToken;
        case "session":
          return credentials.sessions[r.session % credentials.sessions.length];
        case "owner":
          return credentials.ownerToken();
        case "garbage":
          return "eyJhbGciOiJub25lIn0.e30.";
      }
    };
    const perform = async (r: FuzzRequest): Promise<Answer> => {
      const url = urlOfRequest(r.op, r.params, r.query);
      const token = await tokenFor(r);
      if (r.body.kind === "json") {
        return send(url, r.op.method, {
          ...(token === undefined ? {} : { token }),
          contentType: "application/json",
          body: JSON.stringify(r.body.value) ?? "null",
        });
      }
      if (r.body.kind === "raw") {
        return send(url, r.op.method, {
          ...(token === undefined ? {} : { token }),
          ...(r.body.contentType === undefined ? {} : { contentType: r.body.contentType }),
          body: r.body.text,
        });
      }
      return send(url, r.op.method, token === undefined ? {} : { token });
    };

    before(async () => {
      t = await startTestSystem(backend);
      devices = await t.provision([{ market: "NO" }, { market: "SE" }, { market: "FI" }, { market: "CN" }]);
      const sessions = await signedInOperators(t, {
        "fuzz-admin": "admin",
        "fuzz-reviewer": "privacy-reviewer",
        "fuzz-support": "support",
        "fuzz-auditor": "auditor",
      });
      credentials = {
        serviceToken: t.system.controlPlane.serviceToken,
        sessions: [...sessions.values()],
        ownerToken: () => mintOwnerToken(devices[cases % devices.length] as DeviceIdentity),
      };
      const incident = await callControlPlane<{ id: string }>(t, "POST", "/v1/incidents", {
        title: "Fuzz",
        description: "An incident the fuzz's requests can find.",
        scope: { markets: ["NO"], builds: ["00WW_3_39B_SP03"] },
        dataCategories: ["user.device.serial_number"],
        destinations: [{ kind: "other", name: "nowhere", note: "a test" }],
      });
      assert.equal(incident.status, 200, JSON.stringify(incident.body));
      known = {
        serial: devices.map((d) => d.serial),
        number: ["00WW_3_39B_SP03", "00CN_3_39B_SP03"],
        build: ["00WW_3_39B_SP03", "00WW_3_22C_SP05"],
        id: [incident.body.id],
        region: ["global", "cn"],
        purpose: ["uep.diagnostics"],
        version: ["1"],
        lang: ["en", "nb"],
        action: ["advance", "pause", "resume"],
      };
      ops = [
        ...(await operationsOf("control plane", t.system.controlPlane.url)),
        ...(await operationsOf("collector global", global().url)),
      ];
      // The devices of the global region say yes to diagnostics, so that fuzzed batches reach storage.
      queues = await mkdtemp(join(tmpdir(), "phonehome-fuzz-"));
      for (const device of devices.filter((d) => d.home.region === "global")) {
        const client = new PhoneHomeClient({
          identity: device,
          queueDir: join(queues, device.keyId),
          retry: { baseMs: 10, maxMs: 50, maxAttempts: 2 },
        });
        await client.sendConsent({
          granted: true,
          noticeVersion: 1,
          language: "en",
          method: "device-settings",
        });
      }
    });
    after(async () => {
      console.log(`fuzz: ${cases} cases run on ${backend.name} (seed ${SEED})`);
      await t?.close();
      if (queues) await rm(queues, { recursive: true, force: true });
    });

    test("both OpenAPI documents list the routes the fuzz drives", () => {
      assert.ok(ops.length > 60, `${ops.length} operations`);
      assert.ok(ops.some((o) => o.path === "/v1/diagnostics" && takesEnvelope(o)));
      assert.ok(ops.some((o) => o.path === "/v1/fleet/imports"));
    });

    test("text the store cannot hold is refused on every route, in path parameters, query and body, with its path", async () => {
      const expectRefusal = (answer: Answer, where: string, what: string, codes: string[]) => {
        assert.equal(answer.status, 400, `${what}: ${answer.text.slice(0, 300)}`);
        const error = (JSON.parse(answer.text) as { error: { code: string; path?: string } }).error;
        assert.ok(codes.includes(error.code), `${what}: ${error.code}`);
        assert.ok(error.path?.startsWith(where), `${what}: path ${error.path}`);
      };
      for (const op of ops) {
        const token = op.security.includes("ownerToken")
          ? await credentials.ownerToken()
          : credentials.serviceToken;
        const fine = Object.fromEntries(op.pathParams.map((p) => [p.name, "1"]));
        const what = `${op.service} ${op.method} ${op.path}`;
        for (const bad of ["a\u0000b", "\u0000"]) {
          for (const p of op.pathParams) {
            const answer = await send(urlOfRequest(op, { ...fine, [p.name]: bad }, []), op.method, { token });
            expectRefusal(answer, `/params/${p.name}`, `${what} param ${p.name}`, ["request.invalid"]);
          }
          const name = op.query[0]?.name ?? "q";
          const answer = await send(urlOfRequest(op, fine, [[name, bad]]), op.method, { token });
          expectRefusal(answer, `/querystring/${name}`, `${what} query ${name}`, ["request.invalid"]);
        }
        if (op.body === undefined) continue;
        // The envelope routes answer with their own code, and count the refusal in the ledger.
        const codes = takesEnvelope(op) ? ["envelope.invalid"] : ["request.invalid"];
        for (const body of [
          '{"name":"a\\u0000b"}',
          '{"name":"\\ud800"}',
          '{"a\\u0000":1}',
          '{"x":[{"y":"\\udc00z"}]}',
        ]) {
          const answer = await send(urlOfRequest(op, fine, []), op.method, {
            token,
            contentType: "application/json",
            body,
          });
          expectRefusal(answer, "/", `${what} body ${body}`, codes);
          if (!takesEnvelope(op)) assert.match(answer.text, /"path":"\/body\//, `${what} body ${body}`);
        }
      }
    });

    test("text the store cannot hold inside a sealed payload is payload.invalid with its path, and nothing is stored", async () => {
      const [device] = devices as [DeviceIdentity];
      const seal = async (collection: string, payload: unknown) =>
        JSON.stringify(await buildEnvelope(device, { header: { collection }, payload }));
      const event = { ...diagnosticsBatch(device, 1).events[0], id: randomUUID() };
      const cases: [string, string, unknown, string][] = [
        [
          "/v1/activations",
          "activation",
          { ...activationPayload(device), build: "00WW\u0000" },
          "/payload/build",
        ],
        [
          "/v1/activations",
          "activation",
          { ...activationPayload(device), "serial\u0000": "x" },
          "/payload/serial\u0000",
        ],
        [
          "/v1/diagnostics",
          "uep.diagnostics",
          { events: [{ ...event, data: { ...event.data, build: "\ud800" } }] },
          "/payload/events/0/data/build",
        ],
        ["/v1/updates/check", "update.check", { build: "00WW_3_39B\u0000" }, "/payload/build"],
      ];
      for (const [path, collection, payload, at] of cases) {
        const answer = await send(`${global().url}${path}`, "POST", {
          contentType: "application/json",
          body: await seal(collection, payload),
        });
        assert.equal(answer.status, 400, answer.text);
        const error = (JSON.parse(answer.text) as { error: { code: string; path?: string } }).error;
        assert.deepEqual([error.code, error.path], ["payload.invalid", at], answer.text);
      }
      const rows = await findDiagnosticsEvents(
        global().db,
        deviceRef(global().intake.pseudonymSecret, device.keyId),
      );
      assert.ok(!rows.some((r) => r.eventId === event.id));
    });

    test("NUL in a path parameter of the public build look-up is a 400, not a 500", async () => {
      const answer = await send(`${t.system.controlPlane.url}/v1/lookup/%00`, "GET", {});
      assert.deepEqual([answer.status, answer.code], [400, "request.invalid"]);
    });

    test("dates at the calendar's edges are refused by name, and an edge date taken is stored exactly", async () => {
      const [device] = devices as [DeviceIdentity];
      const url = (path: string) => `${global().url}${path}`;
      const envelope = async (collection: string, payload: unknown, header: Record<string, unknown> = {}) =>
        JSON.stringify(await buildEnvelope(device, { header: { collection, ...header }, payload }));
      const post = async (path: string, body: string) =>
        send(url(path), "POST", { contentType: "application/json", body });
      const event = (at: string) => ({ ...diagnosticsBatch(device, 1).events[0], id: randomUUID(), at });
      const refusals: [Answer, string, string][] = [
        [
          await post(
            "/v1/diagnostics",
            await envelope("uep.diagnostics", { events: [event("2016-12-31T23:59:60Z")] }),
          ),
          "payload.invalid",
          "/payload/events/0/at",
        ],
        [
          await post(
            "/v1/diagnostics",
            await envelope("uep.diagnostics", { events: [event("2026-02-30T10:00:00Z")] }),
          ),
          "payload.invalid",
          "/payload/events/0/at",
        ],
        [
          await post(
            "/v1/activations",
            await envelope("activation", activationPayload(device), { sentAt: "2026-02-30T25:61:61Z" }),
          ),
          "envelope.invalid",
          "/sentAt",
        ],
        [
          await post(
            "/v1/activations",
            await envelope("activation", activationPayload(device), { sentAt: "2016-12-31T23:59:60Z" }),
          ),
          "envelope.invalid",
          "/sentAt",
        ],
        [
          await post(
            "/v1/activations",
            await envelope("activation", {
              ...activationPayload(device),
              activatedAt: "2016-12-31T23:59:60Z",
            }),
          ),
          "payload.invalid",
          "/payload/activatedAt",
        ],
        [
          await post(
            "/v1/activations",
            await envelope("activation", {
              ...activationPayload(device),
              activatedAt: "2026-02-30T00:00:00Z",
            }),
          ),
          "payload.invalid",
          "/payload/activatedAt",
        ],
        [
          await send(url("/v1/adoption?since=0000-01-01"), "GET", { token: credentials.serviceToken }),
          "request.invalid",
          "/querystring/since",
        ],
        [
          await send(url("/v1/adoption?since=2026-02-30"), "GET", { token: credentials.serviceToken }),
          "request.invalid",
          "/querystring/since",
        ],
        [
          await send(url("/v1/ledger?since=2026-02-30T00:00:00Z"), "GET", {
            token: credentials.serviceToken,
          }),
          "request.invalid",
          "/querystring/since",
        ],
        [
          await send(`${t.system.controlPlane.url}/v1/ledger?since=2016-12-31T23:59:60Z`, "GET", {
            token: credentials.serviceToken,
          }),
          "request.invalid",
          "/querystring/since",
        ],
        [
          await send(url("/v1/purges/surgical"), "POST", {
            token: credentials.serviceToken,
            contentType: "application/json",
            body: JSON.stringify({
              collection: "uep.diagnostics",
              from: "2026-02-30T00:00:00Z",
              to: "2026-03-01T00:00:00Z",
              reason: "a test of dates",
            }),
          }),
          "request.invalid",
          "/body/from",
        ],
      ];
      for (const [answer, code, path] of refusals) {
        assert.equal(answer.status, 400, answer.text);
        const error = (JSON.parse(answer.text) as { error: { code: string; path?: string } }).error;
        assert.deepEqual([error.code, error.path], [code, path], answer.text);
      }
      const exact = event("2024-02-29T23:59:59.999Z");
      exact.at = new Date(Date.now() - 86_400_000).toISOString().replace(/\.\d{3}Z$/, ".999Z");
      const stored = await post("/v1/diagnostics", await envelope("uep.diagnostics", { events: [exact] }));
      assert.equal(stored.status, 200, stored.text);
      const rows = await findDiagnosticsEvents(
        global().db,
        deviceRef(global().intake.pseudonymSecret, device.keyId),
      );
      const row = rows.find((r) => r.eventId === exact.id);
      assert.equal(new Date(row?.occurredAt ?? 0).toISOString(), exact.at);
    });

    test("the fuzz: generated requests to every route answer no 5xx other than a deliberate 503", async () => {
      for (const [i, op] of ops.entries()) {
        const arbitrary = requestOf(op, known).map((r) =>
          Object.assign(r, { [fc.toStringMethod]: () => describeRequest(r) }),
        );
        await fc.assert(
          fc.asyncProperty(arbitrary, async (r) => {
            cases += 1;
            assertNo5xx(await perform(r), describeRequest(r));
          }),
          { numRuns: RUNS, seed: SEED + index * 1000 + i, endOnFailure: false },
        );
      }
      for (const base of [t.system.controlPlane.url, ...t.system.regions.map((r) => r.url)]) {
        const health = await send(`${base}/healthz`, "GET", {});
        assert.equal(health.status, 200, `${base} stopped answering`);
      }
    });

    test("the fuzz: sealed envelopes signed by a provisioned device, with generated payloads, answer no 5xx", async () => {
      const dictionary = global().intake.dictionary;
      const schemaOf = (name: string) =>
        dictionary.get(name, 1)?.payloadSchema as Parameters<typeof valueOf>[0];
      const home = devices.filter((d) => d.home.region === "global");
      const instants = fc.oneof(
        fc
          .date({ min: new Date(Date.now() - 20 * 86_400_000), max: new Date(), noInvalidDate: true })
          .map((d) => d.toISOString()),
        fc.constantFrom(...HOSTILE_STRINGS.filter((s) => /^\d{4}-/.test(s))),
      );
      /** A record of the collection as the device would send it, with one field (or an extra) made hostile. */
      const record = (name: string, fine: Record<string, unknown>) => {
        const properties = schemaOf(name)?.properties ?? {};
        const oneHostile = fc.oneof(
          ...[...Object.keys(fine), "extra"].map((key) =>
            valueOf(properties[key]).map((v) => ({ ...fine, [key]: v })),
          ),
        );
        return fc.oneof(
          { weight: 4, arbitrary: oneHostile },
          { weight: 2, arbitrary: fc.constant(fine) },
          { weight: 1, arbitrary: valueOf(schemaOf(name)) },
        );
      };
      // Built once per device: arbitraries cost far more to build than to draw from.
      const perDevice = home.map((device) => {
        const fineData = diagnosticsBatch(device, 1).events[0]?.data ?? {};
        // A batch is refused whole if one event is bad: most events are fine, so that batches get stored.
        const event = fc.oneof(
          {
            weight: 3,
            arbitrary: fc.record({
              id: fc.uuid({ version: 4 }),
              at: fc
                .date({ min: new Date(Date.now() - 86_400_000), max: new Date(), noInvalidDate: true })
                .map((d) => d.toISOString()),
              data: fc.constant(fineData),
            }),
          },
          {
            weight: 2,
            arbitrary: fc.record({
              id: fc.oneof(fc.uuid({ version: 4 }), fc.constantFrom(...HOSTILE_STRINGS)),
              at: instants,
              data: record("uep.diagnostics", fineData),
            }),
          },
        );
        const diagnostics = fc.record({ events: fc.array(event, { minLength: 1, maxLength: 4 }) });
        return fc.record({
          device: fc.constant(device),
          case: fc.oneof(
            record("activation", activationPayload(device)).map((p) => ({
              collection: "activation",
              path: "/v1/activations",
              payload: p,
            })),
            fc
              .oneof(diagnostics, valueOf(undefined))
              .map((p) => ({ collection: "uep.diagnostics", path: "/v1/diagnostics", payload: p })),
            record("update.check", { build: device.build }).map((p) => ({
              collection: "update.check",
              path: "/v1/updates/check",
              payload: p,
            })),
            record("update.report", { build: device.build, outcome: "installed" }).map((p) => ({
              collection: "update.report",
              path: "/v1/updates/report",
              payload: p,
            })),
          ),
          sentAt: fc.oneof(
            { weight: 5, arbitrary: fc.constant(undefined) },
            { weight: 1, arbitrary: instants },
          ),
        });
      });
      const cases$ = fc.oneof(...perDevice);
      const stored = new Set<string>();
      await fc.assert(
        fc.asyncProperty(cases$, async ({ device, case: c, sentAt }) => {
          cases += 1;
          const envelope = await buildEnvelope(device, {
            header: { collection: c.collection, ...(sentAt === undefined ? {} : { sentAt }) },
            payload: c.payload,
          });
          const what = `${c.path} from ${device.serial}: ${JSON.stringify(c.payload).slice(0, 400)} sentAt=${sentAt}`;
          const answer = await send(`${global().url}${c.path}`, "POST", {
            contentType: "application/json",
            body: JSON.stringify(envelope),
          });
          assertNo5xx(answer, what);
          if (answer.status < 300) stored.add(c.path);
        }),
        { numRuns: RUNS * 20, seed: SEED + index * 1000 + 999, endOnFailure: false },
      );
      // The fuzz reached past validation, into storage, on every envelope route.
      assert.deepEqual([...stored].sort(), [
        "/v1/activations",
        "/v1/diagnostics",
        "/v1/updates/check",
        "/v1/updates/report",
      ]);
    });
  });
}
