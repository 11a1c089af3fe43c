/**
 * Is my device fixed? A build number looked up against the advisories.
 */
import { useState } from "preact/hooks";
import { api, type ApiError } from "../shared/api.ts";
import { Card, Field, Notice } from "../shared/ui.tsx";
import type { Lookup, PortalConfig } from "@phonehome/shared";

export function BuildCheck(props: { config: PortalConfig }) {
  const [build, setBuild] = useState("");
  const [answer, setAnswer] = useState<Lookup | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  return (
    <Card title="Is my device fixed?">
      <form
        onSubmit={async (e) => {
          e.preventDefault();
          setAnswer(null);
          if (build.trim() === "") {
            setProblem("Type the build number your phone shows.");
            return;
          }
          setProblem(null);
          try {
            setAnswer(
              await api<Lookup>(`${props.config.controlPlane}/v1/lookup/${encodeURIComponent(build.trim())}`),
            );
          } catch (error) {
            setProblem((error as ApiError).message);
          }
        }}
      >
        <Field
          label="Build number"
          hint="Settings › About phone › Build number, such as 00WW_3_39B_SP03."
          name="build"
          value={build}
          onInput={setBuild}
        />
        <div class="actions">
          <button type="submit" class="button secondary">
            Check
          </button>
        </div>
      </form>
      {problem === null ? null : <Notice kind="error">{problem}</Notice>}
      {answer === null ? null : (
        <Notice kind={answer.status === "not fixed" ? "error" : "success"}>
          <p>
            <strong>{answer.build}</strong>: {lookupWords(answer.status)}
          </p>
          {answer.advisories.map((a) => (
            <p key={a.advisory.id}>
              {a.advisory.id} — {a.advisory.title}: {a.status}
              {a.fixedIn === null ? "" : `; fixed in ${a.fixedIn}`}. {a.advisory.description}
            </p>
          ))}
        </Notice>
      )}
    </Card>
  );
}

export function lookupWords(status: string): string {
  switch (status) {
    case "fixed":
      return "fixed — this build has every fix published for it.";
    case "not fixed":
      return "not fixed — install the update your phone offers.";
    case "not affected":
      return "not affected by any published problem.";
    default:
      return "this build number is not known; check that you typed it as your phone shows it.";
  }
}
