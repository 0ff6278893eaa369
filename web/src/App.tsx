import { QueryClientProvider } from "@tanstack/react-query";
import { lazy, Suspense, useEffect, useRef, useState, type ReactNode } from "react";
import { Link, Redirect, Route, Switch, useLocation, useSearch } from "wouter";
import { createQueryClient } from "./api/queries";
import { ErrorBoundary } from "./components/ErrorBoundary";
import { CollectionScreen } from "./screens/CollectionScreen";
import { CollectionsScreen } from "./screens/CollectionsScreen";
import { LoginScreen } from "./screens/LoginScreen";
import { loginPath, SessionProvider, useSession } from "./session";

// Heavier screens load on first visit: the first screen ships only what it needs.
const PlaygroundScreen = lazy(() => import("./screens/PlaygroundScreen"));
const CompareScreen = lazy(() => import("./screens/CompareScreen"));
const ChunksScreen = lazy(() => import("./screens/ChunksScreen"));
const QuestionsScreen = lazy(() => import("./screens/QuestionsScreen"));
const EvaluationsScreen = lazy(() => import("./screens/EvaluationsScreen"));
const EvaluationScreen = lazy(() => import("./screens/EvaluationScreen"));

export function App() {
  const [queryClient] = useState(createQueryClient);
  return (
    <QueryClientProvider client={queryClient}>
      <SessionProvider>
        <Shell />
      </SessionProvider>
    </QueryClientProvider>
  );
}

function Shell() {
  const { status, user, signOut } = useSession();
  const [location] = useLocation();
  const mainRef = useRef<HTMLElement>(null);
  const first = useRef(true);

  // After a navigation, move focus to the new screen so keyboard and screen-reader users
  // start there (not on the link they left).
  useEffect(() => {
    if (first.current) {
      first.current = false;
      return;
    }
    mainRef.current?.focus();
  }, [location]);

  return (
    <>
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="app-header">
        <Link href="/" className="brand">
          Chunkyard
        </Link>
        {status === "signed-in" ? (
          <nav aria-label="Main">
            <ul>
              <li>
                <NavLink href="/">Collections</NavLink>
              </li>
              <li>
                <NavLink href="/playground">Playground</NavLink>
              </li>
              <li>
                <NavLink href="/compare">Compare</NavLink>
              </li>
            </ul>
          </nav>
        ) : null}
        {status === "signed-in" && user ? (
          <div className="user-box">
            <span>
              Signed in as <strong>{user.username}</strong>
            </span>
            <button type="button" onClick={() => void signOut()}>
              Sign out
            </button>
          </div>
        ) : null}
      </header>
      <main id="main" ref={mainRef} tabIndex={-1}>
        {status === "loading" ? <p className="muted">Loading…</p> : <Routes />}
      </main>
    </>
  );
}

function NavLink({ href, children }: { href: string; children: ReactNode }) {
  const [location] = useLocation();
  const active = href === "/" ? location === "/" || location.startsWith("/collections") : location.startsWith(href);
  return (
    <Link href={href} aria-current={active ? "page" : undefined}>
      {children}
    </Link>
  );
}

function Screen({ name, children }: { name: string; children: ReactNode }) {
  const [location] = useLocation();
  return (
    <ErrorBoundary key={location} screen={name}>
      <Suspense fallback={<p className="muted">Loading…</p>}>{children}</Suspense>
    </ErrorBoundary>
  );
}

function Protected({ name, children }: { name: string; children: ReactNode }) {
  const { status } = useSession();
  const [location] = useLocation();
  const search = useSearch();
  if (status !== "signed-in") {
    return <Redirect to={loginPath(location + (search ? `?${search}` : ""))} replace />;
  }
  return <Screen name={name}>{children}</Screen>;
}

function Routes() {
  return (
    <Switch>
      <Route path="/login">
        <Screen name="sign-in">
          <LoginScreen />
        </Screen>
      </Route>
      <Route path="/">
        <Protected name="collections">
          <CollectionsScreen />
        </Protected>
      </Route>
      <Route path="/collections/:id/chunks">
        {(params) => (
          <Protected name="chunks">
            <ChunksScreen collectionId={params.id} />
          </Protected>
        )}
      </Route>
      <Route path="/collections/:id/questions">
        {(params) => (
          <Protected name="questions">
            <QuestionsScreen collectionId={params.id} />
          </Protected>
        )}
      </Route>
      <Route path="/collections/:id/evaluations">
        {(params) => (
          <Protected name="evaluations">
            <EvaluationsScreen collectionId={params.id} />
          </Protected>
        )}
      </Route>
      <Route path="/evaluations/:id">
        {(params) => (
          <Protected name="evaluation">
            <EvaluationScreen id={params.id} />
          </Protected>
        )}
      </Route>
      <Route path="/documents/:id/chunks">
        {(params) => (
          <Protected name="chunks">
            <ChunksScreen documentId={params.id} />
          </Protected>
        )}
      </Route>
      <Route path="/collections/:id">
        {(params) => (
          <Protected name="collection">
            <CollectionScreen id={params.id} />
          </Protected>
        )}
      </Route>
      <Route path="/playground">
        <Protected name="playground">
          <PlaygroundScreen />
        </Protected>
      </Route>
      <Route path="/compare">
        <Protected name="compare">
          <CompareScreen />
        </Protected>
      </Route>
      <Route>
        <Screen name="not found">
          <NotFound />
        </Screen>
      </Route>
    </Switch>
  );
}

function NotFound() {
  return (
    <section>
      <h1>Nothing here</h1>
      <p>
        This page does not exist. <Link href="/">Go to your collections.</Link>
      </p>
    </section>
  );
}
