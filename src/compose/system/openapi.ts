/**
 * The OpenAPI documents of the services, generated from the route schemas by
 * starting a throwaway system in memory. `npm run docs` writes them under
 * `docs/openapi/`; a test fails when the committed files differ.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildConfig } from "../../core/config/index.ts";
import { createLogger } from "../../core/log/index.ts";
import { startSystem } from "./system.ts";

/** The documents by file name: `control-plane.json` and `collector.json`. */
export async function renderOpenApi(): Promise<Record<string, string>> {
  const dataDir = mkdtempSync(join(tmpdir(), "phonehome-openapi-"));
  const memory = { dataDir: "memory://" };
  const config = buildConfig(
    {
      dataDir,
      logLevel: "silent",
      controlPlane: { listen: "127.0.0.1:0", store: memory },
      regions: [
        { id: "global", storedIn: "SG", listen: "127.0.0.1:0", store: memory },
        { id: "cn", storedIn: "CN", listen: "127.0.0.1:0", store: memory },
      ],
    },
    dataDir,
  );
  const system = await startSystem(config, createLogger("silent"));
  try {
    const collector = system.regions[0];
    if (!collector) throw new Error("no region started");
    const render = (doc: unknown) => `${JSON.stringify(doc, null, 2)}\n`;
    const describeCollector = collector.app.swagger() as { info: { title: string; description: string } };
    // One document for every region's collector: they differ only in the region named in the title.
    describeCollector.info.title = "phonehome collector";
    describeCollector.info.description = "A region's collector. Every region serves the same API.";
    return {
      "control-plane.json": render(system.controlPlane.app.swagger()),
      "collector.json": render(describeCollector),
    };
  } finally {
    await system.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}
