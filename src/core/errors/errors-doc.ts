/** Renders `docs/errors.md` from the registry, so that the catalogue and the code cannot drift apart. */
import { ERRORS } from "./catalogue.ts";

/** The full text of `docs/errors.md`. */
export function renderErrorCatalogue(): string {
  const rows = Object.entries(ERRORS)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([code, { status, doc }]) => `| \`${code}\` | ${status} | ${doc.replaceAll("|", "\\|")} |`);
  return [
    "# Error catalogue",
    "",
    "Every error phonehome answers or prints has a stable code. HTTP services answer",
    "",
    "```json",
    '{ "error": { "code": "payload.undeclared_field", "message": "unknown field \\"imsi\\"", "path": "/payload/imsi" } }',
    "```",
    "",
    "`path` is a JSON pointer into the request (or a `file:line` for files the CLI reads); lists of",
    "problems (configuration, dictionary, factory files) come as `problems: [{ path, message }]`.",
    "A request that gets an error changed nothing, except that collectors count the refusal in the",
    "ingest ledger (reason, collection, batch, build — never the payload).",
    "",
    "This file is generated from `src/core/errors/catalogue.ts` by `npm run docs`; a test fails when they differ.",
    "",
    "| code | HTTP status | meaning |",
    "| --- | --- | --- |",
    ...rows,
    "",
  ].join("\n");
}
