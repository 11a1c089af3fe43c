/**
 * Opening the device's data with its token: every region's export, read page
 * by page, shown by purpose, downloadable.
 */
import { useEffect, useState } from "preact/hooks";
import { api, type ApiError, download } from "../shared/api.ts";
import { Button, Card, day, Field, Notice, Table } from "../shared/ui.tsx";
import { basisWords, purposeWords, transformWords } from "@phonehome/shared";
import type {
  AccessExport,
  ExportRecord,
  OwnerExportPage,
  OwnerRecordsPage,
  PortalConfig,
  Region,
  RegionList,
} from "@phonehome/shared";
import { Program } from "./program.tsx";
import { Erasure } from "./erasure.tsx";

export type Held = { region: Region; data: AccessExport } | { region: Region; error: ApiError };

/**
 * A region's whole export: the region answers it in pages (the first with the
 * cursor of the rest, `next`), read here one after the other and joined, so
 * what is shown and downloaded holds every record.
 */
export async function readExport(region: Region, token: string): Promise<AccessExport> {
  const first = await api<OwnerExportPage>(`${region.url}/v1/owner/data`, { token });
  const { next: firstNext, ...data } = first;
  const records = [...data.records];
  let next = firstNext;
  while (next !== null) {
    const page = await api<OwnerRecordsPage>(
      `${region.url}/v1/owner/data/records?cursor=${encodeURIComponent(next)}`,
      { token },
    );
    records.push(...page.records);
    next = page.next;
  }
  return { ...data, records };
}

export function OpenForm(props: { token: string; onToken: (t: string) => void; onOpen: () => void }) {
  const [problem, setProblem] = useState<string | null>(null);
  return (
    <Card title="Open with your device's token">
      <p>
        Your phone shows a token under Settings › Privacy › Your data, as text and as a QR code. Scan the
        code, or copy the text here. The token stays in this page: nobody else sees your data.
      </p>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          if (props.token.trim() === "") {
            setProblem("Paste or type the token your device shows.");
            return;
          }
          setProblem(null);
          props.onOpen();
        }}
      >
        <Field
          label="Device token"
          hint="A long line of letters, digits, dots and dashes."
          multiline
          name="token"
          value={props.token}
          onInput={(v) => props.onToken(v.trim())}
        />
        {problem === null ? null : <Notice kind="error">{problem}</Notice>}
        <div class="actions">
          <button type="submit" class="button primary">
            Open my data
          </button>
        </div>
      </form>
    </Card>
  );
}

export function DeviceData(props: { config: PortalConfig; token: string; onClose: () => void }) {
  const [held, setHeld] = useState<Held[] | null>(null);
  const [failure, setFailure] = useState<ApiError | null>(null);
  // Bumped after a decision, to read what the regions hold again.
  const [reads, setReads] = useState(0);
  // After an erasure the token opens nothing more (docs/owners.md): what was held is no longer shown.
  const [erased, setErased] = useState(false);
  useEffect(() => {
    let live = true;
    (async () => {
      const { regions } = await api<RegionList>(`${props.config.controlPlane}/v1/regions`);
      const answers = await Promise.all(
        regions.map(async (region): Promise<Held> => {
          try {
            return {
              region,
              data: await readExport(region, props.token),
            };
          } catch (error) {
            return { region, error: error as ApiError };
          }
        }),
      );
      if (live) setHeld(answers);
    })().catch((e: ApiError) => live && setFailure(e));
    return () => {
      live = false;
    };
  }, [props.token, reads]);

  if (failure !== null) return <Notice kind="error">{failure.message}</Notice>;
  if (held === null) return <p role="status">Asking every region what it holds…</p>;
  const refused = held.filter((h): h is { region: Region; error: ApiError } => "error" in h);
  const everyRegion = (code: string) =>
    refused.length === held.length && refused.every((h) => h.error.code === code);
  const tokenProblem = everyRegion("auth.owner_token_invalid")
    ? "Check that you copied all of it; a token lasts a short while, so ask the device for a new one if it is old."
    : everyRegion("auth.owner_token_revoked")
      ? "The key that signed it was revoked. If a service centre gave the device a new key, ask the device for a new token: its data is still there."
      : null;
  if (tokenProblem !== null) {
    return (
      <>
        <Notice kind="error">
          The token was not accepted: {refused[0]?.error.message}. {tokenProblem}
        </Notice>
        <div class="actions">
          <Button kind="secondary" onClick={() => props.onClose()}>
            Try another token
          </Button>
        </div>
      </>
    );
  }
  const answered = held.filter((h): h is { region: Region; data: AccessExport } => "data" in h);
  const device = answered[0]?.data.device ?? "";
  return (
    <>
      <Card title="What is held about your device">
        {erased ? (
          <p>
            Device <code>{device}</code>. The token was used up by the erasure: it opens nothing more, so that
            nobody who copied it can. To see what is still held, and why, ask your device for a new token.
          </p>
        ) : (
          <p>
            Device <code>{device}</code>. Every region that stores data for phonehome answered below,
            including those that hold nothing about your device.
          </p>
        )}
        <div class="actions">
          {erased ? null : (
            <Button
              onClick={() =>
                download(`phonehome-export-${device.slice(0, 16) || "device"}.json`, {
                  device,
                  exportedAt: new Date().toISOString(),
                  regions: answered.map((h) => h.data),
                  unanswered: refused.map((h) => ({ region: h.region.id, error: h.error.message })),
                })
              }
            >
              Download everything (JSON)
            </Button>
          )}
          <Button kind="secondary" onClick={() => props.onClose()}>
            Close
          </Button>
        </div>
        {refused.map((h) => (
          <Notice kind="error" key={h.region.id}>
            Region {h.region.id} did not answer: {h.error.message}
          </Notice>
        ))}
      </Card>
      {erased ? null : answered.map((h) => <RegionHeld key={h.region.id} held={h.data} />)}
      {erased ? null : (
        <Program
          regions={answered.map((h) => h.region)}
          token={props.token}
          onChange={() => setReads((n) => n + 1)}
        />
      )}
      <Erasure config={props.config} token={props.token} onErased={() => setErased(true)} />
    </>
  );
}

export function RegionHeld(props: { held: AccessExport }) {
  const { held } = props;
  const byPurpose = new Map<string, ExportRecord[]>();
  for (const r of held.records) byPurpose.set(r.purpose, [...(byPurpose.get(r.purpose) ?? []), r]);
  return (
    <Card title={`Region ${held.region} — stored in ${held.storedIn}`}>
      {held.records.length === 0 ? (
        <p>Nothing about your device is stored in this region.</p>
      ) : (
        [...byPurpose].map(([purpose, records]) => (
          <section key={purpose} aria-label={purposeWords(purpose)}>
            <h3>{purposeWords(purpose)}</h3>
            {records.map((r) => (
              <div key={`${r.collection}-${r.storedAt}`}>
                <p>{r.description}</p>
                <dl class="facts">
                  <dt>Why it is held</dt>
                  <dd>{basisWords(r.legalBasis)}</dd>
                  <dt>Stored in</dt>
                  <dd>
                    {held.storedIn} (region {held.region})
                  </dd>
                  <dt>Received</dt>
                  <dd>{day(r.storedAt)}</dd>
                  <dt>Deleted by</dt>
                  <dd>{day(r.expiresAt)}</dd>
                </dl>
                <Table
                  caption={`${r.collection} (version ${r.schemaVersion})`}
                  columns={["Field", "Value", "What it is", "How it is stored"]}
                  rows={r.fields.map((f) => [
                    f.name,
                    <code key="v">{typeof f.value === "string" ? f.value : JSON.stringify(f.value)}</code>,
                    f.description,
                    transformWords(f.transform),
                  ])}
                />
              </div>
            ))}
          </section>
        ))
      )}
    </Card>
  );
}
