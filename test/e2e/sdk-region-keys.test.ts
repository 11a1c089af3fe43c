/**
 * Devices that trust the fleet root, against the real collector, on PGlite
 * and PostgreSQL: the region's seal key rotates (prepared by the collector,
 * signed by the fleet root, published) while devices have messages queued,
 * and every message is delivered and stored once — as sealed, while the
 * region opens the previous key; sealed again, once it has ended. A collector
 * whose descriptor another root signed (a second system, with its own
 * embedded root) is refused by the SDK before any POST reaches it.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { after, before, describe, test } from "node:test";
import {
  type ClientEvent,
  type DeviceIdentity,
  type DiagnosticsData,
  type Envelope,
  isSdkError,
  PhoneHomeClient,
  type RegionDescriptorStatement,
  signRegionDescriptor,
} from "@phonehome/sdk";
import { listLedger } from "../../src/collector/ingest/ledger.repository.ts";
import { embeddedRootPath, readRootKeyFile } from "../../src/core/keys/index.ts";
import { BACKENDS } from "../helpers/stores.ts";
import { startTestSystem, type TestSystem } from "../helpers/system.ts";

/** Figures of the n-th event; `crashCount` tells events apart. */
function figures(n: number): DiagnosticsData {
  return { batteryHealthPercent: 96, batteryCycles: 314, crashCount: n, anrCount: 0, thermalEvents: 0 };
}

// How long the region opens the previous key after the first rotation: long enough for a device to deliver
// what it queued, short enough to wait out in a test.
const OVERLAP_SECONDS = 8;

for (const backend of BACKENDS) {
  describe(`SDK devices across region key rotations on ${backend.name}`, { skip: backend.skip }, () => {
    let t: TestSystem;
    let queues: string;
    const region = () => t.region("global");
    const stored = (device: DeviceIdentity) => t.diagnosticsOf(device);

    before(async () => {
      t = await startTestSystem(backend);
      queues = await mkdtemp(join(tmpdir(), "phonehome-region-keys-"));
    });
    after(async () => {
      await t?.close();
      await rm(queues, { recursive: true, force: true });
    });

    /**
     * A client on the device's queue directory (a new one is a restart), whose POSTs fail while `online()`
     * says no, recording the key id of every envelope it POSTs and every event it reports.
     */
    const device = (identity: DeviceIdentity, online: () => boolean) => {
      const posted: string[] = [];
      const events: ClientEvent[] = [];
      const client = new PhoneHomeClient({
        identity,
        queueDir: join(queues, identity.keyId),
        retry: { baseMs: 10, maxMs: 50, maxAttempts: 2 },
        fetch: async (url, init) => {
          if (init.method === "POST" && !online()) throw new TypeError("fetch failed (cut)");
          if (init.method === "POST") posted.push((JSON.parse(String(init.body)) as Envelope).kid);
          return fetch(url, init);
        },
        onEvent: (e) => events.push(e),
      });
      return { client, posted, events };
    };

    /** Rotates the region's seal key as an operator does: prepare, sign with the fleet root offline, publish. */
    const rotate = async (startsIn: string, overlap: string): Promise<string> => {
      const base = region().url;
      const auth = { authorization: `Bearer ${t.system.controlPlane.serviceToken}` };
      const prepared = await fetch(`${base}/v1/keys/rotations`, {
        method: "POST",
        headers: { ...auth, "content-type": "application/json" },
        body: JSON.stringify({ startsIn, overlap }),
      });
      assert.equal(prepared.status, 200, await prepared.clone().text());
      const { kid, statement } = (await prepared.json()) as {
        kid: string;
        statement: RegionDescriptorStatement;
      };
      const root = readRootKeyFile(embeddedRootPath(t.dataDir));
      const published = await fetch(`${base}/v1/keys/descriptor`, {
        method: "POST",
        headers: { ...auth, "content-type": "application/json" },
        body: JSON.stringify({ descriptor: await signRegionDescriptor(statement, root) }),
      });
      assert.equal(published.status, 200, await published.clone().text());
      return kid;
    };

    test("messages queued across two rotations are all delivered and stored once; none is rejected", async () => {
      const [a, b] = await t.provision([{ market: "NO" }, { market: "NO" }]);
      assert.ok(a?.roots && b?.roots, "the factory gives devices the fleet roots");
      const k0 = t.descriptor("global").kid;
      assert.equal(a.home.kid, k0);
      let aOnline = true;
      let bOnline = false;

      // A activates and joins the programme; B is switched on without a network: its activation waits,
      // sealed to the factory key.
      const a1 = device(a, () => aOnline);
      await a1.client.activate();
      await a1.client.sendConsent({
        granted: true,
        noticeVersion: 1,
        language: "en",
        method: "device-settings",
      });
      await a1.client.setConsent("granted");
      const b1 = device(b, () => bOnline);
      await assert.rejects(b1.client.activate(), (e) => isSdkError(e, "sdk.offline"));

      // A loses the network with 3 events sealed into a batch to k0.
      aOnline = false;
      for (let i = 0; i < 3; i++) await a1.client.recordEvent(figures(i));
      await a1.client.flush();
      assert.equal((await a1.client.diagnosticsState()).queued.events, 3);

      // The first rotation: k1 now, k0 opened for a few more seconds.
      const k1 = await rotate("PT0S", `PT${OVERLAP_SECONDS}S`);
      const announced = (await (await fetch(`${region().url}/v1/region`)).json()) as { kid: string };
      assert.equal(announced.kid, k1);

      // A restarts with the network back: the k0 batch goes as it is, new events are sealed to k1.
      aOnline = true;
      const a2 = device(a, () => aOnline);
      for (let i = 3; i < 5; i++) await a2.client.recordEvent(figures(i));
      assert.equal((await a2.client.flush()).remaining, 0);
      assert.deepEqual(a2.posted, [k0, k1]);
      assert.equal((await stored(a)).length, 5);

      // A loses the network again with 2 events sealed to k1; the second rotation ends k1 within 2 s.
      aOnline = false;
      for (let i = 5; i < 7; i++) await a2.client.recordEvent(figures(i));
      await a2.client.flush();
      const k2 = await rotate("PT0S", "PT2S");
      // Past the end of k0 (the first overlap) and of k1.
      await sleep((OVERLAP_SECONDS + 1) * 1000);

      // A's region check is recent: it sends to k1, the region refuses the ended key, A checks again and
      // seals the same events to k2.
      aOnline = true;
      assert.equal((await a2.client.flush()).remaining, 0);
      assert.deepEqual(a2.posted.slice(2), [k1, k2]);
      assert.ok(a2.events.some((e) => e.type === "resealed"));
      // B comes online after k0 has ended: its activation is sealed again, same event id, and stored once.
      bOnline = true;
      const b2 = device(b, () => bOnline);
      const answer = await b2.client.activate();
      assert.deepEqual(b2.posted, [k2]);
      assert.ok(b2.events.some((e) => e.type === "resealed"));

      const events = await stored(a);
      assert.equal(events.length, 7);
      assert.deepEqual(
        events.map((e) => (e.data as { crashCount: number }).crashCount).sort((x, y) => x - y),
        [0, 1, 2, 3, 4, 5, 6],
      );
      const activations = (await t.activationsByRegion()).get("global") ?? [];
      const ofB = activations.filter((r) => r.eventId === answer.activation?.eventId);
      assert.equal(ofB.length, 1);
      assert.equal(activations.filter((r) => r.deviceKey === ofB[0]?.deviceKey).length, 1);
      for (const e of [...a1.events, ...a2.events, ...b1.events, ...b2.events]) {
        assert.notEqual(e.type, "rejected", JSON.stringify(e));
        assert.notEqual(e.type, "key_ended", JSON.stringify(e));
      }
      // No envelope sealed to an ended key was refused at the region but A's one try to k1.
      const refused = (await listLedger(region().db, new Date(Date.now() - 3_600_000), 100)).filter(
        (r) => r.outcome === "refused" && r.reason === "envelope.key_expired",
      );
      assert.equal(
        refused.reduce((n, r) => n + Number(r.count), 0),
        1,
      );
    });

    test("a collector whose descriptor another fleet's root signed is refused before any POST reaches it", async () => {
      const other = await startTestSystem(backend);
      // What reaches the other system's collector, counted in front of it.
      const seen: string[] = [];
      const target = other.system.regions.find((r) => r.id === "global")?.url ?? "";
      const proxy: Server = createServer((req, res) => {
        seen.push(`${req.method} ${req.url}`);
        const chunks: Buffer[] = [];
        req.on("data", (c: Buffer) => chunks.push(c));
        req.on("end", () => {
          const body = chunks.length > 0 ? Buffer.concat(chunks) : undefined;
          fetch(`${target}${req.url}`, {
            method: req.method,
            headers: { "content-type": "application/json" },
            body,
          })
            .then(async (r) => {
              res.writeHead(r.status, { "content-type": "application/json" });
              res.end(Buffer.from(await r.arrayBuffer()));
            })
            .catch(() => res.destroy());
        });
      });
      await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve));
      try {
        const url = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
        // A device of this fleet whose collector name now leads to the other system (a hijacked name).
        const [d] = await t.provision([{ market: "NO" }]);
        assert.ok(d);
        const hijacked: DeviceIdentity = { ...d, home: { ...other.descriptor("global"), url } };
        assert.notDeepEqual(other.roots, d.roots);
        const { client, events } = device(hijacked, () => true);
        await assert.rejects(client.activate(), (e) => isSdkError(e, "sdk.descriptor_invalid"));
        await assert.rejects(
          client.sendConsent({ granted: true, noticeVersion: 1, language: "en", method: "device-settings" }),
          (e) => isSdkError(e, "sdk.descriptor_invalid"),
        );
        await assert.rejects(client.checkForUpdate(), (e) => isSdkError(e, "sdk.descriptor_invalid"));
        assert.deepEqual(new Set(seen), new Set(["GET /v1/region"]));
        assert.equal((await client.activationState()).state, "pending");
        assert.ok(events.some((e) => e.type === "endpoint_refused"));
        // Nothing stored or counted there.
        assert.deepEqual((await other.activationsByRegion()).get("global") ?? [], []);
        const otherRegion = other.system.regions.find((r) => r.id === "global");
        assert.deepEqual(otherRegion ? await listLedger(otherRegion.db, new Date(0), 10) : [], []);
      } finally {
        await new Promise<void>((resolve) => proxy.close(() => resolve()));
        await other.close();
      }
    });
  });
}
