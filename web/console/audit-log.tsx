/**
 * The audit log in the console: its entries, and its chain checked in the
 * browser.
 */
import { useEffect, useState } from "preact/hooks";
import { api, type ApiError } from "../shared/api.ts";
import { Card, Field, Notice, Table } from "../shared/ui.tsx";
import { type AuditEntry, firstBroken } from "./sign.ts";
import type { Session } from "./session.ts";

export function AuditLog(props: { session: Session }) {
  const [entries, setEntries] = useState<AuditEntry[] | null>(null);
  const [verdict, setVerdict] = useState<string | null>(null);
  const [filter, setFilter] = useState("");
  const [problem, setProblem] = useState<string | null>(null);
  useEffect(() => {
    (async () => {
      const all: AuditEntry[] = [];
      for (;;) {
        const after = all.at(-1)?.seq ?? 0;
        const page = await api<{ entries: AuditEntry[] }>(`/v1/audit-log?after=${after}&limit=1000`, {
          token: props.session.token,
        });
        all.push(...page.entries);
        if (page.entries.length < 1000) break;
      }
      setEntries(all);
      const broken = await firstBroken(all);
      setVerdict(
        broken === null
          ? `The chain verifies: ${all.length} entries, each hashed over the one before.`
          : `The chain is broken at entry ${broken.seq}: ${broken.problem}.`,
      );
    })().catch((e: ApiError) => setProblem(e.message));
  }, []);
  if (problem !== null) return <Notice kind="error">{problem}</Notice>;
  if (entries === null) return <p role="status">Loading the audit log…</p>;
  const shown = entries.filter((e) =>
    filter === "" ? true : [e.action, e.actor, e.subject, e.reason ?? ""].some((v) => v.includes(filter)),
  );
  return (
    <>
      <h1>Audit log</h1>
      <Notice kind={verdict?.startsWith("The chain verifies") ? "success" : "error"}>{verdict}</Notice>
      <Card title="Entries">
        <Field
          label="Filter"
          hint="Shows the entries whose action, actor, subject or reason contains this."
          name="filter"
          value={filter}
          onInput={setFilter}
        />
        <Table
          caption={`${shown.length} of ${entries.length} entries, newest first`}
          columns={["#", "When", "Who", "What", "On", "Why"]}
          rows={[...shown]
            .reverse()
            .map((e) => [
              String(e.seq),
              new Date(e.at).toISOString().replace("T", " ").slice(0, 19),
              e.actor,
              e.action,
              e.subject,
              e.reason ?? "",
            ])}
        />
      </Card>
    </>
  );
}
