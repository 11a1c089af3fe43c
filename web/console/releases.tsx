/**
 * Releases in the console: every build with the release gate's verdict and
 * its reasons, released or not (and a forced release's reason); staged
 * rollouts with their stage, state and install outcomes. An operator whose
 * role may release, roll out or withdraw gets those controls; anyone else
 * reads.
 */
import { useEffect, useState } from "preact/hooks";
import type { ReleaseBuild as Build, Rollout } from "@phonehome/shared";
import { api, type ApiError } from "../shared/api.ts";
import { Button, Card, day, Field, Notice, Table } from "../shared/ui.tsx";

export function Releases(props: { token: string; permissions: readonly string[] }) {
  const canRelease = props.permissions.includes("release.write");
  const canRollOut = props.permissions.includes("rollouts.write");
  const [builds, setBuilds] = useState<Build[] | null>(null);
  const [rollouts, setRollouts] = useState<Rollout[]>([]);
  const [problem, setProblem] = useState<string | null>(null);
  const [note, setNote] = useState<string | null>(null);
  const [withdrawing, setWithdrawing] = useState<string | null>(null);
  const [reason, setReason] = useState("");
  const load = async () => {
    const { builds: listed } = await api<{ builds: { number: string }[] }>("/v1/fleet/builds");
    const full = await Promise.all(
      listed.map(
        async (b) => (await api<{ build: Build }>(`/v1/builds/${encodeURIComponent(b.number)}`)).build,
      ),
    );
    setBuilds(full);
    setRollouts((await api<{ rollouts: Rollout[] }>("/v1/rollouts", { token: props.token })).rollouts);
  };
  useEffect(() => {
    load().catch((e: ApiError) => setProblem(e.message));
  }, []);
  const act = async (what: string, call: () => Promise<unknown>) => {
    setProblem(null);
    setNote(null);
    try {
      await call();
      await load();
      setNote(what);
    } catch (error) {
      setProblem((error as ApiError).message);
    }
  };
  const post = (path: string, body: unknown = {}) => api(path, { method: "POST", token: props.token, body });
  if (builds === null)
    return problem === null ? <p role="status">Loading builds…</p> : <Notice kind="error">{problem}</Notice>;
  const open = new Set(rollouts.filter((r) => r.state !== "complete").map((r) => r.build));
  return (
    <>
      <h1>Releases</h1>
      {note === null ? null : <Notice kind="success">{note}</Notice>}
      {problem === null ? null : <Notice kind="error">{problem}</Notice>}
      <Card title="Builds and the release gate">
        <Table
          caption="Every registered build"
          columns={["Build", "Variant", "Release gate", "Released", ""]}
          rows={builds.map((b) => [
            b.number,
            b.variant,
            b.manifest === null ? (
              "no manifest: cannot be released"
            ) : b.manifest.passed ? (
              <span class="badge ok">passed</span>
            ) : (
              <details>
                <summary>
                  <span class="badge bad">blocked</span> {b.manifest.findings.length} finding
                  {b.manifest.findings.length === 1 ? "" : "s"}
                </summary>
                <ul>
                  {b.manifest.findings.map((f, i) => (
                    <li key={i}>
                      <code>{f.code}</code> {f.message}
                    </li>
                  ))}
                </ul>
              </details>
            ),
            b.releasedAt === null
              ? "no"
              : `${day(b.releasedAt)}${b.releaseForced === null ? "" : ` — forced: ${b.releaseForced.reason}`}`,
            <div class="actions stacked" key="actions">
              {canRelease && b.releasedAt === null && b.manifest?.passed === true ? (
                <Button
                  kind="secondary"
                  aria-label={`Release ${b.number}`}
                  onClick={() => act(`${b.number} released.`, () => post(`/v1/builds/${b.number}/release`))}
                >
                  Release
                </Button>
              ) : null}
              {canRollOut && b.releasedAt !== null && !open.has(b.number) ? (
                <Button
                  kind="secondary"
                  aria-label={`Roll out ${b.number}`}
                  onClick={() =>
                    act(`Rollout of ${b.number} started at 10 %.`, () =>
                      post("/v1/rollouts", { build: b.number, stages: [10, 50, 100] }),
                    )
                  }
                >
                  Roll out
                </Button>
              ) : null}
              {canRollOut && b.releasedAt !== null ? (
                <Button
                  kind="danger"
                  aria-label={`Withdraw ${b.number}…`}
                  onClick={() => setWithdrawing(b.number)}
                >
                  Withdraw…
                </Button>
              ) : null}
            </div>,
          ])}
        />
        {withdrawing === null ? null : (
          <form aria-label={`Withdraw ${withdrawing}`} onSubmit={(e) => e.preventDefault()}>
            <Field
              label={`Why is ${withdrawing} withdrawn?`}
              hint="At least 10 characters; kept with the withdrawal and in the audit log. No device is offered it again."
              name="reason"
              value={reason}
              onInput={setReason}
            />
            <div class="actions">
              <Button
                kind="danger"
                onClick={() =>
                  act(`${withdrawing} withdrawn.`, async () => {
                    await post(`/v1/builds/${withdrawing}/withdraw`, { reason });
                    setWithdrawing(null);
                    setReason("");
                  })
                }
              >
                Withdraw
              </Button>
              <Button kind="secondary" onClick={() => setWithdrawing(null)}>
                Cancel
              </Button>
            </div>
          </form>
        )}
      </Card>
      <Card title="Staged rollouts">
        {rollouts.length === 0 ? (
          <p>No rollout has started.</p>
        ) : (
          <Table
            caption="Newest first"
            columns={["Rollout", "Build", "Stage", "State", "Installed / failed", ""]}
            rows={rollouts.map((r) => [
              String(r.id),
              r.build,
              `${r.percentage} % (${r.stages.join(" → ")})`,
              r.haltedReason === null ? r.state : `${r.state}: ${r.haltedReason}`,
              r.outcomes.map((o) => `${o.installed} / ${o.failed}`).join(", ") || "none yet",
              canRollOut && r.state !== "complete" ? (
                <div class="actions stacked" key="actions">
                  {r.state === "active" ? (
                    <>
                      <Button
                        kind="secondary"
                        aria-label={`Advance rollout ${r.id}`}
                        onClick={() =>
                          act(`Rollout ${r.id} advanced.`, () => post(`/v1/rollouts/${r.id}/advance`))
                        }
                      >
                        Advance
                      </Button>
                      <Button
                        kind="secondary"
                        aria-label={`Pause rollout ${r.id}`}
                        onClick={() =>
                          act(`Rollout ${r.id} paused.`, () => post(`/v1/rollouts/${r.id}/pause`))
                        }
                      >
                        Pause
                      </Button>
                    </>
                  ) : (
                    <Button
                      kind="secondary"
                      aria-label={`Resume rollout ${r.id}`}
                      onClick={() =>
                        act(`Rollout ${r.id} resumed.`, () => post(`/v1/rollouts/${r.id}/resume`))
                      }
                    >
                      Resume
                    </Button>
                  )}
                </div>
              ) : (
                ""
              ),
            ])}
          />
        )}
      </Card>
    </>
  );
}
