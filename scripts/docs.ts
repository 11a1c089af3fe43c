/** `npm run docs`: regenerates the documents derived from the code (error catalogue, OpenAPI). */
import { writeFileSync } from "node:fs";
import { renderErrorCatalogue } from "../src/errors/errors-doc.ts";

writeFileSync(new URL("../docs/errors.md", import.meta.url), renderErrorCatalogue());
console.log("wrote docs/errors.md");
