/**
 * Serving the web apps (docs/web.md). Every service serves the owner portal
 * at `/portal/` (so it can be deployed per region), built by `npm run build`
 * into `web/dist/portal/`, with `/portal/config.json` telling it where the
 * control plane is; the control plane also serves the operator console at
 * `/console/`. The pages may call only this deployment's services
 * (Content-Security-Policy `connect-src`), and those services answer them
 * across origins (CORS, `http/service.ts`).
 */
import type { ConsoleConfig, PortalConfig } from "@phonehome/shared";
import { existsSync } from "node:fs";
import { join } from "node:path";
import fastifyStatic from "@fastify/static";
import type { Config } from "../config/index.ts";
import { PACKAGE_ROOT } from "../config/index.ts";
import { PhoneHomeError } from "../errors/index.ts";
import type { App } from "../http/index.ts";

/** Where the built apps are. */
export const WEB_DIST = join(PACKAGE_ROOT, "web", "dist");

/** The services of this deployment, as the web apps reach them; read when a page asks, as ports may be picked at start. */
export interface WebPeers {
  controlPlane(): string;
  /** Every service's origin (scheme, host and port). */
  origins(): readonly string[];
}

/** The peers as the configuration names them (a service started on its own). */
export function peersFromConfig(config: Config): WebPeers {
  const origins = [config.controlPlane.url, ...config.regions.map((r) => r.url)].map(
    (u) => new URL(u).origin,
  );
  return { controlPlane: () => config.controlPlane.url, origins: () => origins };
}

/** Peers whose URLs are filled in as the services start (the embedded system, whose ports may be picked then). */
export function livePeers(config: Config): WebPeers & { set(service: string, url: string): void } {
  const urls = new Map<string, string>([["control-plane", config.controlPlane.url]]);
  for (const r of config.regions) urls.set(r.id, r.url);
  return {
    controlPlane: () => urls.get("control-plane") ?? config.controlPlane.url,
    origins: () => [...new Set([...urls.values()].map((u) => new URL(u).origin))],
    set: (service, url) => void urls.set(service, url),
  };
}

/** Registers `/portal/` (the built app, or a page saying how to build it) and `/portal/config.json`. */
export async function registerPortal(app: App, peers: WebPeers): Promise<void> {
  app.get("/portal/config.json", { schema: { hide: true } }, async (): Promise<PortalConfig> => ({
    controlPlane: peers.controlPlane(),
  }));
  await serveApp(app, "portal", "The owner portal", () => peers.origins());
}

/**
 * Registers `/console/`, the operator console, and `/console/config.json`
 * (how operators sign in here); its pages call the control plane that serves
 * them, and nothing else.
 */
export async function registerConsole(app: App, config: ConsoleConfig): Promise<void> {
  app.get("/console/config.json", { schema: { hide: true } }, async (): Promise<ConsoleConfig> => config);
  await serveApp(app, "console", "The operator console", () => []);
}

/**
 * Serves `web/dist/<name>/` at `/<name>/`, with its policy; its pages may call `'self'` and `origins()`.
 * Everything is registered in its own scope, so the policy's hook runs for the app's routes only,
 * never on the services' API (the ingest path above all).
 */
async function serveApp(
  app: App,
  name: string,
  title: string,
  origins: () => readonly string[],
): Promise<void> {
  const root = join(WEB_DIST, name);
  const prefix = `/${name}/`;
  app.get(`/${name}`, { schema: { hide: true } }, async (_request, reply) => reply.redirect(prefix, 301));
  await app.register(async (scope) => {
    scope.addHook("onSend", async (_request, reply, payload) => {
      reply.header(
        "content-security-policy",
        `default-src 'self'; connect-src ${["'self'", ...origins()].join(" ")}; img-src 'self' data:; ` +
          "style-src 'self'; script-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
      );
      reply.header("x-content-type-options", "nosniff");
      reply.header("referrer-policy", "no-referrer");
      return payload;
    });
    if (!existsSync(join(root, "index.html"))) {
      scope.get(`${prefix}*`, { schema: { hide: true } }, async (_request, reply) =>
        reply
          .code(503)
          .type("text/plain; charset=utf-8")
          .send(`${title} is not built: run \`npm run build\` (npm start and npm test run it first).\n`),
      );
      return;
    }
    scope.setErrorHandler((error, request, reply) => {
      if (!isNoSuchFile(error)) throw error;
      const refused = new PhoneHomeError("route.not_found", `no page at ${request.url.split("?")[0]}`);
      return reply.status(refused.status).send(refused.toBody());
    });
    await scope.register(fastifyStatic, { root, prefix, decorateReply: false, index: ["index.html"] });
  });
}

/** File-system failures that mean a path names no file the app has (too long, through a file, a loop). */
const NO_SUCH_FILE: ReadonlySet<string> = new Set(["ENAMETOOLONG", "ENOTDIR", "EISDIR", "ELOOP", "EINVAL"]);

/**
 * True when the static server refused a path rather than failed: `send`
 * answers a path that climbs out of the root, or holds a NUL or a malformed
 * escape, with a 4xx error of its own (403, 400), and the file system refuses
 * names it cannot have; the boundary refuses a NUL in the path before either
 * (request.invalid). Each means no page is there: 404, never 500, and never
 * a hint whether something exists outside the root.
 */
function isNoSuchFile(error: unknown): boolean {
  const e = error as { status?: unknown; statusCode?: unknown; code?: unknown };
  const status = typeof e.statusCode === "number" ? e.statusCode : e.status;
  if (typeof status === "number" && status >= 400 && status < 500) return true;
  return typeof e.code === "string" && NO_SUCH_FILE.has(e.code);
}
