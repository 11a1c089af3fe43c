/**
 * Keeping the server's core for the server. `taskset` pins the server under
 * test to one core, but PostgreSQL's backends are woken by the server's
 * writes and Linux runs a woken task on the waker's core: unpinned, they take
 * a third of the server's core away from it (measured: the server's core at
 * 95 % busy while the server itself used 72 %). So while the bench runs, this
 * process (the load generator) and, when the database is on this machine and
 * we may, every PostgreSQL process are pinned to the other cores; their masks
 * are put back at the end. Both sides of every ratio run under the same
 * placement.
 */
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";

/** What was pinned, and how to undo it. */
export interface Placement {
  /** One line for the report. */
  describe: string;
  /** Puts back the masks PostgreSQL's processes had (new ones get the postmaster's). */
  restore(): void;
}

function taskset(args: string[]): { ok: boolean; out: string } {
  const r = spawnSync("taskset", args, { encoding: "utf8" });
  return { ok: r.status === 0, out: `${r.stdout ?? ""}${r.stderr ?? ""}` };
}

/** The pids of this machine's PostgreSQL processes (postmaster first), read from /proc. */
function postgresPids(): number[] {
  const pids: { pid: number; ppid: number }[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/comm`, "utf8").trim() !== "postgres") continue;
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      pids.push({ pid: Number(entry), ppid });
    } catch {
      // gone meanwhile
    }
  }
  const ids = new Set(pids.map((p) => p.pid));
  // The postmaster is the one whose parent is not a postgres process.
  const roots = pids.filter((p) => !ids.has(p.ppid)).map((p) => p.pid);
  const rest = pids.filter((p) => ids.has(p.ppid)).map((p) => p.pid);
  return [...roots, ...rest];
}

function maskOf(pid: number): string | null {
  const r = taskset(["-p", String(pid)]);
  return r.ok ? (/mask:\s*([0-9a-f]+)/i.exec(r.out)?.[1] ?? null) : null;
}

/**
 * Pins this process, and PostgreSQL when `postgresUrl` points at this
 * machine, to every core but `serverCpu`; null: no suite of the run uses
 * PostgreSQL, and its processes are left alone. Never throws: what could not
 * be pinned is said in `describe`.
 */
export function placeAroundServer(serverCpu: number, cores: number, postgresUrl: string | null): Placement {
  const others = Array.from({ length: cores }, (_, i) => i).filter((i) => i !== serverCpu);
  const list = others.join(",");
  const self = taskset(["-p", "-c", list, String(process.pid)]).ok;
  const parts = [self ? `load generator on cpu ${list}` : "load generator not pinned"];
  if (postgresUrl === null) return { describe: parts.join("; "), restore: () => {} };
  const host = new URL(postgresUrl).hostname;
  const local =
    host === "" || host === "localhost" || host === "127.0.0.1" || host === "::1" || host === "[::1]";
  const saved = new Map<number, string>();
  if (!local) {
    parts.push("PostgreSQL not on this machine, not pinned");
    return { describe: parts.join("; "), restore: () => {} };
  }
  const pids = postgresPids();
  for (const pid of pids) {
    const mask = maskOf(pid);
    if (mask === null) continue;
    if (taskset(["-p", "-c", list, String(pid)]).ok) saved.set(pid, mask);
  }
  parts.push(
    saved.size > 0
      ? `PostgreSQL (${saved.size} processes) on cpu ${list}`
      : "PostgreSQL not pinned (no permission to change its processes' affinity)",
  );
  const postmasterMask = pids[0] === undefined ? undefined : saved.get(pids[0]);
  return {
    describe: parts.join("; "),
    restore: () => {
      if (saved.size === 0) return;
      for (const pid of postgresPids()) {
        const mask = saved.get(pid) ?? postmasterMask;
        if (mask !== undefined) taskset(["-p", mask, String(pid)]);
      }
    },
  };
}

/**
 * The opposite, for a suite whose server is several processes (`serve
 * --workers N`): this process and the local PostgreSQL's on every core, as
 * a deployment runs them; `restore` puts back the masks they had.
 */
export function spreadOverEveryCore(cores: number): Placement {
  const all = `0-${cores - 1}`;
  const saved = new Map<number, string>();
  for (const pid of [process.pid, ...postgresPids()]) {
    const mask = maskOf(pid);
    if (mask !== null && taskset(["-p", "-c", all, String(pid)]).ok) saved.set(pid, mask);
  }
  return {
    describe: saved.size > 0 ? `load generator and PostgreSQL on every core (${all})` : "nothing pinned",
    restore: () => {
      for (const [pid, mask] of saved) taskset(["-p", mask, String(pid)]);
    },
  };
}
