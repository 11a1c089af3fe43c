/**
 * The auditor's report in four forms: a terminal report grouped by severity,
 * JSON (the whole result), SARIF 2.1.0 (for code-scanning tools) and one
 * self-contained HTML page. Evidence is always the redacted form.
 */
import { pathToFileURL } from "node:url";
import { styleText } from "node:util";
import { SarifBuilder, SarifResultBuilder, SarifRuleBuilder, SarifRunBuilder } from "node-sarif-builder";
import type { AuditResult } from "./analyse.ts";
import { type Finding, type FindingRule, SEVERITY_ORDER, type Severity } from "./types.ts";

export type ReportFormat = "text" | "json" | "sarif" | "html";

/** What the report says about the run itself. */
export interface ReportContext {
  capture: string;
  /** Bytes and packets read. */
  bytes: number;
  packets: number;
  policy: { region: string | null; allowedCountries: string[] | null; approvedHosts: string[] | null };
  version: string;
}

/** What each rule means, and the worst severity its findings can have (docs/traffic-audit.md#findings). */
export const RULES: Record<FindingRule, { text: string; worst: Severity }> = {
  "plaintext-identifier": { text: "A device or subscriber identifier sent as it is.", worst: "critical" },
  "encoded-identifier": {
    text: "An identifier sent encoded (base64, hex, URL, gzip): encoding is not encryption.",
    worst: "critical",
  },
  "hashed-identifier": {
    text: "A known identifier of the device sent as a hash: still a stable identifier.",
    worst: "high",
  },
  "cross-border": {
    text: "Data sent to a country outside those allowed for the device's region.",
    worst: "critical",
  },
  "sim-country": {
    text: "The SIM's home country (from the IMSI) differs from where its numbers were sent.",
    worst: "high",
  },
  "unapproved-host": {
    text: "A destination that is neither the region's collector nor an approved third party.",
    worst: "high",
  },
  "cleartext-transport": { text: "Personal data sent without encryption.", worst: "high" },
  "http-to-bare-ip": { text: "HTTP to an IP address without a host name.", worst: "high" },
  "weak-tls": { text: "TLS below version 1.2.", worst: "high" },
  "tls-without-sni": { text: "TLS without a server name indication.", worst: "low" },
  "ctcc-self-registration": {
    text: "The China Telecom self-registration protocol (zzhc.vnet.cn:9999).",
    worst: "critical",
  },
};

/** Counts of findings per severity. */
export function tally(findings: readonly Finding[]): Record<Severity, number> {
  const counts = { critical: 0, high: 0, medium: 0, low: 0, info: 0 };
  for (const f of findings) counts[f.severity] += 1;
  return counts;
}

/** The report in `format`. */
export function renderReport(
  format: ReportFormat,
  result: AuditResult,
  context: ReportContext,
  colour = false,
): string {
  switch (format) {
    case "json":
      return `${JSON.stringify({ ...context, ...result, counts: tally(result.findings) }, null, 2)}\n`;
    case "sarif":
      return `${sarif(result, context)}\n`;
    case "html":
      return html(result, context);
    case "text":
      return text(result, context, colour);
  }
}

function destination(f: Finding): string {
  const where = f.host === null ? f.ip : `${f.host} (${f.ip})`;
  return `${where}:${f.port}${f.country === null ? "" : ` in ${f.country}`}`;
}

/** A capture's time as a person reads it; a time no calendar has (a corrupt clock) says so. */
function when(ms: number): string {
  const date = new Date(ms);
  if (Number.isNaN(date.getTime())) return "(no valid time)";
  return date
    .toISOString()
    .replace("T", " ")
    .replace(/\.\d+Z$/, "Z");
}

function text(result: AuditResult, context: ReportContext, colour: boolean): string {
  const paint = (style: Parameters<typeof styleText>[0], s: string) => (colour ? styleText(style, s) : s);
  const styles: Record<Severity, Parameters<typeof styleText>[0]> = {
    critical: ["bold", "red"],
    high: "red",
    medium: "yellow",
    low: "cyan",
    info: "gray",
  };
  const lines: string[] = [];
  lines.push(
    `phonehome audit of ${context.capture}: ${context.packets} packets, ${result.flows.length + result.unlistedFlows} flows, ${result.httpRequests} HTTP requests`,
  );
  for (const severity of SEVERITY_ORDER) {
    const group = result.findings.filter((f) => f.severity === severity);
    if (group.length === 0) continue;
    lines.push("", paint(styles[severity], `${severity.toUpperCase()} (${group.length})`));
    for (const f of group) {
      const times = f.count > 1 ? ` ×${f.count}` : "";
      lines.push(`  ${paint("bold", f.rule)}${times}: ${f.message}`);
      lines.push(`    to ${destination(f)} over ${f.transport}, ${when(f.time)}, flow ${f.flow}`);
      if (f.path !== undefined)
        lines.push(`    found at ${f.path}${f.evidence === undefined ? "" : `: ${f.evidence}`}`);
      else if (f.evidence !== undefined) lines.push(`    evidence: ${f.evidence}`);
    }
  }
  lines.push("", "Flows");
  for (const flow of result.flows) {
    const sent = flow.identifiers.length === 0 ? "no identifier" : flow.identifiers.join(", ");
    const tls =
      flow.tls === null
        ? ""
        : ` ${flow.tls.version ?? "TLS"}${flow.tls.sni === null ? "" : ` sni=${flow.tls.sni}`}`;
    lines.push(
      `  ${flow.protocol.padEnd(5)} ${flow.client} → ${flow.host ?? ""}${flow.host === null ? "" : " "}${flow.server}${flow.country === null ? "" : ` [${flow.country}]`}${tls}: ${flow.bytesOut} B out, ${flow.bytesIn} B in; ${sent}${flow.notes.length === 0 ? "" : ` (${flow.notes.join("; ")})`}`,
    );
  }
  if (result.unlistedFlows > 0) {
    lines.push(`  … and ${result.unlistedFlows} more flows, judged the same way but not listed`);
  }
  const counts = tally(result.findings);
  lines.push(
    "",
    `${result.findings.length} findings: ${SEVERITY_ORDER.map((s) => `${counts[s]} ${s}`).join(", ")}`,
    `Countries from ${result.geoip.name}, built ${result.geoip.built}${result.geoip.attribution === null ? "" : `; ${result.geoip.attribution}`}`,
  );
  return `${lines.join("\n")}\n`;
}

const HELP_URI = "https://github.com/phonehome/phonehome/blob/main/docs/traffic-audit.md";

const SARIF_LEVEL: Record<Severity, "error" | "warning" | "note"> = {
  critical: "error",
  high: "error",
  medium: "warning",
  low: "note",
  info: "note",
};
/** GitHub code scanning reads a rule's `security-severity` (0–10) to rank its results. */
const SECURITY_SEVERITY: Record<Severity, string> = {
  critical: "9.5",
  high: "8.0",
  medium: "5.5",
  low: "3.0",
  info: "1.0",
};

/** The findings as a SARIF 2.1.0 log (node-sarif-builder, as the release gate's), located at the capture. */
function sarif(result: AuditResult, context: ReportContext): string {
  const uri = pathToFileURL(context.capture).href;
  const run = new SarifRunBuilder().initSimple({
    toolDriverName: "phonehome audit",
    toolDriverVersion: context.version,
    url: HELP_URI,
  });
  for (const [id, rule] of Object.entries(RULES)) {
    const builder = new SarifRuleBuilder().initSimple({
      ruleId: id,
      shortDescriptionText: rule.text,
      helpUri: HELP_URI,
    });
    // Code scanning ranks a rule by its `security-severity` (0–10): the rule's worst case.
    builder.rule.properties = {
      "security-severity": SECURITY_SEVERITY[rule.worst],
      tags: ["security", "privacy"],
    };
    run.addRule(builder);
  }
  for (const f of result.findings) {
    const builder = new SarifResultBuilder().initSimple({
      level: SARIF_LEVEL[f.severity],
      messageText: `${f.message} — to ${destination(f)} over ${f.transport}`,
      ruleId: f.rule,
      fileUri: uri,
    });
    for (const location of builder.result.locations ?? [])
      location.logicalLocations = [{ name: f.flow, kind: "flow" }];
    builder.result.partialFingerprints = {
      finding: `${f.rule}/${f.host ?? f.ip}/${f.identifier ?? ""}/${f.path ?? ""}`,
    };
    builder.result.properties = {
      severity: f.severity,
      time: when(f.time),
      host: f.host,
      ip: f.ip,
      port: f.port,
      country: f.country,
      transport: f.transport,
      identifier: f.identifier,
      path: f.path,
      evidence: f.evidence,
      count: f.count,
    };
    run.addResult(builder);
  }
  const log = new SarifBuilder();
  log.addRun(run);
  return log.buildSarifJsonString({ indent: true });
}

function escape(s: string): string {
  return s.replace(
    /[&<>"']/g,
    (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c] ?? c,
  );
}

function html(result: AuditResult, context: ReportContext): string {
  const counts = tally(result.findings);
  const rows = result.findings
    .map(
      (f) =>
        `<tr class="${f.severity}"><td>${f.severity}</td><td>${escape(f.rule)}${f.count > 1 ? ` ×${f.count}` : ""}</td><td>${escape(f.message)}</td><td>${escape(destination(f))}</td><td>${escape(f.transport)}</td><td>${escape(f.path ?? "")}</td><td><code>${escape(f.evidence ?? "")}</code></td><td>${escape(when(f.time))}</td></tr>`,
    )
    .join("\n");
  const flows = result.flows
    .map(
      (f) =>
        `<tr><td>${escape(f.protocol)}</td><td>${escape(f.client)}</td><td>${escape(f.host ?? "")}</td><td>${escape(f.server)}</td><td>${escape(f.country ?? "")}</td><td>${f.bytesOut}</td><td>${f.bytesIn}</td><td>${escape(f.identifiers.join(", "))}</td><td>${escape(f.notes.join("; "))}</td></tr>`,
    )
    .join("\n");
  const attribution =
    result.geoip.attribution === null
      ? escape(result.geoip.name)
      : `<a href="https://db-ip.com">IP Geolocation by DB-IP</a> (CC BY 4.0)`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>phonehome audit: ${escape(context.capture)}</title>
<style>
body{font:15px/1.45 system-ui,sans-serif;margin:1.5rem;color:#1b1f24;background:#f6f7f9}
h1{font-size:1.4rem}table{border-collapse:collapse;width:100%;background:#fff;margin:0.5rem 0 1.5rem}
th,td{border-bottom:1px solid #d9dde3;padding:0.35rem 0.5rem;text-align:left;vertical-align:top}
caption{text-align:left;font-weight:600;padding:0.25rem 0}
tr.critical td:first-child{color:#fff;background:#8b0010;font-weight:700}tr.high td:first-child{color:#a3182b;font-weight:700}
tr.medium td:first-child{color:#8a5a00}code{overflow-wrap:anywhere}.frame{overflow-x:auto}
</style>
</head>
<body>
<main>
<h1>Traffic audit of ${escape(context.capture)}</h1>
<p>${context.packets} packets, ${result.flows.length + result.unlistedFlows} flows, ${result.httpRequests} HTTP requests. Findings: ${SEVERITY_ORDER.map((s) => `${counts[s]} ${s}`).join(", ")}.</p>
<p>Region ${escape(context.policy.region ?? "not given")}; countries allowed: ${escape(context.policy.allowedCountries?.join(", ") ?? "not checked")}; approved hosts: ${escape(context.policy.approvedHosts?.join(", ") ?? "not checked")}.</p>
<div class="frame"><table>
<caption>Findings, worst first</caption>
<thead><tr><th>Severity</th><th>Rule</th><th>What</th><th>To</th><th>Over</th><th>Found at</th><th>Evidence (redacted)</th><th>When</th></tr></thead>
<tbody>
${rows}
</tbody></table></div>
<div class="frame"><table>
<caption>Flows${result.unlistedFlows > 0 ? ` (the first ${result.flows.length}; ${result.unlistedFlows} more judged but not listed)` : ""}</caption>
<thead><tr><th>Protocol</th><th>From</th><th>Host</th><th>To</th><th>Country</th><th>Bytes out</th><th>Bytes in</th><th>Identifiers sent</th><th>Notes</th></tr></thead>
<tbody>
${flows}
</tbody></table></div>
<p>Countries: ${attribution}, built ${escape(result.geoip.built)}. Report by phonehome ${escape(context.version)}.</p>
</main>
</body>
</html>
`;
}
