/**
 * Signing in with an operator's name and password.
 */
import { useState } from "preact/hooks";
import { api, type ApiError } from "../shared/api.ts";
import { Card, Field, Notice } from "../shared/ui.tsx";
import type { Me, Session } from "./session.ts";
import type { NewSession } from "@phonehome/shared";

export function SignIn(props: { onSignedIn: (s: Session) => void }) {
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [problem, setProblem] = useState<string | null>(null);
  return (
    <Card title="Sign in">
      <form
        onSubmit={async (e) => {
          e.preventDefault();
          setProblem(null);
          try {
            const { token } = await api<NewSession>("/v1/sessions", {
              method: "POST",
              body: { username, password },
            });
            props.onSignedIn({ token, me: await api<Me>("/v1/sessions/current", { token }) });
          } catch (error) {
            setProblem((error as ApiError).message);
          }
        }}
      >
        <Field
          label="Username"
          name="username"
          autoComplete="username"
          value={username}
          onInput={setUsername}
        />
        <Field
          label="Password"
          name="password"
          type="password"
          autoComplete="current-password"
          value={password}
          onInput={setPassword}
        />
        {problem === null ? null : <Notice kind="error">{problem}</Notice>}
        <div class="actions">
          <button type="submit" class="button primary">
            Sign in
          </button>
        </div>
      </form>
    </Card>
  );
}
