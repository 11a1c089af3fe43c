/**
 * The data map in the console: every approved collection with its purpose,
 * legal basis, retention, regions and approval, each field with its category,
 * sensitivity and minimisation, and the exports (the record of processing
 * activities as CSV and Markdown, fideslang YAML) to download, and the routes
 * anyone may call with why. The map is public (`GET /v1/data-map`); every role
 * sees it.
 */
import { useEffect, useState } from "preact/hooks";
import { api, type ApiError, apiText, download } from "../shared/api.ts";
import { Button, Card, Notice, Table } from "../shared/ui.tsx";
import type { DataMap } from "@phonehome/shared";

const EXPORTS = [
  { format: "ropa-csv", file: "ropa.csv", label: "Record of processing (CSV)" },
  { format: "ropa-md", file: "ropa.md", label: "Record of processing (Markdown)" },
  { format: "fides", file: "phonehome.fides.yaml", label: "fideslang YAML" },
] as const;

export function DataMapView() {
  const [map, setMap] = useState<DataMap | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  useEffect(() => {
    api<DataMap>("/v1/data-map")
      .then(setMap)
      .catch((e: ApiError) => setProblem(e.message));
  }, []);
  if (problem !== null) return <Notice kind="error">{problem}</Notice>;
  if (map === null) return <p role="status">Loading the data map…</p>;
  const save = async (format: string, file: string) => {
    try {
      download(file, await apiText(`/v1/data-map?format=${format}`));
    } catch (error) {
      setProblem((error as ApiError).message);
    }
  };
  return (
    <>
      <h1>Data map</h1>
      <div class="actions" role="group" aria-label="Exports">
        {EXPORTS.map((e) => (
          <Button key={e.format} kind="secondary" onClick={() => save(e.format, e.file)}>
            {e.label}
          </Button>
        ))}
      </div>
      <Card title="Regions">
        <Table
          caption="Where data is stored, and for which markets"
          columns={["Region", "Stored in", "Markets", "Variants"]}
          rows={map.regions.map((r) => [
            r.id,
            r.storedIn,
            r.isDefault
              ? `every market not named${r.markets.length > 0 ? `, and ${r.markets.join(", ")}` : ""}`
              : r.markets.join(", "),
            r.variants.join(", "),
          ])}
        />
      </Card>
      <Card title="Collections">
        <Table
          caption="Approved collections"
          columns={["Collection", "Purpose", "Legal basis", "Kept", "Regions", "Approved"]}
          rows={map.collections.map((c) => [
            `${c.name} v${c.version}`,
            c.purpose,
            c.legalBasis,
            c.retention,
            c.regions.map((r) => r.id).join(", "),
            c.approval === null
              ? "—"
              : `${c.approval.reviewer}, ${c.approval.date} (${c.approval.reference})`,
          ])}
        />
        {map.collections.map((c) => (
          <details key={`${c.name}-${c.version}`}>
            <summary>
              Fields of {c.name} v{c.version}
            </summary>
            <Table
              caption={`${c.name} v${c.version}`}
              columns={["Field", "Data category", "Sensitivity", "Stored", "Kept"]}
              rows={c.fields.map((f) => [
                f.name,
                f.dataCategory,
                String(f.sensitivity),
                f.transform,
                f.retention,
              ])}
            />
          </details>
        ))}
      </Card>
      <Card title="Public routes">
        <Table
          caption="What answers without a token, and why"
          columns={["Service", "Route", "Why"]}
          rows={map.publicRoutes.map((r) => [r.service, `${r.method} ${r.path}`, r.why])}
        />
      </Card>
    </>
  );
}
