/**
 * `npm test`: the whole suite with node's test runner. Test files sit beside
 * the code (`*.test.ts`); end-to-end tests live in `test/`.
 */
import { spawnSync } from "node:child_process";
import { globSync } from "node:fs";

const patterns = [
  "src/**/*.test.ts",
  "packages/*/src/**/*.test.ts",
  "packages/*/test/**/*.test.ts",
  "test/**/*.test.ts",
  "bench/**/*.test.ts",
];
const files = patterns.flatMap((p) => globSync(p)).sort();
const only = process.argv.slice(2);
const chosen = only.length > 0 ? files.filter((f) => only.some((o) => f.includes(o))) : files;
if (chosen.length === 0) {
  console.error(`no test files match ${only.join(" ")}`);
  process.exit(1);
}
const result = spawnSync(
  process.execPath,
  ["--test", "--test-concurrency=2", "--test-timeout=180000", "--test-reporter=spec", ...chosen],
  { stdio: "inherit" },
);
process.exit(result.status ?? 1);
