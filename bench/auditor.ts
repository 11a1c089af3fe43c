/**
 * The auditor suite of `npm run bench`: `phonehome audit CAPTURE` (capture
 * read, TCP reassembled, HTTP, TLS and DNS recognised, every request decoded
 * and searched for identifiers, the JSON report written) as a ratio against
 * Debian's `tshark` listing the HTTP requests of the same capture, both child
 * processes timed in this run, on this machine, in alternating rounds.
 *
 * The capture is generated once per run (`--capture-mb`, default 200) with
 * the project's pcapng writer: many TCP connections of HTTP/1.1 on ports 80,
 * 8080 and 9999 (keep-alive, JSON, form, base64, chunked and binary request
 * bodies; gzip, chunked and binary responses), TLS on 443 (a real ClientHello
 * from node:tls, a built ServerHello, then records of random bytes), DNS over
 * UDP, and bulk binary transfers on 5001/5002. Every message starts a new
 * segment (so that tshark, which prints one line per frame, sees at most one
 * request end in each frame), and the generator counts the requests it wrote:
 * both tools must find exactly that many. The capture is auditor-capture.ts;
 * this file runs and compares the two tools.
 */
import { spawn, spawnSync } from "node:child_process";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { Finding } from "@phonehome/auditor";
import { type SuiteContext, table } from "./harness.ts";
import { type GeneratedCapture, normalise, writeMixedCapture } from "./auditor-capture.ts";

const TSHARK = "/usr/bin/tshark";
const GNU_TIME = "/usr/bin/time";
const PHONEHOME_BIN = new URL("../bin/phonehome.ts", import.meta.url).pathname;
/** The request lines tshark prints, one per frame that completes an HTTP request. */
const TSHARK_ARGS = [
  "-Y",
  "http.request",
  "-T",
  "fields",
  "-e",
  "frame.number",
  "-d",
  "tcp.port==9999,http",
  "-d",
  "tcp.port==8080,http",
];

// ---------------------------------------------------------------------------------------------
// The measured processes.

interface Run {
  seconds: number;
  code: number | null;
  /** Lines on standard output (tshark: one per request). */
  lines: number;
  stderr: string;
  /** From GNU time, when installed: user + system CPU seconds and peak RSS in MB. */
  cpu: number | null;
  rssMb: number | null;
}

const hasGnuTime = (() => {
  let known: boolean | undefined;
  return () => {
    known ??=
      existsSync(GNU_TIME) &&
      spawnSync(GNU_TIME, ["-f", "%M", "-o", "/dev/null", "true"], { stdio: "ignore" }).status === 0;
    return known;
  };
})();

/** Runs `argv` (pinned to `cpu` when given), timing it from spawn to exit with process.hrtime. */
function timed(argv: string[], cpu: number | null, timeFile: string): Promise<Run> {
  const timing = hasGnuTime() ? [GNU_TIME, "-f", "%U %S %M", "-o", timeFile] : [];
  const [command = "", ...args] = [
    ...(cpu === null ? [] : ["taskset", "-c", String(cpu)]),
    ...timing,
    ...argv,
  ];
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"] });
    let lines = 0;
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => {
      for (let at = chunk.indexOf(0x0a); at >= 0; at = chunk.indexOf(0x0a, at + 1)) lines++;
    });
    child.stderr.on("data", (chunk: Buffer) => {
      stderr = (stderr + chunk.toString()).slice(-4000);
    });
    child.on("error", reject);
    child.on("close", (code) => {
      const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
      let cpuSeconds: number | null = null;
      let rssMb: number | null = null;
      if (timing.length > 0) {
        const [user, system, rss] =
          readFileSync(timeFile, "utf8").trim().split("\n").at(-1)?.split(" ") ?? [];
        cpuSeconds = Number(user) + Number(system);
        rssMb = Number(rss) / 1024;
        rmSync(timeFile, { force: true });
      }
      resolve({ seconds, code, lines, stderr, cpu: cpuSeconds, rssMb });
    });
  });
}

interface AuditReport {
  httpRequests: number;
  flows: { protocol: string; server: string }[];
  findings: Finding[];
  counts: Record<string, number>;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

function thousands(n: number): string {
  return n.toLocaleString("en-GB");
}

const TABLE_COLUMNS = [
  ["side", 9],
  ["seconds per round", 20],
  ["median s", 8],
  ["MB/s", 7],
  ["requests", 8],
  ["cpu s", 6],
  ["peak RSS MB", 11],
] as const;

/** Runs the auditor suite and prints its report; resolves with true when the run was valid. */
export async function runAuditor(ctx: SuiteContext): Promise<boolean> {
  const { settings } = ctx;
  console.log(
    "auditor: `phonehome audit` (capture → flows → findings → JSON report) vs `tshark -Y http.request` " +
      "over the same generated capture",
  );
  if (!existsSync(TSHARK)) {
    console.log(
      `INVALID: the auditor suite needs tshark (${TSHARK}) as its baseline: apt-get install -y tshark`,
    );
    return false;
  }
  const tsharkVersion =
    spawnSync(TSHARK, ["--version"], { encoding: "utf8" }).stdout.split("\n")[0]?.trim() ?? "tshark";

  const file = join(ctx.workDir, "auditor-mixed.pcapng");
  const capture = await writeMixedCapture(file, settings.captureMb * 1e6);
  const mb = capture.bytes / 1e6;
  const share = (n: number) =>
    `${((n / Object.values(capture.payload).reduce((a, b) => a + b, 0)) * 100).toFixed(0)} %`;
  console.log(
    `setup:    wrote ${mb.toFixed(1)} MB of pcapng (checksums off) in ${capture.seconds.toFixed(1)} s: ` +
      `${thousands(capture.packets)} packets; ${thousands(capture.connections.http)} HTTP/1.1 connections on ports 80, 8080 ` +
      `and 9999 carrying ${thousands(capture.httpRequests)} requests (${share(capture.payload.http)} of the payload), ` +
      `${thousands(capture.connections.tls)} TLS on 443 (${share(capture.payload.tls)}), ` +
      `${capture.connections.upload + capture.connections.download} bulk binary transfers on 5001/5002 ` +
      `(${share(capture.payload.upload + capture.payload.download)}), ${thousands(capture.dnsExchanges)} DNS look-ups over UDP`,
  );
  const pinned = ctx.cpu === null ? "not pinned" : `both pinned to cpu ${ctx.cpu} (taskset)`;
  console.log(
    `settings: ${settings.rounds} alternating round(s), each side a child process timed from spawn to exit; ${pinned}; ` +
      `${tsharkVersion}`,
  );
  const out = join(ctx.workDir, "auditor-report.json");
  const profile = settings.cpuProf === undefined ? [] : ["--cpu-prof", `--cpu-prof-dir=${settings.cpuProf}`];
  const phonehomeArgv = [
    process.execPath,
    ...profile,
    PHONEHOME_BIN,
    "audit",
    file,
    "--format",
    "json",
    "--fail-on",
    "none",
    "--no-progress",
    "--output",
    out,
  ];
  const tsharkArgv = [TSHARK, "-r", file, ...TSHARK_ARGS];
  console.log(
    `phonehome: node bin/phonehome.ts audit FILE --format json --fail-on none --no-progress --output OUT.json`,
  );
  console.log(
    `tshark:    tshark -r FILE ${TSHARK_ARGS.join(" ")} (lines counted); tshark does not dissect HTTP on port 9999 ` +
      "by default, hence -d tcp.port==9999,http (8080 is one of its HTTP ports already)",
  );

  const problems: string[] = [];
  const runs = { phonehome: [] as Run[], tshark: [] as Run[] };
  let report: AuditReport | null = null;
  for (let round = 0; round < settings.rounds; round++) {
    const order = round % 2 === 0 ? (["phonehome", "tshark"] as const) : (["tshark", "phonehome"] as const);
    for (const side of order) {
      const run = await timed(
        side === "phonehome" ? phonehomeArgv : tsharkArgv,
        ctx.cpu,
        join(ctx.workDir, "auditor-time.txt"),
      );
      runs[side].push(run);
      if (side === "tshark") {
        if (run.code !== 0) problems.push(`tshark exited ${run.code}: ${lastLines(run.stderr)}`);
        continue;
      }
      // 0 clean, 1 a finding at or above --fail-on (none here); anything else, or no report, is a failure.
      if ((run.code !== 0 && run.code !== 1) || !existsSync(out)) {
        problems.push(
          `phonehome audit exited ${run.code}${existsSync(out) ? "" : " without a report"}: ${lastLines(run.stderr)}`,
        );
        continue;
      }
      const parsed = JSON.parse(readFileSync(out, "utf8")) as AuditReport;
      report ??= parsed;
      if (parsed.httpRequests !== report.httpRequests) {
        problems.push(
          `phonehome found ${parsed.httpRequests} HTTP requests in round ${round + 1}, ${report.httpRequests} before`,
        );
      }
      rmSync(out, { force: true });
    }
  }

  const seconds = {
    phonehome: median(runs.phonehome.map((r) => r.seconds)),
    tshark: median(runs.tshark.map((r) => r.seconds)),
  };
  const rate = { phonehome: mb / seconds.phonehome, tshark: mb / seconds.tshark };
  const ratio = rate.phonehome / rate.tshark;
  const found = { phonehome: report?.httpRequests ?? -1, tshark: runs.tshark[0]?.lines ?? -1 };
  const row = (side: "phonehome" | "tshark") => {
    const list = runs[side];
    const cpu = list.every((r) => r.cpu !== null) ? median(list.map((r) => r.cpu ?? 0)).toFixed(1) : "n/a";
    const rss = list.every((r) => r.rssMb !== null)
      ? Math.max(...list.map((r) => r.rssMb ?? 0)).toFixed(0)
      : "n/a";
    return [
      side,
      list.map((r) => r.seconds.toFixed(2)).join(" "),
      seconds[side].toFixed(2),
      rate[side].toFixed(1),
      String(found[side]),
      cpu,
      rss,
    ];
  };
  console.log("");
  for (const line of table(TABLE_COLUMNS, [row("phonehome"), row("tshark")])) console.log(line);
  console.log("");
  console.log(
    `ratio phonehome / tshark: ${ratio.toFixed(3)} (MB/s, median of ${settings.rounds}; >1: phonehome faster)`,
  );
  console.log(
    `http requests: phonehome ${found.phonehome}, tshark ${found.tshark}, written ${capture.httpRequests}` +
      (hasGnuTime() ? "; cpu s and peak RSS from GNU time" : ""),
  );
  if (report !== null) describeReport(report, capture);

  for (const run of runs.tshark) {
    if (run.code === 0 && run.lines !== capture.httpRequests) {
      problems.push(`tshark found ${run.lines} HTTP requests, the capture holds ${capture.httpRequests}`);
      break;
    }
  }
  if (report !== null && found.phonehome !== found.tshark) {
    problems.push(`HTTP requests differ: phonehome found ${found.phonehome}, tshark found ${found.tshark}`);
  }
  if (report !== null && found.phonehome !== capture.httpRequests) {
    problems.push(
      `phonehome found ${found.phonehome} HTTP requests, the capture holds ${capture.httpRequests}`,
    );
  }
  if (report === null) problems.push("phonehome produced no report");
  if (settings.cpuProf !== undefined) {
    console.log(
      `note: phonehome ran with --cpu-prof (profiles in ${settings.cpuProf}): its time includes the profiler`,
    );
  }
  rmSync(file, { force: true });
  if (problems.length > 0) {
    console.log(`INVALID: ${problems.join("; ")}`);
    return false;
  }
  console.log(
    `valid: phonehome and tshark each found the ${capture.httpRequests} HTTP requests written, every round`,
  );
  return true;
}

function lastLines(text: string): string {
  return text
    .split("\n")
    .filter((l) => l.trim() !== "" && !l.startsWith("Running as user"))
    .slice(-3)
    .join(" | ");
}

/** What phonehome's report says: flows by protocol, findings by rule, and any identifier not planted. */
function describeReport(report: AuditReport, capture: GeneratedCapture): void {
  const protocols = new Map<string, number>();
  for (const flow of report.flows) protocols.set(flow.protocol, (protocols.get(flow.protocol) ?? 0) + 1);
  const written = Object.values(capture.connections).reduce((a, b) => a + b, 0) + capture.dnsExchanges;
  const rules = new Map<string, number>();
  for (const f of report.findings) rules.set(f.rule, (rules.get(f.rule) ?? 0) + 1);
  console.log(
    `phonehome's report: ${report.flows.length} flows (${[...protocols].map(([p, n]) => `${p} ${n}`).join(", ")}; ` +
      `${written} written), ${report.findings.length} findings (${Object.entries(report.counts)
        .map(([s, n]) => `${s} ${n}`)
        .join(", ")}): ${[...rules].map(([r, n]) => `${r} ${n}`).join(", ")}`,
  );
  const unplanted = report.findings.filter(
    (f) =>
      f.identifier !== undefined &&
      !(capture.planted.get(f.identifier)?.has(normalise(f.evidence ?? "")) ?? false),
  );
  if (unplanted.length === 0) {
    console.log(
      "identifiers: every identifier finding is one the generator planted (imei, meid, imsi, iccid, mac, cell id)",
    );
    return;
  }
  console.log(
    `identifiers NOT planted by the generator (${unplanted.length} findings, ${unplanted.reduce((n, f) => n + f.count, 0)} ` +
      "occurrences; random bytes or text read as identifiers?):",
  );
  const groups = new Map<string, { f: Finding; n: number; evidence: Set<string> }>();
  for (const f of unplanted) {
    const key = `${f.rule} ${f.identifier} port ${f.port} at ${f.path ?? "?"}`;
    const g = groups.get(key) ?? { f, n: 0, evidence: new Set<string>() };
    g.n += f.count;
    if (g.evidence.size < 3) g.evidence.add(f.evidence ?? "?");
    groups.set(key, g);
  }
  for (const [key, g] of [...groups].sort((a, b) => b[1].n - a[1].n).slice(0, 12)) {
    console.log(`  ${g.n} × ${key} (${g.f.severity}; e.g. ${[...g.evidence].join(", ")})`);
  }
}
