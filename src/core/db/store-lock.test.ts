import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { isPhoneHomeError } from "../errors/index.ts";
import { openDb } from "./index.ts";
import { LOCK_FILE, lockStore } from "./store-lock.ts";

const scratch = mkdtempSync(join(tmpdir(), "phonehome-lock-"));
after(() => rmSync(scratch, { recursive: true, force: true }));
let dirs = 0;
const storeDir = () => join(scratch, `store${(dirs += 1)}`);

/** A process that lives until killed; resolves with it once it runs. */
function sleeper(): Promise<{ pid: number; stop: () => Promise<void> }> {
  const child = spawn(process.execPath, ["-e", "setInterval(() => {}, 1000)"], { stdio: "ignore" });
  return new Promise((resolve, reject) => {
    child.once("error", reject);
    child.once("spawn", () =>
      resolve({
        pid: child.pid ?? -1,
        stop: () =>
          new Promise((done) => {
            child.once("exit", () => done());
            child.kill("SIGKILL");
          }),
      }),
    );
  });
}

describe("the embedded store's lock", () => {
  it("is held in a file inside the data directory and released", () => {
    const dataDir = storeDir();
    const lock = lockStore({ kind: "pglite", dataDir }, "a test");
    const file = join(dataDir, LOCK_FILE);
    const record = JSON.parse(readFileSync(file, "utf8")) as { pid: number; holder: string };
    assert.deepEqual([record.pid, record.holder], [process.pid, "a test"]);
    lock.release();
    assert.equal(existsSync(file), false);
    lock.release(); // idempotent
  });

  it("refuses while another live process holds it, naming that process; takes it over once it is gone", async () => {
    const dataDir = storeDir();
    const other = await sleeper();
    mkdirSync(dataDir, { recursive: true });
    writeFileSync(
      join(dataDir, LOCK_FILE),
      JSON.stringify({ pid: other.pid, holder: "collector of region global", since: "2031-01-01T00:00:00Z" }),
    );
    assert.throws(
      () => lockStore({ kind: "pglite", dataDir }, "phonehome purge"),
      (e) =>
        isPhoneHomeError(e, "store.locked") &&
        e.message.includes(`process ${other.pid} (collector of region global`) &&
        e.message.includes("stop that process first"),
    );
    await other.stop();
    // A SIGKILLed holder never removed its file: the lock is stale and taken over.
    const lock = lockStore({ kind: "pglite", dataDir }, "phonehome purge");
    assert.equal(
      (JSON.parse(readFileSync(join(dataDir, LOCK_FILE), "utf8")) as { pid: number }).pid,
      process.pid,
    );
    lock.release();
  });

  it("is not needed for PostgreSQL or an in-memory store", () => {
    const lock = lockStore({ kind: "pglite", dataDir: "memory://" }, "a test");
    lock.release();
    lockStore({ kind: "postgres", url: "postgres://localhost/x" }, "a test").release();
  });
});

describe("openDb and the lock", () => {
  it("refuses an embedded store another process has open, naming it, and opens it once that process is gone", async () => {
    const dataDir = storeDir();
    // A real second process opens the store with openDb and keeps it open.
    const child = spawn(
      process.execPath,
      [
        "--input-type=module",
        "-e",
        `import { openDb } from ${JSON.stringify(new URL("./index.ts", import.meta.url).href)};
         await openDb({ kind: "pglite", dataDir: ${JSON.stringify(dataDir)} }, "the other process");
         process.stdout.write("open\\n");
         setInterval(() => {}, 1000);`,
      ],
      { stdio: ["ignore", "pipe", "inherit"] },
    );
    await new Promise<void>((resolve, reject) => {
      child.stdout.on("data", (chunk: Buffer) => {
        if (chunk.toString().includes("open")) resolve();
      });
      child.once("exit", (code) => reject(new Error(`the other process exited (${code})`)));
    });
    await assert.rejects(
      openDb({ kind: "pglite", dataDir }, "this test"),
      (e) => isPhoneHomeError(e, "store.locked") && /the other process/.test(e.message),
    );
    await new Promise<void>((resolve) => {
      child.once("exit", () => resolve());
      child.kill("SIGKILL");
    });
    // The holder died without releasing: its lock is stale and taken over.
    const db = await openDb({ kind: "pglite", dataDir }, "this test");
    assert.equal((await db.query<{ n: number }>("SELECT 1 AS n")).rows[0]?.n, 1);
    await db.close();
    assert.ok(!existsSync(join(dataDir, LOCK_FILE)), "close releases the lock");
  });
});
