/**
 * How a verdict of the release gate is shown: lines for people, a JSON
 * document for scripts, and SARIF 2.1.0 for code-scanning tools (written with
 * node-sarif-builder), each finding a result located at the SBOM file.
 */
import { SarifBuilder, SarifResultBuilder, SarifRuleBuilder, SarifRunBuilder } from "node-sarif-builder";
import { FINDINGS, type FindingCode, type Verdict } from "./gate.ts";

/** The version the SARIF log names as its tool's. */
const TOOL_VERSION = "0.1.0";

/** The verdict as lines of text. */
export function formatVerdict(verdict: Verdict, source: string): string[] {
  const { target } = verdict;
  const build = verdict.subject?.version ?? verdict.subject?.name ?? source;
  const head = `${verdict.passed ? "PASS" : "BLOCKED"}: build ${build} for ${target.model}/${target.variant} (region ${target.region}); ${verdict.components} component${verdict.components === 1 ? "" : "s"} checked`;
  if (verdict.passed) return [head];
  return [
    head,
    ...verdict.findings.map((f) => `  ${f.code.padEnd(22)} ${f.message} [${f.pointer}]`),
    `${verdict.findings.length} reason${verdict.findings.length === 1 ? "" : "s"}: this build cannot be released to ${target.model}/${target.variant}`,
  ];
}

/** The verdict as the JSON document `--format json` prints and the API answers. */
export function verdictJson(verdict: Verdict): Record<string, unknown> {
  return {
    passed: verdict.passed,
    target: verdict.target,
    build: verdict.subject ?? null,
    components: verdict.components,
    findings: verdict.findings.map((f) => ({
      code: f.code,
      component: f.component,
      version: f.version ?? null,
      pointer: f.pointer,
      message: f.message,
      endpoint: f.endpoint ?? null,
      collection: f.collection ?? null,
    })),
  };
}

/** The verdict as a SARIF 2.1.0 log; `sbomUri` is where the SBOM lies, as the CI job sees it. */
export function verdictSarif(verdict: Verdict, sbomUri: string): string {
  const run = new SarifRunBuilder().initSimple({
    toolDriverName: "phonehome release gate",
    toolDriverVersion: TOOL_VERSION,
  });
  for (const [id, text] of Object.entries(FINDINGS) as [FindingCode, string][]) {
    run.addRule(new SarifRuleBuilder().initSimple({ ruleId: id, shortDescriptionText: text }));
  }
  for (const finding of verdict.findings) {
    const result = new SarifResultBuilder().initSimple({
      level: "error",
      messageText: finding.message,
      ruleId: finding.code,
      fileUri: sbomUri,
    });
    result.result.properties = {
      component: finding.component,
      ...(finding.version === undefined ? {} : { componentVersion: finding.version }),
      pointer: finding.pointer,
      variant: `${verdict.target.model}/${verdict.target.variant}`,
      region: verdict.target.region,
    };
    run.addResult(result);
  }
  const log = new SarifBuilder();
  log.addRun(run);
  return log.buildSarifJsonString({ indent: true });
}
