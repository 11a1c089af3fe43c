/**
 * What we collect, for anyone: the data map in plain words, per purpose.
 */
import { useEffect, useState } from "preact/hooks";
import { api, type ApiError } from "../shared/api.ts";
import { Card, day, Notice, Table } from "../shared/ui.tsx";
import { basisWords, purposeWords, transformWords } from "@phonehome/shared";
import type { DataMap, PortalConfig } from "@phonehome/shared";

/** The public transparency page: the data map, in plain language. */
export function Transparency(props: { config: PortalConfig }) {
  const [map, setMap] = useState<DataMap | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  useEffect(() => {
    api<DataMap>(`${props.config.controlPlane}/v1/data-map`)
      .then(setMap)
      .catch((e: ApiError) => setProblem(e.message));
  }, []);
  if (problem !== null) return <Notice kind="error">{problem}</Notice>;
  if (map === null) return <p role="status">Loading the data map…</p>;
  return (
    <>
      <h1>What phonehome collects, and why</h1>
      <p>
        Everything a device may send home is listed here, generated from the approved data dictionary on{" "}
        {day(map.generatedAt)}. Nothing else is accepted: a device that sends anything not listed is refused.
      </p>
      <Card title="Where data is stored">
        <ul>
          {map.regions.map((r) => (
            <li key={r.id}>
              Region {r.id}, stored in {r.storedIn}: devices sold in{" "}
              {r.isDefault
                ? `every market not named elsewhere${r.markets.length > 0 ? `, and ${r.markets.join(", ")}` : ""}`
                : r.markets.join(", ")}
              .
            </li>
          ))}
        </ul>
        <p>
          A device's data is stored only in the region of the market it was sold in, and shared with no one
          else.
        </p>
      </Card>
      {map.collections.map((c) => (
        <Card key={`${c.name}-${c.version}`} title={purposeWords(c.purpose)}>
          <p>{c.description}</p>
          <dl class="facts">
            <dt>Why</dt>
            <dd>{basisWords(c.legalBasis)}</dd>
            <dt>Kept for</dt>
            <dd>{c.retention}</dd>
            <dt>Stored in</dt>
            <dd>{c.regions.map((r) => `${r.id} (${r.storedIn})`).join(", ")}</dd>
            <dt>Who receives it</dt>
            <dd>{c.recipients.join(", ")}</dd>
          </dl>
          <Table
            caption={`${c.name}, version ${c.version}`}
            columns={["Field", "What it is", "Kind of data", "How it is stored"]}
            rows={c.fields.map((f) => [
              f.name,
              f.description,
              f.categoryDescription,
              transformWords(f.transform),
            ])}
          />
        </Card>
      ))}
      <Card title="What anyone can read without signing in">
        <p>
          These are the only addresses of phonehome that answer without a device's token or an operator's
          sign-in. None of them names a device or counts what devices do: counts are for the maker's
          operators, with a permission.
        </p>
        <Table
          caption="Public addresses, and why each may be public"
          columns={["Where", "Address", "Why"]}
          rows={map.publicRoutes.map((r) => [r.service, `${r.method} ${r.path}`, r.why])}
        />
      </Card>
    </>
  );
}
