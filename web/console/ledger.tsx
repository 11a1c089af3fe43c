/**
 * The ingest ledger in the console: what every region stored and refused,
 * by reason, region, batch and build, over time. Misrouting — devices of one
 * region's market reaching another region — is said first, in words, so it
 * cannot be missed. The chart (uPlot) has the table beside it, which is what
 * a screen reader reads.
 */
import { useEffect, useRef, useState } from "preact/hooks";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import { api, type ApiError } from "../shared/api.ts";
import { Card, Notice, Table } from "../shared/ui.tsx";
import type { GatheredLedger } from "@phonehome/shared";

type Ledger = GatheredLedger;
type Row = GatheredLedger["rows"][number];

const WINDOWS = [
  { label: "Last hour", hours: 1 },
  { label: "Last 24 hours", hours: 24 },
  { label: "Last 7 days", hours: 168 },
] as const;

/** Sums `count` by the key `keyOf` gives each row, largest first. */
function sums<K extends string>(rows: readonly Row[], keyOf: (r: Row) => K): [K, number][] {
  const out = new Map<K, number>();
  for (const r of rows) out.set(keyOf(r), (out.get(keyOf(r)) ?? 0) + r.count);
  return [...out].sort((a, b) => b[1] - a[1]);
}

export function IngestLedger(props: { token: string }) {
  const [hours, setHours] = useState<number>(24);
  const [ledger, setLedger] = useState<Ledger | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  useEffect(() => {
    const since = new Date(Date.now() - hours * 3_600_000).toISOString();
    api<Ledger>(`/v1/ledger?since=${encodeURIComponent(since)}`, { token: props.token })
      .then((l) => {
        setLedger(l);
        setProblem(null);
      })
      .catch((e: ApiError) => setProblem(e.message));
  }, [hours, props.token]);
  if (problem !== null) return <Notice kind="error">{problem}</Notice>;
  if (ledger === null) return <p role="status">Reading every region's ledger…</p>;
  const refused = ledger.rows.filter((r) => r.outcome === "refused");
  const misrouted = refused.filter((r) => r.reason === "region.misrouted");
  const stored = ledger.rows.filter((r) => r.outcome === "stored");
  return (
    <>
      <h1>Ingest ledger</h1>
      <div class="actions" role="group" aria-label="Time window">
        {WINDOWS.map((w) => (
          <button
            key={w.hours}
            type="button"
            class={`button ${w.hours === hours ? "primary" : "secondary"}`}
            aria-pressed={w.hours === hours}
            onClick={() => setHours(w.hours)}
          >
            {w.label}
          </button>
        ))}
      </div>
      {misrouted.length === 0 ? (
        <Notice kind="success">No misrouting: no device reached another region's collector.</Notice>
      ) : (
        <Notice kind="error">
          <strong>Misrouting:</strong>{" "}
          {sums(misrouted, (r) => `${r.region}|${r.batch}|${r.build}|${r.market}`)
            .map(([key, n]) => {
              const [region, batch, build, market] = key.split("|");
              return `${n} message${n === 1 ? "" : "s"} from devices sold in ${market} (batch ${batch}, build ${build}) reached region ${region}`;
            })
            .join("; ")}
          . Nothing of theirs was stored there.
        </Notice>
      )}
      {ledger.missing.map((m) => (
        <Notice kind="error" key={m.region}>
          Region {m.region} did not answer ({m.reason}): its counts are missing, not zero.
        </Notice>
      ))}
      {ledger.truncated.length === 0 ? null : (
        <Notice kind="info">
          Region {ledger.truncated.join(", ")} had more rows than one answer holds: choose a shorter window.
        </Notice>
      )}
      <Card title="Refusals over time">
        <RefusalChart rows={refused} hours={hours} />
      </Card>
      <Card title="Refusals by reason, region, batch and build">
        <Table
          caption={`${refused.reduce((n, r) => n + r.count, 0)} refused, ${stored.reduce((n, r) => n + r.count, 0)} stored`}
          columns={["Reason", "Region", "Batch", "Build", "Market", "Refused"]}
          rows={sums(refused, (r) => `${r.reason}|${r.region}|${r.batch}|${r.build}|${r.market}`).map(
            ([key, n]) => [...key.split("|"), String(n)],
          )}
        />
      </Card>
      <Card title="Stored by region">
        {stored.length === 0 ? (
          <p>Nothing was stored in this window.</p>
        ) : (
          <Table
            caption="Messages stored"
            columns={["Region", "Stored"]}
            rows={sums(stored, (r) => r.region).map(([region, n]) => [region, String(n)])}
          />
        )}
      </Card>
    </>
  );
}

/** Refusals per time bucket, one line per reason (uPlot); the table above says the same in words. */
function RefusalChart(props: { rows: readonly Row[]; hours: number }) {
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const el = box.current;
    if (el === null) return;
    const bucket = props.hours <= 1 ? 60 : props.hours <= 24 ? 3600 : 6 * 3600;
    const end = Math.ceil(Date.now() / 1000 / bucket) * bucket;
    const start = end - props.hours * 3600;
    const times: number[] = [];
    for (let t = start; t < end; t += bucket) times.push(t);
    const reasons = [...new Set(props.rows.map((r) => r.reason))].sort();
    const series = reasons.map((reason) => {
      const counts = times.map(() => 0);
      for (const r of props.rows.filter((x) => x.reason === reason)) {
        const i = Math.floor((Date.parse(r.minute) / 1000 - start) / bucket);
        if (i >= 0 && i < counts.length) counts[i] = (counts[i] ?? 0) + r.count;
      }
      return counts;
    });
    const palette = ["#a3182b", "#0b5cad", "#8a5a00", "#1d6b35", "#5b3c88", "#4a5361"];
    const chart = new uPlot(
      {
        width: Math.max(320, el.clientWidth),
        height: 240,
        series: [
          {},
          ...reasons.map((reason, i) => ({
            label: reason,
            stroke: palette[i % palette.length],
            width: reason === "region.misrouted" ? 3 : 1.5,
          })),
        ],
        axes: [{}, { label: "refused" }],
      },
      [times, ...series],
      el,
    );
    return () => chart.destroy();
  }, [props.rows, props.hours]);
  return props.rows.length === 0 ? (
    <p>No refusal in this window.</p>
  ) : (
    <div ref={box} role="img" aria-label="Refusals over time by reason; the table below lists them" />
  );
}
