/** `npm run docs`: regenerates the documents derived from the code (error catalogue, OpenAPI). */
import { mkdirSync, writeFileSync } from "node:fs";
import { renderErrorCatalogue } from "../src/core/errors/errors-doc.ts";
import { renderOpenApi } from "../src/compose/system/openapi.ts";

writeFileSync(new URL("../docs/errors.md", import.meta.url), renderErrorCatalogue());
console.log("wrote docs/errors.md");
mkdirSync(new URL("../docs/openapi/", import.meta.url), { recursive: true });
for (const [name, text] of Object.entries(await renderOpenApi())) {
  writeFileSync(new URL(`../docs/openapi/${name}`, import.meta.url), text);
  console.log(`wrote docs/openapi/${name}`);
}
