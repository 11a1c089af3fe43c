/**
 * phonehome services as separate processes (`phonehome serve`), for the tests
 * that kill them or take their store away, and free loopback ports for them.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createServer } from "node:net";

/** The CLI, as `npx phonehome` runs it. */
export const BIN = new URL("../../bin/phonehome.ts", import.meta.url).pathname;

/** A loopback port nobody listens on now. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => resolve(typeof address === "object" && address ? address.port : 0));
    });
  });
}

/** A service process, with what it has written to stderr so far (for assertion messages). */
export interface ServiceProcess {
  child: ChildProcess;
  stderr(): string;
}

/**
 * Starts `phonehome --config FILE serve ARGS` and resolves once it prints that
 * it listens; rejects with its stderr when it exits first. One worker, in the
 * process itself (a signal to the child reaches the service), unless ARGS say
 * `--workers`.
 */
export function startService(configFile: string, args: readonly string[]): Promise<ServiceProcess> {
  const workers = args.includes("--workers") ? [] : ["--workers", "1"];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, "--config", configFile, "serve", ...workers, ...args], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    const service = { child, stderr: () => err };
    child.stdout.on("data", (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes(" listening on ")) resolve(service);
    });
    child.stderr.on("data", (chunk: Buffer) => {
      err += chunk.toString();
      if (err.length > 1_000_000) err = err.slice(-500_000);
    });
    child.once("exit", (code) =>
      reject(new Error(`phonehome serve exited (${code}) before listening: ${err}`)),
    );
  });
}

/** `phonehome serve --region R` (a collector). */
export const startCollector = (configFile: string, region = "global") =>
  startService(configFile, ["--region", region]);

/** Resolves when the process has ended (at once if it already has). */
export function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once("exit", () => resolve()));
}

/** Sends SIGTERM and waits for the end. */
export async function stopService(service: ServiceProcess | undefined): Promise<void> {
  if (!service) return;
  service.child.kill("SIGTERM");
  await exited(service.child);
}

/**
 * A service process kept running: restarted after a kill, and after any other
 * end too, which is counted as a crash (with the end of its stderr).
 */
export class Supervised {
  readonly name: string;
  readonly #start: () => Promise<ServiceProcess>;
  readonly #log: (line: string) => void;
  #service: ServiceProcess | undefined;
  #killing = false;
  #stopped = false;
  crashes: string[] = [];
  kills = 0;
  constructor(name: string, start: () => Promise<ServiceProcess>, log: (line: string) => void = () => {}) {
    this.name = name;
    this.#start = start;
    this.#log = log;
  }
  /** The running process, if any. */
  get service(): ServiceProcess | undefined {
    return this.#service;
  }
  async start(): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        this.#service = await this.#start();
        break;
      } catch (error) {
        // Starting while the store is down exits at once (docs/decisions/0020): try again shortly.
        if (attempt >= 60) throw error;
        await new Promise((resolve) => setTimeout(resolve, 1000));
      }
    }
    const service = this.#service;
    service.child.once("exit", (code, signal) => {
      if (this.#killing || this.#stopped) return;
      this.crashes.push(`${this.name} exited (${code ?? signal}): ${service.stderr().slice(-2000)}`);
      this.#log(`!! ${this.name} exited unexpectedly (${code ?? signal}); restarting`);
      void this.start();
    });
  }
  /** SIGKILL, and waits for the end. */
  async kill(): Promise<void> {
    const service = this.#service;
    if (!service) return;
    this.#killing = true;
    this.kills += 1;
    service.child.kill("SIGKILL");
    await exited(service.child);
    this.#killing = false;
  }
  /** SIGTERM (a clean stop), and waits for the end; no restart. */
  async stop(): Promise<void> {
    this.#stopped = true;
    const service = this.#service;
    if (!service) return;
    service.child.kill("SIGTERM");
    await exited(service.child);
  }
}
