import { useState, type FormEvent } from "react";
import { Redirect, useLocation, useSearch } from "wouter";
import { describeError } from "../api/client";
import { api } from "../api/endpoints";
import { ErrorMessage } from "../components/ErrorMessage";
import { useTitle } from "../lib/hooks";
import { safeNext, useSession } from "../session";

export function LoginScreen() {
  useTitle("Sign in");
  const { status, signedIn } = useSession();
  const search = useSearch();
  const [, navigate] = useLocation();
  const next = safeNext(new URLSearchParams(search).get("next"));
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  if (status === "signed-in" && !busy) return <Redirect to={next} replace />;

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await api.login(username, password);
      const me = await api.me();
      signedIn(me);
      navigate(next, { replace: true });
    } catch (err) {
      setError(describeError(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <section className="login">
      <h1>Sign in to Chunkyard</h1>
      {next !== "/" ? <p className="muted">Your session ended; sign in to go back where you were.</p> : null}
      <form onSubmit={(e) => void submit(e)} className="stack">
        <div className="field">
          <label htmlFor="login-username">Username</label>
          <input
            id="login-username"
            name="username"
            autoComplete="username"
            required
            value={username}
            onChange={(e) => setUsername(e.target.value)}
          />
        </div>
        <div className="field">
          <label htmlFor="login-password">Password</label>
          <input
            id="login-password"
            name="password"
            type="password"
            autoComplete="current-password"
            required
            value={password}
            onChange={(e) => setPassword(e.target.value)}
          />
        </div>
        <ErrorMessage error={error} />
        <button type="submit" className="primary" disabled={busy}>
          {busy ? "Signing in…" : "Sign in"}
        </button>
      </form>
    </section>
  );
}
