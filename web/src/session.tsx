// Who is signed in. A 401 from any call ends the session and sends the user to sign in,
// remembering where they were so they come back there. Whenever the user changes, the query
// cache is emptied: another user's collections and documents are not this one's.
import { useQueryClient } from "@tanstack/react-query";
import { createContext, useCallback, useContext, useEffect, useMemo, useState, type ReactNode } from "react";
import { useLocation } from "wouter";
import { ApiError, onUnauthorized } from "./api/client";
import { api } from "./api/endpoints";
import type { User } from "./api/types";

type Status = "loading" | "signed-in" | "signed-out";

interface Session {
  status: Status;
  user: User | null;
  signedIn: (user: User) => void;
  signOut: () => Promise<void>;
}

const SessionContext = createContext<Session | null>(null);

export function useSession(): Session {
  const session = useContext(SessionContext);
  if (!session) throw new Error("useSession outside SessionProvider");
  return session;
}

/** A path inside this app to come back to (never another site: `//host` is refused). */
export function safeNext(next: string | null | undefined): string {
  if (!next || !next.startsWith("/") || next.startsWith("//") || next.startsWith("/\\")) return "/";
  if (next.startsWith("/login")) return "/";
  return next;
}

export function loginPath(returnTo: string): string {
  const next = safeNext(returnTo);
  return next === "/" ? "/login" : `/login?next=${encodeURIComponent(next)}`;
}

export function SessionProvider({ children }: { children: ReactNode }) {
  const [status, setStatus] = useState<Status>("loading");
  const [user, setUser] = useState<User | null>(null);
  const [, navigate] = useLocation();
  const queryClient = useQueryClient();

  useEffect(() => {
    const controller = new AbortController();
    api.me(controller.signal).then(
      (me) => {
        setUser(me);
        setStatus("signed-in");
      },
      (err: unknown) => {
        if (controller.signal.aborted) return;
        // Not signed in (401), or the server is down: either way, the sign-in screen says so.
        if (!(err instanceof ApiError) || err.status !== 401) console.warn("session check failed", err);
        setUser(null);
        setStatus("signed-out");
      },
    );
    return () => controller.abort();
  }, []);

  useEffect(
    () =>
      onUnauthorized(() => {
        queryClient.removeQueries();
        setUser(null);
        setStatus("signed-out");
        const here = window.location.pathname + window.location.search;
        if (!window.location.pathname.startsWith("/login")) navigate(loginPath(here), { replace: true });
      }),
    [navigate, queryClient],
  );

  const signedIn = useCallback((me: User) => {
    queryClient.removeQueries();
    setUser(me);
    setStatus("signed-in");
  }, [queryClient]);

  const signOut = useCallback(async () => {
    try {
      await api.logout();
    } finally {
      queryClient.removeQueries();
      setUser(null);
      setStatus("signed-out");
      navigate("/login");
    }
  }, [navigate, queryClient]);

  const value = useMemo(() => ({ status, user, signedIn, signOut }), [status, user, signedIn, signOut]);
  return <SessionContext.Provider value={value}>{children}</SessionContext.Provider>;
}
