/**
 * Erasing the device's data in every region, and the receipts that say what
 * was deleted and what was kept.
 */
import { useState } from "preact/hooks";
import { api, type ApiError, download } from "../shared/api.ts";
import { Button, Card, day, Notice, Table } from "../shared/ui.tsx";
import { basisWords, recordWords } from "@phonehome/shared";
import type { ErasureReceipt, PortalConfig, SubjectRequest } from "@phonehome/shared";

/** Erasure in every region at once, with each region's signed receipt: what was deleted, what is kept and why. */
export function Erasure(props: { config: PortalConfig; token: string; onErased: () => void }) {
  const [asking, setAsking] = useState(false);
  const [busy, setBusy] = useState(false);
  const [done, setDone] = useState<SubjectRequest | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  // One request id for this page: a retry after a region did not answer repeats the same request,
  // which the token may still ask once it has started an erasure (docs/owners.md).
  const [requestId] = useState(() => crypto.randomUUID());
  const erase = async () => {
    setBusy(true);
    setProblem(null);
    try {
      setDone(
        await api<SubjectRequest>(`${props.config.controlPlane}/v1/subject-requests/erasure`, {
          method: "POST",
          token: props.token,
          body: { requestId },
        }),
      );
      setAsking(false);
      props.onErased();
    } catch (error) {
      setProblem((error as ApiError).message);
    } finally {
      setBusy(false);
    }
  };
  return (
    <Card title="Erase your data">
      <p>
        Every region deletes what it may about your device and signs a receipt that says what it deleted, and
        what it must keep and why (your warranty, proof of your decisions).
      </p>
      {done !== null ? null : asking ? (
        <div class="actions" role="group" aria-label="Confirm the erasure">
          <Button kind="danger" disabled={busy} onClick={erase}>
            Yes, erase my data
          </Button>
          <Button kind="secondary" disabled={busy} onClick={() => setAsking(false)}>
            Cancel
          </Button>
        </div>
      ) : (
        <div class="actions">
          <Button kind="danger" onClick={() => setAsking(true)}>
            Erase my data…
          </Button>
        </div>
      )}
      {problem === null ? null : <Notice kind="error">{problem}</Notice>}
      {done === null ? null : (
        <Notice kind={done.status === "complete" ? "success" : "error"}>
          <p>
            {done.status === "complete" ? "Erased in every region." : "Not every region answered; try again."}{" "}
            Request <code>{done.requestId}</code>.
          </p>
          {erasureReceipts(done).map((r) => (
            <Table
              key={r.region}
              caption={`Region ${r.region} (stored in ${r.receipt.storedIn}), ${day(r.receipt.erasedAt)}`}
              columns={["What", "Deleted", "Kept", "Why it is kept"]}
              rows={receiptRows(r.receipt)}
            />
          ))}
          <div class="actions">
            <Button
              kind="secondary"
              onClick={() => download(`erasure-receipts-${done.requestId}.json`, done)}
            >
              Download the receipts
            </Button>
          </div>
        </Notice>
      )}
    </Card>
  );
}

/** The receipts of an erasure request: each region's erasure receipt (an access receipt is never among them). */
function erasureReceipts(request: SubjectRequest): { region: string; receipt: ErasureReceipt }[] {
  return request.receipts.flatMap((r) =>
    "deleted" in r.receipt ? [{ region: r.region, receipt: r.receipt }] : [],
  );
}

/** One row per kind of record in an erasure receipt: how many went, how many stay, and why. */
export function receiptRows(receipt: ErasureReceipt): string[][] {
  const kinds = [
    ...new Set([...receipt.deleted.map((d) => d.collection), ...receipt.kept.map((k) => k.collection)]),
  ];
  return kinds.map((kind) => {
    const deleted = receipt.deleted.filter((d) => d.collection === kind).reduce((n, d) => n + d.count, 0);
    const kept = receipt.kept.filter((k) => k.collection === kind && k.count > 0);
    const stays = kept.reduce((n, k) => n + k.count, 0);
    const why = kept
      .map(
        (k) =>
          `${k.reason} (${basisWords(k.legalBasis)}${k.until === null ? "" : `, until ${day(k.until)}`})`,
      )
      .join("; ");
    return [recordWords(kind), String(deleted), String(stays), why];
  });
}
