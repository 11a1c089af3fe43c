/**
 * A real HAProxy (Debian's package) in front of a service's replicas, for the
 * tests of the production shape: round robin, each replica health-checked on
 * `/readyz`, a request whose connection fails sent to another replica. The
 * configuration is written to a temporary folder; `haproxy -db` runs in the
 * foreground as a child of the test and is stopped with it.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";

/** A frontend and the replicas behind it. */
export interface Frontend {
  name: string;
  port: number;
  servers: readonly { name: string; port: number }[];
}

/** A running HAProxy. */
export interface Balancer {
  /** The URL of a frontend. */
  url(name: string): string;
  /** Its log lines so far (health checks going up and down). */
  log(): string;
  stop(): Promise<void>;
}

const HAPROXY = "/usr/sbin/haproxy";

/** The configuration: round robin, checks on /readyz every 300 ms, two failures down, two passes up. */
export function haproxyConfig(frontends: readonly Frontend[]): string {
  return [
    "global",
    "  maxconn 4096",
    "  log stderr format short local0 notice",
    "defaults",
    "  mode http",
    "  log global",
    "  timeout connect 2s",
    "  timeout client 60s",
    "  timeout server 60s",
    "  timeout http-request 30s",
    // A connection refused by a dead replica is tried on another: the request never reached it.
    "  retries 3",
    "  option redispatch",
    ...frontends.flatMap((f) => [
      `frontend ${f.name}`,
      `  bind 127.0.0.1:${f.port}`,
      `  default_backend ${f.name}-replicas`,
      `backend ${f.name}-replicas`,
      "  balance roundrobin",
      "  option httpchk GET /readyz",
      "  http-check expect status 200",
      "  default-server inter 300ms fastinter 200ms downinter 300ms fall 2 rise 2",
      ...f.servers.map((s) => `  server ${s.name} 127.0.0.1:${s.port} check`),
    ]),
    "",
  ].join("\n");
}

/** Starts HAProxy with `frontends`, after `haproxy -c` accepted the configuration; resolves once every frontend listens. */
export async function startHaproxy(frontends: readonly Frontend[]): Promise<Balancer> {
  const dir = mkdtempSync(join(tmpdir(), "phonehome-haproxy-"));
  const file = join(dir, "haproxy.cfg");
  writeFileSync(file, haproxyConfig(frontends));
  execFileSync(HAPROXY, ["-c", "-q", "-f", file], { stdio: ["ignore", "pipe", "pipe"] });
  const child: ChildProcess = spawn(HAPROXY, ["-db", "-f", file], { stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  const keep = (chunk: Buffer) => {
    output += chunk.toString();
    if (output.length > 2_000_000) output = output.slice(-1_000_000);
  };
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  const url = (name: string) => {
    const f = frontends.find((x) => x.name === name);
    if (!f) throw new Error(`no frontend ${name}`);
    return `http://127.0.0.1:${f.port}`;
  };
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new Error(`haproxy exited (${child.exitCode}): ${output}`);
    const listening = await Promise.all(
      frontends.map((f) =>
        fetch(`${url(f.name)}/healthz`, { signal: AbortSignal.timeout(1000) }).then(
          () => true,
          () => false,
        ),
      ),
    );
    if (listening.every(Boolean)) break;
    if (i > 100) throw new Error(`haproxy did not listen: ${output}`);
    await sleep(100);
  }
  return {
    url,
    log: () => output,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        const ended = new Promise((resolve) => child.once("exit", resolve));
        child.kill("SIGTERM");
        await ended;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
