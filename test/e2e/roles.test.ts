/**
 * Every operator route of the control plane against every role: a role that
 * holds the route's permission gets past authorisation (whatever the body
 * then says), any other gets 403 auth.forbidden, naming the permission; the
 * routes only phonehome's own services call refuse every session; nobody
 * gets in without a session or the service token. Every route that answers
 * without a token is in the data map's list of public routes, saying why,
 * and a collector's counts need the service token.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { type Role, ROLES } from "@phonehome/shared";
import { PUBLIC_ROUTES } from "../../src/control-plane/datamap/public-routes.ts";
import { PERMISSIONS, type Permission } from "../../src/control-plane/operators/permissions.ts";
import { BACKENDS } from "../helpers/stores.ts";
import {
  callControlPlane,
  OPERATOR_PASSWORD,
  signedInOperators,
  startTestSystem,
  type TestSystem,
} from "../helpers/system.ts";

/** Every guarded route of the control plane: method, path, and the permission it needs ("service": services only). */
const ROUTES: [string, string, Permission | "service"][] = [
  ["GET", "/v1/fleet/batches", "fleet.read"],
  ["GET", "/v1/fleet/devices", "fleet.read"],
  ["GET", "/v1/fleet/devices/ABCD1234", "fleet.read"],
  ["POST", "/v1/fleet/imports", "fleet.import"],
  ["POST", "/v1/fleet/directory/lookup", "service"],
  ["GET", "/v1/fleet/revocations", "service"],
  ["GET", "/v1/fleet/devices/ABCD1234/keys", "fleet.read"],
  ["POST", "/v1/fleet/devices/ABCD1234/revocation", "fleet.revoke"],
  ["POST", "/v1/fleet/devices/ABCD1234/keys", "fleet.rekey"],
  ["POST", "/v1/release-checks", "release.check"],
  ["PUT", "/v1/builds/00WW_1_1A_SP01", "release.write"],
  ["POST", "/v1/builds/00WW_1_1A_SP01/release", "release.write"],
  ["GET", "/v1/rollouts", "rollouts.read"],
  ["GET", "/v1/rollouts/1", "rollouts.read"],
  ["POST", "/v1/rollouts", "rollouts.write"],
  ["POST", "/v1/rollouts/1/pause", "rollouts.write"],
  ["POST", "/v1/builds/00WW_1_1A_SP01/withdraw", "rollouts.write"],
  ["GET", "/v1/updates/plan", "service"],
  ["POST", "/v1/updates/outcomes", "service"],
  ["POST", "/v1/advisories", "advisories.write"],
  ["GET", "/v1/adoption?advisory=PH-1&since=2026-01-01", "adoption.read"],
  ["POST", "/v1/incidents", "incidents.write"],
  ["GET", "/v1/incidents", "incidents.read"],
  ["POST", "/v1/incidents/sweep", "incidents.write"],
  ["GET", "/v1/incidents/INC-99", "incidents.read"],
  ["PATCH", "/v1/incidents/INC-99", "incidents.write"],
  ["POST", "/v1/incidents/INC-99/notices", "incidents.write"],
  ["POST", "/v1/incidents/INC-99/notices/INC-99-N1/send", "incidents.write"],
  ["GET", "/v1/incidents/INC-99/report", "incidents.read"],
  ["GET", "/v1/audit-log", "audit.read"],
  ["POST", "/v1/audit-log/anchors", "audit.anchor"],
  ["POST", "/v1/operators", "operators.write"],
  ["POST", "/v1/proposals", "dictionary.propose"],
  ["GET", "/v1/proposals", "dictionary.read"],
  ["GET", "/v1/proposals/PROP-99", "dictionary.read"],
  ["POST", "/v1/proposals/PROP-99/approval", "dictionary.review"],
  ["POST", "/v1/proposals/PROP-99/rejection", "dictionary.review"],
  ["GET", "/v1/reviewer-keys", "dictionary.read"],
  ["POST", "/v1/reviewer-keys", "dictionary.review"],
  ["POST", `/v1/reviewer-keys/${"A".repeat(43)}/revocation`, "reviewer-keys.revoke"],
  ["POST", "/v1/devices/ABCD1234/data-access", "device.data.open"],
  ["POST", "/v1/service-token/rotations", "service"],
  ["GET", "/v1/ledger?since=2026-11-01T00:00:00Z", "ledger.read"],
];

for (const backend of BACKENDS) {
  describe(`roles on the control plane's routes on ${backend.name}`, { skip: backend.skip }, () => {
    let t: TestSystem;
    const sessions = new Map<Role, string>();
    before(async () => {
      t = await startTestSystem(backend);
      const tokens = await signedInOperators(t, Object.fromEntries(ROLES.map((role) => [`u-${role}`, role])));
      for (const role of ROLES) sessions.set(role, tokens.get(`u-${role}`) ?? "");
    });
    after(async () => {
      await t?.close();
    });

    test("the table covers every route of the control plane that takes the service token", async () => {
      const doc = (await (await fetch(`${t.system.controlPlane.url}/openapi.json`)).json()) as {
        paths: Record<string, Record<string, { security?: Record<string, unknown>[] }>>;
      };
      for (const [template, operations] of Object.entries(doc.paths)) {
        const pattern = new RegExp(`^${template.replace(/\{[^}]+\}/g, "[^/]+")}$`);
        for (const [method, operation] of Object.entries(operations)) {
          if (!(operation.security ?? []).some((s) => "serviceToken" in s)) continue;
          const covered = ROUTES.some(
            ([m, path]) => m === method.toUpperCase() && pattern.test(path.split("?")[0] ?? ""),
          );
          assert.ok(covered, `${method.toUpperCase()} ${template} is in the table`);
        }
      }
    });

    test("every route that answers without a token is in the data map's public routes, saying why", async () => {
      const collectorUrl = t.system.regions[0]?.url ?? "";
      const services = [
        { name: "control plane", url: t.system.controlPlane.url },
        { name: "collector", url: collectorUrl },
      ] as const;
      const listed = (service: string) =>
        PUBLIC_ROUTES.filter((r) => r.service === service || r.service === "every service");
      for (const service of services) {
        const doc = (await (await fetch(`${service.url}/openapi.json`)).json()) as {
          paths: Record<string, Record<string, { security?: unknown[] }>>;
        };
        const open = Object.entries(doc.paths).flatMap(([path, operations]) =>
          Object.entries(operations)
            .filter(([, operation]) => operation.security === undefined)
            .map(([method]) => `${method.toUpperCase()} ${path}`),
        );
        const documented = listed(service.name)
          .filter((r) => !r.path.endsWith("*") && !["/healthz", "/readyz", "/openapi.json"].includes(r.path))
          .map((r) => `${r.method} ${r.path}`);
        assert.deepEqual(open.sort(), documented.sort(), `${service.name}: open routes = listed routes`);
        for (const route of listed(service.name)) {
          assert.ok(route.why.length > 10, `${route.path} says why`);
          // Each answers without credentials: not 401, whatever else it says.
          const path = route.path.replace("*", "").replace(/\{[^}]+\}/g, "x");
          const answer = await fetch(`${service.url}${path}`, {
            method: route.method,
            ...(route.method === "POST"
              ? { headers: { "content-type": "application/json" }, body: "{}" }
              : {}),
          });
          if (route.path !== "/v1/sessions/current") {
            assert.notEqual(answer.status, 401, `${service.name} ${route.method} ${route.path}`);
          }
        }
      }
      const map = (await (await fetch(`${t.system.controlPlane.url}/v1/data-map`)).json()) as {
        publicRoutes: unknown;
      };
      assert.deepEqual(
        map.publicRoutes,
        JSON.parse(JSON.stringify(PUBLIC_ROUTES)),
        "the data map states them",
      );
    });

    test("a collector's ledger, alerts and every service's metrics need the service token", async () => {
      const collectorUrl = t.system.regions[0]?.url ?? "";
      const guarded = [
        `${collectorUrl}/v1/ledger`,
        `${collectorUrl}/v1/ledger/totals?since=2026-01-01T00:00:00Z`,
        `${collectorUrl}/v1/alerts/misrouting`,
        `${collectorUrl}/metrics`,
        `${t.system.controlPlane.url}/metrics`,
      ];
      const admin = sessions.get("admin") as string;
      for (const url of guarded) {
        for (const token of [undefined, admin]) {
          const answer = await fetch(
            url,
            token === undefined ? {} : { headers: { authorization: `Bearer ${token}` } },
          );
          assert.equal(
            answer.status,
            401,
            `${url} ${token === undefined ? "without a token" : "with a session"}`,
          );
        }
        const served = await fetch(url, {
          headers: { authorization: `Bearer ${t.system.controlPlane.serviceToken}` },
        });
        assert.equal(served.status, 200, url);
      }
    });

    test("the table of permissions names every permission a route uses", () => {
      const used = new Set(ROUTES.map(([, , p]) => p).filter((p) => p !== "service"));
      assert.deepEqual([...used].sort(), Object.keys(PERMISSIONS).sort());
    });

    for (const role of ROLES) {
      test(`${role}: exactly the routes its role may use`, async () => {
        const token = sessions.get(role) as string;
        for (const [method, path, permission] of ROUTES) {
          const body = method === "GET" ? undefined : {};
          const answer = await callControlPlane<{ error?: { code: string; message: string } }>(
            t,
            method,
            path,
            body,
            token,
          );
          const where = `${role} ${method} ${path}`;
          if (permission === "service") {
            assert.equal(answer.status, 401, where);
          } else if ((PERMISSIONS[permission] as readonly Role[]).includes(role)) {
            assert.ok(![401, 403].includes(answer.status), `${where} answered ${answer.status}`);
          } else {
            assert.equal(answer.status, 403, where);
            assert.equal(answer.body.error?.code, "auth.forbidden", where);
            assert.match(
              answer.body.error?.message ?? "",
              new RegExp(`\\(${permission.replace(".", "\\.")}:`),
            );
          }
        }
      });
    }

    test("the audit log names the operator whose session did it, or the service token", async () => {
      const body = (username: string) => ({
        username,
        name: username,
        role: "support",
        password: OPERATOR_PASSWORD,
      });
      const admin = sessions.get("admin") as string;
      assert.equal(
        (await callControlPlane(t, "POST", "/v1/operators", body("by-session"), admin)).status,
        200,
      );
      assert.equal((await callControlPlane(t, "POST", "/v1/operators", body("by-token"))).status, 200);
      const log = await callControlPlane<{ entries: { action: string; subject: string; actor: string }[] }>(
        t,
        "GET",
        "/v1/audit-log",
        undefined,
        sessions.get("auditor") as string,
      );
      const added = log.body.entries.filter((e) => e.action === "operator.added");
      assert.equal(added.find((e) => e.subject === "by-session")?.actor, "operator:u-admin");
      assert.equal(added.find((e) => e.subject === "by-token")?.actor, "service-token");
    });

    test("without a session or the service token nobody gets in; a signed-out session neither", async () => {
      for (const [method, path, permission] of ROUTES) {
        const answer = await callControlPlane<{ error?: { code: string } }>(
          t,
          method,
          path,
          method === "GET" ? undefined : {},
          null,
        );
        assert.equal(answer.status, 401, `${method} ${path}`);
        if (permission !== "service") assert.equal(answer.body.error?.code, "auth.required");
      }
      const token = sessions.get("admin") as string;
      assert.equal(
        (await callControlPlane(t, "DELETE", "/v1/sessions/current", undefined, token)).status,
        204,
      );
      const after = await callControlPlane<{ error?: { code: string } }>(
        t,
        "GET",
        "/v1/incidents",
        undefined,
        token,
      );
      assert.deepEqual([after.status, after.body.error?.code], [401, "auth.required"]);
    });
  });
}
