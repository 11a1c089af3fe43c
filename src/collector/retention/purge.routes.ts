/**
 * The operator's purge API on each region's collector: what is past its
 * retention, a surgical purge of data collected by mistake, and the record of
 * past runs. The same services as `phonehome purge`, for a running system
 * (whose embedded store no other process may open). Every route needs the
 * service token: a purge destroys data and its records name what went.
 */
import type { DeviceTable } from "../device-data/index.ts";
import { SERVICE_TOKEN_ACTOR } from "../../core/audit-log/index.ts";
import { type Static, Type as T } from "@sinclair/typebox";
import type { Db } from "../../core/db/index.ts";
import type { Dictionary } from "../../core/dictionary/index.ts";
import { PhoneHomeError } from "../../core/errors/index.ts";
import type { Logger } from "../../core/log/index.ts";
import type { App, ErrorResponseBody } from "../../core/http/index.ts";
import { serviceTokenCheck } from "../../core/http/index.ts";
import { toJson } from "./purge.presenter.ts";
import { listPurgeRuns, type PurgeRunRecord } from "./purge.repository.ts";
import {
  checkSurgicalRequest,
  type PurgeResult,
  planPurge,
  planSurgicalPurge,
  runPurge,
  runSurgicalPurge,
} from "./purge.service.ts";
import type { ServiceTokenSource } from "../../core/http/index.ts";

const Problem = T.Unsafe<ErrorResponseBody>({ $ref: "ErrorResponse#" });

const DryRun = T.Optional(
  T.Boolean({ description: "count and record what would be removed; remove nothing (default false)" }),
);

const RetentionPurgeBody = T.Object({ dryRun: DryRun }, { additionalProperties: false });

const SurgicalPurgeBody = T.Object(
  {
    collection: T.String({
      minLength: 1,
      maxLength: 200,
      description: "the collection collected by mistake",
    }),
    version: T.Optional(T.Integer({ minimum: 1, description: "only this version (default: every version)" })),
    field: T.Optional(
      T.String({ minLength: 1, maxLength: 200, description: "remove only this field (default: whole rows)" }),
    ),
    from: T.String({ format: "date-time", description: "received at or after this instant" }),
    to: T.String({ format: "date-time", description: "received before this instant" }),
    reason: T.String({ minLength: 1, maxLength: 2000, description: "why it goes; kept in the record" }),
    dryRun: DryRun,
  },
  { additionalProperties: false },
);
type SurgicalPurgeBody = Static<typeof SurgicalPurgeBody>;

const Step = {
  table: T.String(),
  action: T.String({ description: "drop-partition, delete-rows or remove-field" }),
  partition: T.Optional(T.String()),
  collection: T.Optional(T.String()),
  version: T.Optional(T.Integer()),
  field: T.Optional(T.String()),
  due: T.Integer({ description: "rows the step touches, counted when planned" }),
};
const Tables = T.Record(
  T.String(),
  T.Object({ rows: T.Integer(), fields: T.Integer(), partitions: T.Array(T.String()) }),
);
const PurgeReport = T.Object(
  {
    region: T.String(),
    plan: T.Object({
      kind: T.String(),
      asOf: T.String({ format: "date-time" }),
      steps: T.Array(T.Object(Step)),
      tables: Tables,
      total: T.Integer(),
    }),
    result: T.Object({
      runId: T.Integer({ description: "the run's id in the region's purge records" }),
      kind: T.String(),
      dryRun: T.Boolean(),
      asOf: T.String({ format: "date-time" }),
      steps: T.Array(
        T.Object({
          ...Step,
          removed: T.Integer(),
          skipped: T.Boolean(),
          skippedBecause: T.Optional(
            T.String({
              description: "why a skipped step was skipped (a partition the purge could not detach)",
            }),
          ),
        }),
      ),
      tables: Tables,
      removed: T.Integer(),
      sha256: T.String({ description: "SHA-256 over the removed rows' keys (docs/retention.md)" }),
    }),
  },
  { description: "What the purge planned and what it did, as `phonehome purge --json` prints it" },
);

const PurgeRun = T.Object({
  id: T.Integer(),
  kind: T.String(),
  dryRun: T.Boolean(),
  asOf: T.String({ format: "date-time" }),
  startedAt: T.String({ format: "date-time" }),
  finishedAt: T.Union([T.String({ format: "date-time" }), T.Null()], {
    description: "null while running, or when the run stopped before its end",
  }),
  reason: T.Union([T.String(), T.Null()]),
  scope: T.Union([T.Record(T.String(), T.Unknown()), T.Null()]),
  counts: T.Record(T.String(), T.Unknown()),
  removed: T.Integer(),
  sha256: T.Union([T.String(), T.Null()]),
});

const RunsQuery = T.Object(
  { limit: T.Optional(T.String({ pattern: "^[1-9][0-9]{0,2}$", description: "runs, 1-500 (default 50)" })) },
  { additionalProperties: false },
);

/** What the purge routes need. */
export interface PurgeRouteDeps {
  region: string;
  db: Db;
  dictionary: Dictionary;
  /** The region's device tables: how each one's rows expire. */
  tables: readonly DeviceTable[];
  serviceToken: ServiceTokenSource;
  logger: Logger;
  /** Aborted when the collector shuts down: a purge under way stops between chunks. */
  signal: AbortSignal;
}

/** Registers `GET /v1/purges`, `POST /v1/purges/retention` and `POST /v1/purges/surgical`. */
export function registerPurgeRoutes(app: App, deps: PurgeRouteDeps): void {
  const { db, dictionary, tables, region, logger, signal } = deps;
  const onRequest = serviceTokenCheck(deps.serviceToken);
  const tags = ["retention"];
  const security = [{ serviceToken: [] }];
  const errors = { 400: Problem, 401: Problem, 409: Problem, 500: Problem, 503: Problem };

  /** Runs a purge for a request; a shutdown under way answers `service.unavailable`. */
  const carryOut = async (run: () => Promise<PurgeResult>): Promise<PurgeResult> => {
    if (signal.aborted) throw shuttingDown();
    try {
      return await run();
    } catch (error) {
      if (signal.aborted && (error as Error).name === "AbortError") throw shuttingDown();
      throw error;
    }
  };

  app.get(
    "/v1/purges",
    {
      onRequest,
      schema: {
        tags,
        security,
        summary: "The region's purge runs (retention and surgical, dry runs included), newest first",
        querystring: RunsQuery,
        response: { 200: T.Object({ runs: T.Array(PurgeRun) }), 400: Problem, 401: Problem, 500: Problem },
      },
    },
    async (request) => {
      const limit = Number(request.query.limit ?? 50);
      if (limit > 500) {
        throw new PhoneHomeError("request.invalid", "limit is at most 500", { path: "/querystring/limit" });
      }
      return { runs: (await listPurgeRuns(db, limit)).map(presentRun) };
    },
  );

  app.post(
    "/v1/purges/retention",
    {
      onRequest,
      schema: {
        tags,
        security,
        summary: "Remove what is past its retention now (the schedule's purge, on demand)",
        description:
          "Drops the diagnostics partitions whose month has ended, deletes the other expired rows and removes fields past their own retention, in chunks; records the run. The instant is the collector's clock: only `phonehome purge --now` (on a stopped collector's store) may purge as of another instant.",
        body: RetentionPurgeBody,
        response: { 200: PurgeReport, ...errors },
      },
    },
    async (request) => {
      const now = new Date();
      const dryRun = request.body.dryRun ?? false;
      const plan = await planPurge(db, now, { dictionary, tables });
      const result = await carryOut(() =>
        runPurge(db, now, { dictionary, tables, dryRun, signal, actor: SERVICE_TOKEN_ACTOR }),
      );
      logger.info({ runId: result.runId, dryRun, removed: result.removed }, "retention purge requested");
      return toJson(region, plan, result);
    },
  );

  app.post(
    "/v1/purges/surgical",
    {
      onRequest,
      schema: {
        tags,
        security,
        summary: "Purge one field, or one collection (version), received within a window, across the region",
        description:
          "The case of a field shipped by mistake. Ask with `dryRun: true` first: the counts it answers are the counts the real run removes (unless data arrives meanwhile). The run is recorded with its reason.",
        body: SurgicalPurgeBody,
        response: { 200: PurgeReport, ...errors },
      },
    },
    async (request) => {
      const body: SurgicalPurgeBody = request.body;
      const now = new Date();
      const dryRun = body.dryRun ?? false;
      const checked = checkSurgicalRequest(dictionary, {
        collection: body.collection,
        version: body.version,
        field: body.field,
        from: new Date(body.from),
        to: new Date(body.to),
        reason: body.reason,
      });
      const plan = await planSurgicalPurge(db, now, checked, { dictionary, tables });
      const result = await carryOut(() =>
        runSurgicalPurge(db, now, checked, {
          dictionary,
          tables,
          dryRun,
          signal,
          actor: SERVICE_TOKEN_ACTOR,
        }),
      );
      logger.warn(
        {
          runId: result.runId,
          dryRun,
          removed: result.removed,
          collection: checked.collection,
          reason: checked.reason,
        },
        "surgical purge requested",
      );
      return toJson(region, plan, result);
    },
  );
}

function shuttingDown(): PhoneHomeError {
  return new PhoneHomeError(
    "service.unavailable",
    "the collector is shutting down; the purge stopped between chunks and its record is left unfinished",
  );
}

function presentRun(run: PurgeRunRecord): Static<typeof PurgeRun> {
  return {
    ...run,
    asOf: run.asOf.toISOString(),
    startedAt: run.startedAt.toISOString(),
    finishedAt: run.finishedAt === null ? null : run.finishedAt.toISOString(),
  };
}
