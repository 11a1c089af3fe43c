/**
 * `phonehome audit CAPTURE`, the traffic auditor's command (the auditor itself
 * is the `@phonehome/auditor` package): what a device sent, flow by flow — the
 * identifiers that left it, in what form, to whom, in which country, over
 * what transport — from a pcap, pcapng or HAR file. `--capture` records one
 * first with tcpdump (or dumpcap). Exit codes for CI: 0 clean, 1 a finding at
 * or above `--fail-on`, 2 unusable input.
 */
import { spawn, spawnSync } from "node:child_process";
import {
  accessSync,
  closeSync,
  constants,
  mkdtempSync,
  openSync,
  readFileSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { isIP } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Command, InvalidArgumentError, Option } from "commander";
import { progressReporter } from "../../core/cli/index.ts";
import { type Config, loadConfig } from "../../core/config/index.ts";
import { PhoneHomeError } from "../../core/errors/index.ts";
import {
  type AuditPolicy,
  type AuditResult,
  Auditor,
  isCaptureError,
  knownIdentifiers,
  normaliseIp,
  openGeoIp,
  parseKnownIdentifiers,
  readFlows,
  renderReport,
  type ReportFormat,
  SERVER_BYTES,
  SEVERITY_ORDER,
  type Severity,
} from "@phonehome/auditor";

interface AuditOptions {
  region?: string;
  known?: string;
  geoip?: string;
  allowCountry: string[];
  approveHost: string[];
  assumeCountry: string[];
  format: ReportFormat;
  output?: string;
  failOn: Severity | "none";
  progress: boolean;
  capture?: boolean;
  interface: string;
  seconds: number;
  filter?: string;
}

const collect = (value: string, previous: string[]) => [...previous, value];

/** Captures from this size on show progress on standard error. */
const PROGRESS_FROM_BYTES = 16 * 1024 * 1024;

function seconds(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 86_400) throw new InvalidArgumentError("1 to 86400 seconds");
  return n;
}

/** Adds `audit` to the program. */
export function register(program: Command): void {
  program
    .command("audit")
    .description(
      "report every privacy problem in a capture of what a device sends (pcap, pcapng or HAR): identifiers in plain, encoded or hashed form, cleartext, weak TLS, foreign countries, unapproved hosts",
    )
    .argument("[capture]", "the capture file (with --capture: where to write it; default a temporary file)")
    .option(
      "--region <id>",
      "the device's region: its collector and countries are allowed (default: the configuration's default region)",
    )
    .option(
      "--known <file>",
      "the device's own identifiers (YAML or JSON: kind → value or list), also found hashed",
    )
    .option(
      "--geoip <file>",
      "a country database in MaxMind DB format (MaxMind or DB-IP); default: DB-IP Lite, shipped",
    )
    .option("--allow-country <CC>", "a further country data may go to (repeatable)", collect, [])
    .option(
      "--approve-host <host>",
      "a further approved destination: host, *.domain, host:port, address (repeatable)",
      collect,
      [],
    )
    .option(
      "--assume-country <address=CC>",
      "treat an address as located in CC (a lab's local server standing in for a foreign one; repeatable)",
      collect,
      [],
    )
    .addOption(
      new Option("--format <format>", "report format")
        .choices(["text", "json", "sarif", "html"])
        .default("text"),
    )
    .option("--output <file>", "write the report to this file instead of standard output")
    .addOption(
      new Option("--fail-on <severity>", "exit 1 when a finding is at least this severe")
        .choices([...SEVERITY_ORDER, "none"])
        .default("high"),
    )
    .option("--no-progress", "no progress on standard error")
    .option("--capture", "record the capture first, with tcpdump (or dumpcap), then audit it")
    .option("--interface <name>", "with --capture: the interface to listen on", "lo")
    .option("--seconds <n>", "with --capture: how long to listen", seconds, 10)
    .option(
      "--filter <expression>",
      "with --capture: a capture filter (pcap-filter syntax), e.g. 'tcp port 9999'",
    )
    .action(async (capture: string | undefined, options: AuditOptions) => {
      process.exitCode = await audit(program, capture, options);
    });
}

async function audit(
  program: Command,
  captureArg: string | undefined,
  options: AuditOptions,
): Promise<number> {
  const config = loadConfig(program.opts().config);
  const policy = auditPolicy(config, options);
  const geoip = (() => {
    try {
      return openGeoIp(options.geoip);
    } catch (error) {
      throw new PhoneHomeError("audit.invalid", (error as Error).message, { path: "--geoip", cause: error });
    }
  })();
  let capture = captureArg;
  if (options.capture === true) capture = await record(capture, options);
  if (capture === undefined) {
    throw new PhoneHomeError("audit.invalid", "name the capture file to audit, or --capture to record one");
  }
  try {
    accessSync(capture, constants.R_OK);
  } catch (error) {
    throw new PhoneHomeError("audit.invalid", `cannot read ${capture}: ${(error as Error).message}`, {
      path: "capture",
      cause: error,
    });
  }
  if (options.output !== undefined) {
    // Found out now, not after reading a large capture.
    try {
      closeSync(openSync(options.output, "a"));
    } catch (error) {
      throw new PhoneHomeError(
        "audit.invalid",
        `cannot write ${options.output}: ${(error as Error).message}`,
        {
          path: "--output",
          cause: error,
        },
      );
    }
  }
  const size = statSync(capture).size;
  const progress = progressReporter(process.stderr, "capture MB");
  const flows = readFlows(capture, {
    maxServerBytes: SERVER_BYTES,
    // Progress for captures that take a while; a small one is read before a bar could help.
    onProgress:
      options.progress && size >= PROGRESS_FROM_BYTES
        ? (done, total) => progress.update(Math.floor(done / 1e6), Math.ceil(total / 1e6))
        : undefined,
  });
  const auditor = new Auditor(policy, geoip);
  let unreadable: PhoneHomeError | null = null;
  try {
    for await (const flow of flows) auditor.add(flow);
  } catch (error) {
    unreadable = isCaptureError(error)
      ? new PhoneHomeError(error.code, error.message, { cause: error })
      : new PhoneHomeError(
          "capture.unreadable",
          `${capture} could not be read past packet ${flows.stats.packets}: ${(error as Error).message}`,
          { cause: error },
        );
    // Not a capture at all: nothing to report. A capture cut short or corrupt further on still
    // says what it holds before that point: the report of that part, then exit 2.
    if (flows.stats.packets === 0) throw unreadable;
  } finally {
    progress.stop();
  }
  const result = auditor.finish();
  const report = renderReport(
    options.format,
    result,
    {
      capture,
      bytes: size,
      packets: flows.stats.packets,
      policy: {
        region: policy.region,
        allowedCountries: policy.allowedCountries === null ? null : [...policy.allowedCountries],
        approvedHosts: policy.approvedHosts === null ? null : [...policy.approvedHosts],
      },
      version: packageVersion(),
    },
    options.output === undefined && options.format === "text" && process.stdout.isTTY === true,
  );
  if (options.output === undefined) process.stdout.write(report);
  else writeFileSync(options.output, report);
  if (unreadable !== null) throw unreadable;
  return failing(result, options.failOn) ? 1 : 0;
}

function failing(result: AuditResult, failOn: Severity | "none"): boolean {
  if (failOn === "none") return false;
  const limit = SEVERITY_ORDER.indexOf(failOn);
  return result.findings.some((f) => SEVERITY_ORDER.indexOf(f.severity) <= limit);
}

/** The countries and hosts the device's region allows, from the configuration and the options. */
export function auditPolicy(
  config: Config,
  options: Pick<AuditOptions, "region" | "known" | "allowCountry" | "approveHost" | "assumeCountry">,
): AuditPolicy {
  const regionId = options.region ?? config.policy.default;
  const region = config.regions.find((r) => r.id === regionId);
  if (region === undefined) {
    throw new PhoneHomeError(
      "audit.invalid",
      `no region ${regionId} is configured (configured: ${config.regions.map((r) => r.id).join(", ")})`,
      { path: "--region" },
    );
  }
  for (const cc of options.allowCountry) {
    if (!/^[A-Z]{2}$/.test(cc)) {
      throw new PhoneHomeError("audit.invalid", `${cc} is not an ISO 3166-1 alpha-2 country code`, {
        path: "--allow-country",
      });
    }
  }
  const assumed = new Map<string, string>();
  for (const pair of options.assumeCountry) {
    const match = /^\[?([^\]=]+)\]?=([A-Z]{2})$/.exec(pair);
    if (match === null) {
      throw new PhoneHomeError("audit.invalid", `${pair} is not ADDRESS=CC (e.g. 127.0.0.2=CN)`, {
        path: "--assume-country",
      });
    }
    const address = match?.[1] ?? "";
    if (isIP(address) === 0) {
      throw new PhoneHomeError("audit.invalid", `${address} in ${pair} is not an IP address`, {
        path: "--assume-country",
      });
    }
    assumed.set(normaliseIp(address), match?.[2] ?? "");
  }
  let known: AuditPolicy["known"] = null;
  if (options.known !== undefined) {
    let text: string;
    try {
      text = readFileSync(options.known, "utf8");
    } catch (error) {
      throw new PhoneHomeError("audit.invalid", `cannot read ${options.known}: ${(error as Error).message}`, {
        path: "--known",
      });
    }
    try {
      known = knownIdentifiers(parseKnownIdentifiers(text));
    } catch (error) {
      throw new PhoneHomeError("audit.invalid", `${options.known}: ${(error as Error).message}`, {
        path: "--known",
      });
    }
  }
  const collector = new URL(region.url);
  return {
    region: region.id,
    allowedCountries: new Set([
      region.storedIn,
      ...(config.auditor.allowedCountries[region.id] ?? []),
      ...options.allowCountry,
    ]),
    approvedHosts: [collector.host, ...config.auditor.approvedHosts, ...options.approveHost],
    assumedCountries: assumed,
    known,
  };
}

/** Records `--seconds` of traffic on `--interface` with tcpdump (or dumpcap); answers the file. */
async function record(file: string | undefined, options: AuditOptions): Promise<string> {
  const out = file ?? join(mkdtempSync(join(tmpdir(), "phonehome-audit-")), "capture.pcap");
  const filter = options.filter === undefined ? [] : [options.filter];
  const tools = [
    {
      bin: "tcpdump",
      args: ["-i", options.interface, "-U", "--immediate-mode", "-s", "0", "-w", out, ...filter],
    },
    {
      bin: "dumpcap",
      args: [
        "-i",
        options.interface,
        "-q",
        "-P",
        "-w",
        out,
        ...(options.filter === undefined ? [] : ["-f", options.filter]),
      ],
    },
  ];
  const tool = tools.find((t) => spawnSync(t.bin, ["--version"], { stdio: "ignore" }).error === undefined);
  if (tool === undefined) {
    throw new PhoneHomeError(
      "audit.invalid",
      "--capture needs tcpdump or dumpcap: apt-get install -y tcpdump",
      { path: "--capture" },
    );
  }
  const child = spawn(tool.bin, tool.args, { stdio: ["ignore", "ignore", "pipe"] });
  let errors = "";
  let timer: NodeJS.Timeout | undefined;
  // The seconds count from when the tool says it listens ("listening on", "Capturing on"), not
  // from its start, which takes a while on a busy machine.
  child.stderr.on("data", (chunk: Buffer) => {
    errors += chunk.toString();
    if (timer === undefined && /listening on|Capturing on/.test(errors)) {
      process.stderr.write(
        `recording ${options.seconds} s on ${options.interface} with ${tool.bin} into ${out}\n`,
      );
      timer = setTimeout(() => child.kill("SIGINT"), options.seconds * 1000);
    }
  });
  const code = await new Promise<number | null>((resolve) => child.on("close", (c) => resolve(c)));
  clearTimeout(timer);
  if (code !== 0 && code !== null) {
    throw new PhoneHomeError(
      "audit.invalid",
      `${tool.bin} failed (${code}): ${errors.trim().split("\n").at(-1) ?? ""}`,
      { path: "--interface" },
    );
  }
  return out;
}

function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL("../../../package.json", import.meta.url), "utf8")) as {
    version: string;
  };
  return pkg.version;
}
