/**
 * The auditor's report in four forms: a terminal report grouped by severity,
 * JSON (the whole result), SARIF 2.1.0 (for code-scanning tools) and one
 * self-contained HTML page. Evidence is always the redacted form.
 */
import { pathToFileURL } from "node:url";
import { styleText } from "node:util";
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

/** What each rule means, for SARIF's rule list and the HTML legend. */
export const RULES: Record<FindingRule, string> = {
  "plaintext-identifier": "A device or subscriber identifier sent as it is.",
  "encoded-identifier": "An identifier sent encoded (base64, hex, URL, gzip): encoding is not encryption.",
  "hashed-identifier": "A known identifier of the device sent as a hash: still a stable identifier.",
  "cross-border": "Data sent to a country outside those allowed for the device's region.",
  "sim-country": "The SIM's home country (from the IMSI) differs from where its numbers were sent.",
  "unapproved-host": "A destination that is neither the region's collector nor an approved third party.",
  "cleartext-transport": "Personal data sent without encryption.",
  "http-to-bare-ip": "HTTP to an IP address without a host name.",
  "weak-tls": "TLS below version 1.2.",
  "tls-without-sni": "TLS without a server name indication.",
  "ctcc-self-registration": "The China Telecom self-registration protocol (zzhc.vnet.cn:9999).",
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
      return `${JSON.stringify(sarif(result, context), null, 2)}\n`;
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

const SARIF_LEVEL: Record<Severity, "error" | "warning" | "note"> = {
  critical: "error",
  high: "error",
  medium: "warning",
  low: "note",
  info: "note",
};
/** GitHub code scanning reads `security-severity` (0–10) to rank security results. */
const SECURITY_SEVERITY: Record<Severity, string> = {
  critical: "9.5",
  high: "8.0",
  medium: "5.5",
  low: "3.0",
  info: "1.0",
};

function sarif(result: AuditResult, context: ReportContext): object {
  const rules = Object.entries(RULES).map(([id, description]) => ({
    id,
    shortDescription: { text: description },
    helpUri: "https://github.com/phonehome/phonehome/blob/main/docs/traffic-audit.md",
  }));
  return {
    $schema: "https://json.schemastore.org/sarif-2.1.0.json",
    version: "2.1.0",
    runs: [
      {
        tool: {
          driver: {
            name: "phonehome audit",
            version: context.version,
            informationUri: rules[0]?.helpUri,
            rules,
          },
        },
        artifacts: [{ location: { uri: pathToFileURL(context.capture).href } }],
        results: result.findings.map((f) => ({
          ruleId: f.rule,
          level: SARIF_LEVEL[f.severity],
          message: { text: `${f.message} — to ${destination(f)} over ${f.transport}` },
          locations: [
            {
              physicalLocation: { artifactLocation: { uri: pathToFileURL(context.capture).href, index: 0 } },
              logicalLocations: [{ name: f.flow, kind: "flow" }],
            },
          ],
          partialFingerprints: {
            finding: `${f.rule}/${f.host ?? f.ip}/${f.identifier ?? ""}/${f.path ?? ""}`,
          },
          properties: {
            severity: f.severity,
            "security-severity": SECURITY_SEVERITY[f.severity],
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
          },
        })),
      },
    ],
  };
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
