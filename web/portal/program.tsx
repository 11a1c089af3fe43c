/**
 * The User Experience Program: its notice, the owner's decision in every
 * region, and the receipts of each.
 */
import type { CurrentNotice, DeviceConsents, Region, SignedReceipt } from "@phonehome/shared";
import DOMPurify from "dompurify";
import { marked } from "marked";
import { useEffect, useState } from "preact/hooks";
import { api, type ApiError, download } from "../shared/api.ts";
import { Button, Card, day, Notice } from "../shared/ui.tsx";

// A notice's headings sit inside the program's card (an h2): its own levels start at h3.
marked.use({
  renderer: {
    heading({ tokens, depth }) {
      const level = Math.min(depth + 2, 6);
      return `<h${level}>${this.parser.parseInline(tokens)}</h${level}>\n`;
    },
  },
});

export const PROGRAM = "uep.diagnostics";

/** The User Experience Program: the notice, the decision in force, joining or leaving, the receipt. */
export function Program(props: { regions: Region[]; token: string; onChange: () => void }) {
  const [home, setHome] = useState<Region | null>(null);
  const [notice, setNotice] = useState<CurrentNotice | null>(null);
  const [consents, setConsents] = useState<DeviceConsents | null>(null);
  const [receipt, setReceipt] = useState<SignedReceipt | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const first = props.regions[0];
  useEffect(() => {
    if (first === undefined) return;
    (async () => {
      const anywhere = await api<DeviceConsents>(`${first.url}/v1/owner/consents`, { token: props.token });
      const region = props.regions.find((r) => r.id === anywhere.homeRegion) ?? first;
      const lang = navigator.language.split("-")[0] ?? "en";
      const [n, c] = await Promise.all([
        api<CurrentNotice>(`${region.url}/v1/notices/${PROGRAM}?lang=${encodeURIComponent(lang)}`),
        api<DeviceConsents>(`${region.url}/v1/owner/consents`, { token: props.token }),
      ]);
      setHome(region);
      setNotice(n);
      setConsents(c);
    })().catch((e: ApiError) => setProblem(e.message));
  }, [first?.url, props.token]);

  if (problem !== null && notice === null) {
    return (
      <Card title="User Experience Program">
        <Notice kind="error">{problem}</Notice>
      </Card>
    );
  }
  if (home === null || notice === null || consents === null) return null;
  const inForce = consents.consents.find((c) => c.purpose === PROGRAM);
  const joined = inForce?.granted === true;
  const decide = async (granted: boolean) => {
    setBusy(true);
    setProblem(null);
    try {
      const signed = await api<SignedReceipt>(`${home.url}/v1/owner/consents/${PROGRAM}`, {
        method: "PUT",
        token: props.token,
        body: {
          granted,
          noticeVersion: notice.currentVersion,
          language: notice.notice.language,
          method: "portal",
        },
      });
      setReceipt(signed);
      setConsents(await api<DeviceConsents>(`${home.url}/v1/owner/consents`, { token: props.token }));
      props.onChange();
    } catch (error) {
      setProblem((error as ApiError).message);
    } finally {
      setBusy(false);
    }
  };
  return (
    <Card title="User Experience Program">
      <p>
        {joined
          ? "You are in the program: your device sends diagnostics about how the software performs."
          : "You are not in the program: your device sends no diagnostics."}
      </p>
      <details>
        <summary>Read the notice: {notice.notice.title}</summary>
        <div
          class="prose"
          // The notice is Markdown from the region; rendered by marked and sanitised by DOMPurify.
          dangerouslySetInnerHTML={{
            __html: DOMPurify.sanitize(marked.parse(notice.notice.text, { async: false })),
          }}
        />
        <dl class="facts">
          <dt>Kept for</dt>
          <dd>{notice.notice.scope.retention}</dd>
          <dt>Who decides</dt>
          <dd>
            {notice.notice.controller.name} ({notice.notice.controller.contact})
          </dd>
        </dl>
      </details>
      <div class="actions">
        {joined ? (
          <Button kind="secondary" disabled={busy} onClick={() => decide(false)}>
            Leave the program
          </Button>
        ) : (
          <Button disabled={busy} onClick={() => decide(true)}>
            Join the program
          </Button>
        )}
      </div>
      {problem === null ? null : <Notice kind="error">{problem}</Notice>}
      {receipt === null ? null : (
        <Notice kind="success">
          <p>
            {receipt.receipt.decision?.granted
              ? "You joined the program."
              : "You left the program; what it collected is erased."}{" "}
            Receipt <code>{receipt.receipt.receiptId}</code>, signed by region {home.id} on{" "}
            {day(receipt.receipt.issuedAt)}.
          </p>
          <div class="actions">
            <Button
              kind="secondary"
              onClick={() => download(`consent-receipt-${receipt.receipt.receiptId}.json`, receipt)}
            >
              Download the receipt
            </Button>
          </div>
        </Notice>
      )}
    </Card>
  );
}
