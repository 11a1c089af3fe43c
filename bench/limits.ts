/**
 * `node bench/limits.ts`: what an unauthenticated client can do to a control
 * plane (`phonehome serve --control-plane` on PGlite, in its own process), as
 * figures against the same process idle, in the same run:
 *
 * - oversized bodies: three 53 MB JSON bodies sent at once to `POST
 *   /v1/sessions` — the answers, the process's resident memory before and at
 *   its peak, and the slowest `/healthz` while they are sent, against the
 *   slowest `/healthz` of the idle process (the ratio);
 * - half-sent requests: 100 connections that never finish their headers and
 *   100 that never finish their body — `/healthz` while they are held, and how
 *   many the service still holds after 5, 15, 35 and 70 seconds (`--hold S`
 *   ends the watch earlier or later);
 * - password guessing: wrong passwords for one account for 5 seconds, 8 at a
 *   time — guesses per second and how they were answered.
 *
 * Options: --hold S (seconds to watch the half-sent connections, default 70),
 * --config FILE (extra YAML merged into the control plane's configuration).
 */
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";

const ROOT = new URL("../", import.meta.url).pathname;

/** Resident memory of a process, and its peak, in MiB (Linux). */
function memory(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kib = (name: string) => Number(new RegExp(`${name}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0);
  return { rss: Math.round(kib("VmRSS") / 1024), peak: Math.round(kib("VmHWM") / 1024) };
}

async function timed(url: string): Promise<number> {
  const start = performance.now();
  const response = await fetch(url, { signal: AbortSignal.timeout(60_000) });
  await response.arrayBuffer();
  return performance.now() - start;
}

/** Polls `/healthz` every 50 ms until `until` settles; the slowest answer in ms. */
async function slowestHealthz(base: string, until: Promise<unknown>): Promise<number> {
  let done = false;
  void until.finally(() => {
    done = true;
  });
  let slowest = 0;
  while (!done) {
    slowest = Math.max(slowest, await timed(`${base}/healthz`));
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return slowest;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { hold: { type: "string", default: "70" }, config: { type: "string" } },
  });
  const hold = Number(values.hold);
  const dir = mkdtempSync(join(tmpdir(), "phonehome-limits-"));
  const extra = values.config === undefined ? "" : readFileSync(values.config, "utf8");
  const file = join(dir, "phonehome.yaml");
  writeFileSync(
    file,
    `dataDir: ${dir}\nlogLevel: info\ncontrolPlane:\n  listen: 127.0.0.1:0\n  store: { dataDir: ${join(dir, "control")} }\n${extra}`,
  );
  const child = spawn(
    process.execPath,
    [join(ROOT, "bin/phonehome.ts"), "serve", "--workers", "1", "--control-plane"],
    {
      env: { ...process.env, PHONEHOME_CONFIG: file },
      stdio: ["ignore", "ignore", "pipe"],
    },
  );
  const pid = child.pid ?? 0;
  // The service listens on a free port and says which in its log.
  const port = await new Promise<number>((resolve, reject) => {
    let log = "";
    child.stderr?.setEncoding("utf8");
    child.stderr?.on("data", (chunk: string) => {
      log += chunk;
      const found = /listening at http:\/\/127\.0\.0\.1:(\d+)/.exec(log);
      if (found) {
        log = "";
        resolve(Number(found[1]));
      }
    });
    child.once("exit", () => reject(new Error(`the control plane did not start:\n${log}`)));
  });
  child.stderr?.resume();
  const base = `http://127.0.0.1:${port}`;
  try {
    const token = readFileSync(join(dir, "secrets", "service-token"), "utf8").trim();
    const added = await fetch(`${base}/v1/operators`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify({
        username: "kari",
        name: "Kari",
        role: "auditor",
        password: "a long password 1",
      }),
    });
    if (!added.ok) throw new Error(`adding an operator: ${added.status} ${await added.text()}`);

    // The peak is measured from here on: what the start-up took is not the attack's.
    writeFileSync(`/proc/${pid}/clear_refs`, "5");
    let idle = 0;
    for (let i = 0; i < 20; i += 1) idle = Math.max(idle, await timed(`${base}/healthz`));
    const before = memory(pid);
    console.log(`idle: RSS ${before.rss} MiB, slowest /healthz of 20 ${idle.toFixed(1)} ms`);

    // Three bodies of 53 MB at once, as the unauthenticated sign-in route would read them.
    const big = `{"username":"kari","password":"${"x".repeat(53 * 1000 * 1000)}"}`;
    const sends = Promise.all(
      [0, 1, 2].map(() =>
        fetch(`${base}/v1/sessions`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: big,
          signal: AbortSignal.timeout(120_000),
        }).then(
          async (r) => `${r.status} ${((await r.json()) as { error?: { code?: string } }).error?.code ?? ""}`,
          (e: Error) => `failed (${e.message})`,
        ),
      ),
    );
    const slowest = await slowestHealthz(base, sends);
    const after = memory(pid);
    console.log(
      `three 53 MB bodies to POST /v1/sessions: ${(await sends).join(", ")}; RSS ${before.rss} → peak ${after.peak} MiB; ` +
        `slowest /healthz ${slowest.toFixed(1)} ms (${(slowest / Math.max(idle, 0.1)).toFixed(0)}× idle)`,
    );

    // 200 half-sent requests: headers never finished, or a body never finished.
    const sockets: Socket[] = [];
    let closed = 0;
    for (let i = 0; i < 200; i += 1) {
      const socket = connect(port, "127.0.0.1");
      socket.on("error", () => undefined);
      // Read what the service answers: a socket whose answer is left unread never sees its end.
      socket.resume();
      socket.on("close", () => {
        closed += 1;
      });
      socket.write(
        i % 2 === 0
          ? "POST /v1/sessions HTTP/1.1\r\nhost: x\r\n"
          : 'POST /v1/sessions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{"username":',
      );
      sockets.push(socket);
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
    const held = await timed(`${base}/healthz`);
    console.log(`200 half-sent requests held: /healthz answers in ${held.toFixed(1)} ms`);
    const started = Date.now();
    for (const at of [5, 15, 35, 70, 130].filter((s) => s <= hold)) {
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, started + at * 1000 - Date.now())));
      console.log(`  after ${at} s: ${200 - closed} of 200 still open`);
      if (closed === 200) break;
    }
    for (const socket of sockets) socket.destroy();

    // Password guessing for one account.
    const counts = new Map<string, number>();
    const until = Date.now() + 5000;
    let retryAfter: string | null = null;
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (Date.now() < until) {
          const r = await fetch(`${base}/v1/sessions`, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify({ username: "kari", password: `guess ${Math.random()}` }),
          });
          const code = ((await r.json()) as { error?: { code?: string } }).error?.code ?? "ok";
          retryAfter ??= r.headers.get("retry-after");
          counts.set(`${r.status} ${code}`, (counts.get(`${r.status} ${code}`) ?? 0) + 1);
        }
      }),
    );
    const total = [...counts.values()].reduce((a, b) => a + b, 0);
    console.log(
      `guessing for 5 s: ${(total / 5).toFixed(0)} answers/s — ${[...counts].map(([k, v]) => `${v} × ${k}`).join(", ")}` +
        (retryAfter === null ? "" : `; Retry-After ${retryAfter} s`),
    );
  } finally {
    child.kill("SIGTERM");
    await new Promise((resolve) => child.once("exit", resolve));
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
