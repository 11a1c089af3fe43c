import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { Worker } from "node:worker_threads";
import { hpke, regionKeyId, toArrayBuffer } from "@phonehome/sdk";
import {
  loadPseudonymSecret,
  loadRegionKeys,
  loadServiceToken,
  type RegionKeyFile,
  type RegionKeys,
  readOrCreate,
} from "./index.ts";

const scratch = mkdtempSync(join(tmpdir(), "phonehome-keys-"));
after(() => rmSync(scratch, { recursive: true, force: true }));
let dirs = 0;

/** A fresh, empty data directory. */
function dataDir(): string {
  dirs += 1;
  return join(scratch, `data${dirs}`);
}

const modeOf = (path: string) => statSync(path).mode & 0o777;
const keyFile = (dir: string, region: string) => join(dir, "keys", `region-${region}.json`);
const readKeyFile = (path: string) => JSON.parse(readFileSync(path, "utf8")) as RegionKeyFile;
const writeKeyFile = (path: string, file: RegionKeyFile) => writeFileSync(path, JSON.stringify(file));

/** Seals a message to the region's public key as a device would, and opens it with the loaded private key. */
async function roundTrip(keys: RegionKeys, message: string): Promise<string> {
  const info = toArrayBuffer(Buffer.from("phonehome/v1 test"));
  const sender = await hpke.createSenderContext({
    recipientPublicKey: await hpke.kem.deserializePublicKey(
      toArrayBuffer(Buffer.from(keys.publicKey, "base64url")),
    ),
    info,
  });
  const sealed = await sender.seal(toArrayBuffer(Buffer.from(message)));
  const recipient = await hpke.createRecipientContext({
    recipientKey: keys.privateKey,
    enc: sender.enc,
    info,
  });
  return Buffer.from(await recipient.open(sealed)).toString();
}

/**
 * Runs `workers` threads that start together (a shared barrier) and each call
 * `job` of this module with `args`; resolves with each worker's answer.
 */
function inParallel<T>(workers: number, job: "readOrCreate" | "regionKeys", args: unknown): Promise<T[]> {
  const barrier = new SharedArrayBuffer(4);
  const code = `
    const { workerData, parentPort } = require("node:worker_threads");
    (async () => {
      const keys = await import(workerData.module);
      const { job, args, id, workers } = workerData;
      const arrived = new Int32Array(workerData.barrier);
      Atomics.add(arrived, 0, 1);
      while (Atomics.load(arrived, 0) < workers) {}
      if (job === "readOrCreate") {
        parentPort.postMessage(args.paths.map((p, i) => keys.readOrCreate(p, () => "worker " + id + " file " + i)));
      } else {
        const out = [];
        for (const dir of args.dirs) out.push((await keys.loadRegionKeys(dir, "global")).kid);
        parentPort.postMessage(out);
      }
    })();
  `;
  const module = new URL("./index.ts", import.meta.url).href;
  return Promise.all(
    Array.from(
      { length: workers },
      (_, id) =>
        new Promise<T>((resolve, reject) => {
          const worker = new Worker(code, {
            eval: true,
            workerData: { module, job, args, id, workers, barrier },
          });
          worker.once("message", (value: T) => resolve(value));
          worker.once("error", reject);
        }),
    ),
  );
}

describe("readOrCreate", () => {
  it("creates the file with mode 0600 in a 0700 folder, then reads it without calling make again", () => {
    const dir = join(dataDir(), "secrets");
    const path = join(dir, "thing");
    let made = 0;
    const make = () => {
      made += 1;
      return `value ${made}`;
    };
    assert.equal(readOrCreate(path, make), "value 1");
    assert.equal(modeOf(path), 0o600);
    assert.equal(modeOf(dir), 0o700);
    assert.equal(readOrCreate(path, make), "value 1");
    assert.equal(made, 1);
    // Nothing is left beside it.
    assert.deepEqual(readdirSync(dir), ["thing"]);
  });

  it("lets concurrent creators agree on one complete value", async () => {
    const root = dataDir();
    const paths = Array.from({ length: 400 }, (_, i) => join(root, `f${i}`));
    const answers = await inParallel<string[]>(4, "readOrCreate", { paths });
    paths.forEach((path, i) => {
      const onDisk = readFileSync(path, "utf8");
      assert.match(onDisk, /^worker \d file \d+$/);
      for (const answer of answers) assert.equal(answer[i], onDisk, `${path}: ${answers.map((a) => a[i])}`);
    });
    // No temporary file was left behind by the losers.
    assert.equal(readdirSync(root).length, paths.length);
  });
});

describe("loadRegionKeys", () => {
  it("creates the region key file at first call (mode 0600) and reuses it after", async () => {
    const dir = dataDir();
    const first = await loadRegionKeys(dir, "global");
    const path = keyFile(dir, "global");
    assert.equal(modeOf(path), 0o600);
    const file = readKeyFile(path);
    assert.equal(file.region, "global");
    assert.equal(file.kid, first.kid);
    assert.equal(file.publicKey, first.publicKey);
    assert.equal(first.kid, regionKeyId(first.publicKey));
    assert.match(first.kid, /^rk_[A-Za-z0-9_-]{27}$/);
    assert.equal(Buffer.from(first.publicKey, "base64url").length, 32);
    assert.ok(!Number.isNaN(Date.parse(file.createdAt)));

    const again = await loadRegionKeys(dir, "global");
    assert.equal(again.kid, first.kid);
    assert.equal(again.publicKey, first.publicKey);
    assert.equal(readFileSync(path, "utf8"), `${JSON.stringify(file, null, 2)}\n`);
    // The private key loaded the second time opens what was sealed to the public key.
    assert.equal(await roundTrip(again, "activation"), "activation");
  });

  it("gives each region and each data directory its own key", async () => {
    const dir = dataDir();
    const global = await loadRegionKeys(dir, "global");
    const cn = await loadRegionKeys(dir, "cn");
    const elsewhere = await loadRegionKeys(dataDir(), "global");
    assert.equal(new Set([global.kid, cn.kid, elsewhere.kid]).size, 3);
    assert.equal(readKeyFile(keyFile(dir, "cn")).region, "cn");
  });

  it("refuses a tampered key file", async () => {
    const dir = dataDir();
    await loadRegionKeys(dir, "global");
    await loadRegionKeys(dir, "cn");
    const path = keyFile(dir, "global");
    const original = readKeyFile(path);
    const other = readKeyFile(keyFile(dir, "cn"));
    const refused = /does not hold a key of region global/;

    const tampered: [string, RegionKeyFile][] = [
      ["another kid", { ...original, kid: other.kid }],
      ["another public key", { ...original, publicKey: other.publicKey }],
      // Consistent kid and public key, but a private key that cannot open their seals.
      ["another public key and its kid", { ...original, publicKey: other.publicKey, kid: other.kid }],
      ["another private key", { ...original, privateKey: other.privateKey }],
      ["a short private key", { ...original, privateKey: original.privateKey.slice(0, 20) }],
      ["another region's file", other],
    ];
    for (const [what, file] of tampered) {
      writeKeyFile(path, file);
      await assert.rejects(loadRegionKeys(dir, "global"), refused, what);
    }
    writeFileSync(path, "{ not json");
    await assert.rejects(loadRegionKeys(dir, "global"), SyntaxError);

    // The untouched file still loads.
    writeKeyFile(path, original);
    assert.equal((await loadRegionKeys(dir, "global")).kid, original.kid);
  });

  it("lets concurrent first starts agree on one key", async () => {
    const dirs = Array.from({ length: 12 }, () => dataDir());
    const answers = await inParallel<string[]>(4, "regionKeys", { dirs });
    dirs.forEach((dir, i) => {
      const { kid } = readKeyFile(keyFile(dir, "global"));
      for (const answer of answers) assert.equal(answer[i], kid);
    });
  });
});

describe("loadPseudonymSecret", () => {
  it("is 32 bytes, stable, and different per region and per data directory", () => {
    const dir = dataDir();
    const global = loadPseudonymSecret(dir, "global");
    assert.equal(global.length, 32);
    assert.deepEqual(loadPseudonymSecret(dir, "global"), global);
    assert.equal(modeOf(join(dir, "secrets", "pseudonym-global.key")), 0o600);
    const cn = loadPseudonymSecret(dir, "cn");
    assert.equal(cn.length, 32);
    assert.notDeepEqual(cn, global);
    assert.notDeepEqual(loadPseudonymSecret(dataDir(), "global"), global);
  });

  it("refuses a secret file that does not hold 32 bytes", () => {
    const dir = dataDir();
    mkdirSync(join(dir, "secrets"), { recursive: true });
    writeFileSync(join(dir, "secrets", "pseudonym-global.key"), "c2hvcnQ\n");
    assert.throws(
      () => loadPseudonymSecret(dir, "global"),
      /pseudonym secret of region global is not 32 bytes/,
    );
  });
});

describe("loadServiceToken", () => {
  it("is a stable 32-byte base64url token, different per data directory", () => {
    const dir = dataDir();
    const token = loadServiceToken(dir);
    assert.match(token, /^[A-Za-z0-9_-]{43}$/);
    assert.equal(loadServiceToken(dir), token);
    assert.equal(modeOf(join(dir, "secrets", "service-token")), 0o600);
    assert.notEqual(loadServiceToken(dataDir()), token);
  });

  it("ignores surrounding white space that an operator's editor adds", () => {
    const dir = dataDir();
    const token = loadServiceToken(dir);
    writeFileSync(join(dir, "secrets", "service-token"), `${token}\n`);
    assert.equal(loadServiceToken(dir), token);
  });
});
