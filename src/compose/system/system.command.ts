/** `phonehome up` and `phonehome serve`: the thin CLI edges of the runtimes. */
import { type Command, InvalidArgumentError } from "commander";
import { loadConfig } from "../../core/config/index.ts";
import { startControlPlane } from "../../control-plane/index.ts";
import { cachedDirectory, httpLookup, httpRevocations } from "../../core/directory/index.ts";
import { httpUpdates } from "../../collector/update-check/index.ts";
import { PhoneHomeError } from "../../core/errors/index.ts";
import { serviceTokens } from "../../core/keys/index.ts";
import { createLogger } from "../../core/log/index.ts";
import { startRegion } from "../../collector/index.ts";
import { provisionDemoFleet } from "./sample-fleet.ts";
import { dictionaryOf, startSystem } from "./system.ts";
import { defaultWorkers, isWorker, leaveWorkers, reportListening, runWorkers } from "./workers.ts";

/** Registers `up` and `serve`. */
export function register(program: Command): void {
  program
    .command("up")
    .description(
      "start the control plane and every region in one process on the configured stores (PGlite by default)",
    )
    .option("--no-demo", "do not provision the demo fleet on first start")
    .action(async (options: { demo: boolean }) => {
      const config = loadConfig(program.opts().config);
      const logger = createLogger(config.logLevel);
      const system = await startSystem(config, logger);
      const demo = options.demo ? await provisionDemoFleet(config, system) : undefined;
      const rows: [string, string][] = [
        ["control plane", `${system.controlPlane.url}   OpenAPI ${system.controlPlane.url}/openapi.json`],
        ...system.regions.map((r): [string, string] => {
          const storedIn = config.regions.find((c) => c.id === r.id)?.storedIn;
          return [`region ${r.id}`, `${r.url}   stores data in ${storedIn}; OpenAPI ${r.url}/openapi.json`];
        }),
        ...system.regions.map((r): [string, string] => [
          `owner portal (${r.id})`,
          `${r.url}/portal/   what is collected: ${r.url}/portal/?view=transparency`,
        ]),
      ];
      const width = Math.max(...rows.map(([label]) => label.length)) + 2;
      const out = [
        `phonehome is up (${config.file ?? "built-in configuration"}; data in ${config.dataDir})`,
        ...rows.map(([label, rest]) => `  ${label.padEnd(width)} ${rest}`),
      ];
      if (demo) {
        out.push(
          demo.created
            ? `  demo fleet: ${demo.devices} devices provisioned; identities in ${demo.dir}`
            : `  demo fleet: ${demo.devices} devices already provisioned; identities in ${demo.dir}`,
        );
      }
      out.push("Try: npx phonehome simulate --devices 20 --markets NO,FI,CN    Stop: Ctrl+C");
      process.stdout.write(`${out.join("\n")}\n`);
      await untilSignal();
      process.stdout.write("stopping...\n");
      await system.close();
    });

  program
    .command("serve")
    .description(
      "run one service: a region's collector (--region R) or the control plane (--control-plane), as N worker processes sharing its port",
    )
    .option("--region <id>", "the region whose collector to run")
    .option("--control-plane", "run the control plane")
    .option(
      "--workers <n>",
      "worker processes sharing the port, each restarted when it dies (default: one per core on PostgreSQL, 1 on the embedded store; 1 runs the service in this process)",
      workerCount,
    )
    .action(async (options: { region?: string; controlPlane?: boolean; workers?: number }) => {
      const config = loadConfig(program.opts().config);
      const logger = createLogger(config.logLevel);
      if ((options.region === undefined) === (options.controlPlane === undefined)) {
        throw new PhoneHomeError("request.invalid", "name exactly one of --region R and --control-plane", {
          path: "serve",
        });
      }
      const region =
        options.region === undefined ? undefined : config.regions.find((r) => r.id === options.region);
      if (options.region !== undefined && region === undefined) {
        throw new PhoneHomeError("request.invalid", `no region ${options.region} in the configuration`, {
          path: "--region",
          problems: config.regions.map((r) => ({ path: r.id, message: "is a configured region" })),
        });
      }
      const store = region === undefined ? config.controlPlane.store : region.store;
      const workers = options.workers ?? defaultWorkers(store.kind);
      if (workers > 1 && store.kind === "pglite") {
        throw new PhoneHomeError(
          "request.invalid",
          `--workers ${workers} needs a PostgreSQL store: an embedded store is opened by one process only`,
          { path: "--workers" },
        );
      }
      if (workers > 1 && !isWorker()) {
        // This process only supervises; each worker runs this same command and serves.
        const code = await runWorkers(workers, logger, (url) => {
          process.stdout.write(
            `${region === undefined ? "control plane" : `region ${region.id} collector`} listening on ${url} (${workers} workers)\n`,
          );
        });
        process.exitCode = code;
        return;
      }
      if (region === undefined) {
        const cp = await startControlPlane(config, logger);
        reportListening(cp.url);
        if (!isWorker()) {
          process.stdout.write(`control plane listening on ${cp.url}; owner portal ${cp.url}/portal/\n`);
        }
        await untilSignal();
        await cp.close();
        leaveWorkers();
        return;
      }
      const serviceToken = serviceTokens(config.dataDir);
      // Each process (and each worker) keeps its own cache, and reads the revocation feed itself.
      const directory = cachedDirectory(httpLookup(config.controlPlane.url, serviceToken), {
        revocations: httpRevocations(config.controlPlane.url, serviceToken),
      });
      const running = await startRegion({
        config,
        region,
        dictionary: dictionaryOf(config),
        directory,
        logger,
        updates: httpUpdates(config.controlPlane.url, serviceToken),
      });
      reportListening(running.url);
      if (!isWorker()) {
        process.stdout.write(
          `region ${region.id} collector listening on ${running.url} (data stored in ${region.storedIn}); owner portal ${running.url}/portal/\n`,
        );
      }
      await untilSignal();
      await running.close();
      leaveWorkers();
    });
}

/** `--workers`: a whole number from 1 to 256. */
function workerCount(value: string): number {
  const n = Number(value);
  if (!/^[0-9]+$/.test(value) || n < 1 || n > 256) {
    throw new InvalidArgumentError("must be a whole number from 1 to 256");
  }
  return n;
}

/** Resolves on the first SIGINT or SIGTERM. */
function untilSignal(): Promise<void> {
  return new Promise((resolve) => {
    process.once("SIGINT", () => resolve());
    process.once("SIGTERM", () => resolve());
  });
}
