/**
 * `phonehome audit-log verify [--region R] [--expect SEQ:HASH]`: checks a
 * store's whole audit chain and names the first broken entry. It reads the
 * store directly, or — while a running service holds an embedded store — the
 * service's `GET /v1/audit-log` with the service token. Exit 0 intact, 1
 * broken.
 */
import type { Command } from "commander";
import { InvalidArgumentError } from "commander";
import { type Config, loadConfig } from "../config/index.ts";
import { openDb } from "../db/index.ts";
import { migrate } from "../db/index.ts";
import { isPhoneHomeError, PhoneHomeError } from "../errors/index.ts";
import { loadServiceToken } from "../keys/index.ts";
import { allAuditEntries, lastAnchor } from "./audit.repository.ts";
import { type AuditEntry, type ChainVerdict, verifyChain } from "./chain.ts";

/** Parses `SEQ:HASH`, a head published earlier. */
function publishedHead(value: string): { seq: number; hash: string } {
  const match = /^([1-9][0-9]{0,15}):([0-9a-f]{64})$/.exec(value);
  if (match === null) throw new InvalidArgumentError("must be SEQ:HASH, as GET /v1/audit-log/head answers");
  return { seq: Number(match[1]), hash: match[2] as string };
}

/** Pages through a running service's audit log. */
async function* overHttp(url: string, token: string): AsyncGenerator<AuditEntry> {
  let after = 0;
  for (;;) {
    const response = await fetch(`${url}/v1/audit-log?after=${after}&limit=1000`, {
      headers: { authorization: `Bearer ${token}` },
    }).catch((cause: unknown) => {
      throw new PhoneHomeError(
        "service.unavailable",
        `the store is in use and ${url} does not answer: ${(cause as Error).message}`,
        { cause },
      );
    });
    if (!response.ok)
      throw new PhoneHomeError("service.unavailable", `${url}/v1/audit-log answered ${response.status}`);
    const { entries } = (await response.json()) as { entries: AuditEntry[] };
    yield* entries;
    const last = entries[entries.length - 1];
    if (last === undefined || entries.length < 1000) return;
    after = last.seq;
  }
}

async function verifyStore(
  config: Config,
  region: string | undefined,
  expect: { seq: number; hash: string } | undefined,
): Promise<{ store: string; verdict: ChainVerdict }> {
  const target =
    region === undefined
      ? {
          name: "control-plane",
          store: config.controlPlane.store,
          url: config.controlPlane.url,
          kind: "control" as const,
        }
      : (() => {
          const r = config.regions.find((x) => x.id === region);
          if (r === undefined) {
            throw new PhoneHomeError("request.invalid", `no region ${region} in the configuration`, {
              path: "--region",
              problems: config.regions.map((x) => ({ path: x.id, message: "is a configured region" })),
            });
          }
          return { name: r.id, store: r.store, url: r.url, kind: "region" as const };
        })();
  try {
    const db = await openDb(target.store, `phonehome audit-log verify (${target.name})`);
    try {
      await migrate(db, target.kind);
      return { store: target.name, verdict: await verifyChain(allAuditEntries(db), expect) };
    } finally {
      await db.close();
    }
  } catch (error) {
    if (!isPhoneHomeError(error, "store.locked")) throw error;
    return {
      store: target.name,
      verdict: await verifyChain(overHttp(target.url, loadServiceToken(config.dataDir)), expect),
    };
  }
}

/** The last head of region `region`'s log the control plane anchored: from its store, or from the running control plane. */
async function anchorOf(config: Config, region: string): Promise<{ seq: number; hash: string }> {
  let anchor: { seq: number; hash: string } | null;
  try {
    const db = await openDb(config.controlPlane.store, "phonehome audit-log verify (anchors)");
    try {
      await migrate(db, "control");
      anchor = await lastAnchor(db, region);
    } finally {
      await db.close();
    }
  } catch (error) {
    if (!isPhoneHomeError(error, "store.locked")) throw error;
    const url = `${config.controlPlane.url}/v1/audit-log/anchors/${region}`;
    const response = await fetch(url).catch((cause: unknown) => {
      throw new PhoneHomeError(
        "service.unavailable",
        `the control plane's store is in use and ${url} does not answer: ${(cause as Error).message}`,
        { cause },
      );
    });
    if (response.status === 404) anchor = null;
    else if (!response.ok)
      throw new PhoneHomeError("service.unavailable", `${url} answered ${response.status}`);
    else anchor = (await response.json()) as { seq: number; hash: string };
  }
  if (anchor === null) {
    throw new PhoneHomeError("audit.not_anchored", `no head of region ${region}'s audit log is anchored yet`);
  }
  return { seq: anchor.seq, hash: anchor.hash };
}

/** Adds the `audit-log` commands to the program. */
export function register(program: Command): void {
  const audit = program.command("audit-log").description("the hash-chained audit log of each store");
  audit
    .command("verify")
    .description(
      "check a store's whole chain; name the first entry changed, deleted or out of order (exit 1)",
    )
    .option("--region <id>", "the region whose store to check (default: the control plane's)")
    .option("--expect <seq:hash>", "a head published earlier: the chain must still hold it", publishedHead)
    .option("--anchored", "with --region: the chain must still hold the head the control plane anchored last")
    .option("--json", "print the verdict as JSON")
    .action(
      async (options: {
        region?: string;
        expect?: { seq: number; hash: string };
        anchored?: boolean;
        json?: boolean;
      }) => {
        const config = loadConfig(program.opts().config);
        if (options.anchored === true && (options.region === undefined || options.expect !== undefined)) {
          throw new PhoneHomeError(
            "request.invalid",
            "--anchored goes with --region, and not with --expect",
            {
              path: "--anchored",
            },
          );
        }
        const expect =
          options.anchored === true && options.region !== undefined
            ? await anchorOf(config, options.region)
            : options.expect;
        const { store, verdict } = await verifyStore(config, options.region, expect);
        if (options.json === true) process.stdout.write(`${JSON.stringify({ store, ...verdict })}\n`);
        else if (verdict.ok) {
          process.stdout.write(
            `audit log of ${store}: intact, ${verdict.entries} entries; head ${verdict.head.seq}:${verdict.head.hash}\n`,
          );
        } else {
          process.stdout.write(
            `audit log of ${store}: BROKEN at entry ${verdict.broken?.seq}: ${verdict.broken?.problem}\n` +
              `  ${verdict.entries} entries verified before it\n`,
          );
        }
        if (!verdict.ok) process.exitCode = 1;
      },
    );
}
