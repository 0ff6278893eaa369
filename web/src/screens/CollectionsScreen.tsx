import { useEffect, useState, type FormEvent } from "react";
import { Link, useLocation } from "wouter";
import { describeError } from "../api/client";
import { api } from "../api/endpoints";
import { isFinal, type LastOperation } from "../api/types";
import { ConfigEditor } from "../components/ConfigEditor";
import { ErrorMessage } from "../components/ErrorMessage";
import { formatDate, plural } from "../lib/format";
import { useAsync, useTitle } from "../lib/hooks";
import { statusWord } from "../lib/progress";
import { configFrom, editorFor, useStrategies, type EditorState } from "../lib/strategies";

/** How often the list is asked again while an operation of one of its collections runs. */
const REFRESH_MS = 2000;

export function CollectionsScreen() {
  useTitle("Collections");
  // Each collection comes with its newest operation: one request for the whole list, asked
  // again every few seconds while an operation is under way.
  const collections = useAsync((signal) => api.collections(signal), []);
  const underWay = (collections.data ?? []).some((c) => c.last_operation && !isFinal(c.last_operation.status));
  const { reload, loading } = collections;
  useEffect(() => {
    if (!underWay || loading) return;
    const timer = setTimeout(reload, REFRESH_MS);
    return () => clearTimeout(timer);
  }, [underWay, loading, reload, collections.data]);

  return (
    <section>
      <h1>Collections</h1>
      <ErrorMessage error={collections.error} onRetry={collections.reload} />
      {collections.data ? (
        collections.data.length === 0 ? (
          <p>No collections yet: create one below, then upload documents into it.</p>
        ) : (
          <table className="data-table">
            <caption className="visually-hidden">Your collections</caption>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Strategy</th>
                <th scope="col" className="num">
                  Documents
                </th>
                <th scope="col" className="num">
                  Chunks
                </th>
                <th scope="col">Last operation</th>
                <th scope="col">Created</th>
              </tr>
            </thead>
            <tbody>
              {collections.data.map((c) => (
                <tr key={c.id} data-collection={c.id}>
                  <td>
                    <Link href={`/collections/${c.id}`}>{c.name}</Link>
                  </td>
                  <td>{c.config.strategy}</td>
                  <td className="num">{c.document_count}</td>
                  <td className="num">{c.chunk_count}</td>
                  <td className="last-operation">
                    <LastOperationCell operation={c.last_operation} />
                  </td>
                  <td>{formatDate(c.created_at)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )
      ) : collections.loading ? (
        <p className="muted">Loading…</p>
      ) : null}
      <CreateCollection onCreated={collections.reload} />
    </section>
  );
}

export function StatusBadge({ status }: { status: string }) {
  return <span className={`status status-${status}`}>{statusWord(status)}</span>;
}

/** A collection's newest operation: its status, documents done of total, and when it ended. */
function LastOperationCell({ operation }: { operation: LastOperation | null }) {
  if (!operation) return <span className="muted">None yet</span>;
  const { status, documents_done: done, documents_total: total, finished_at: finished } = operation;
  return (
    <>
      <StatusBadge status={status} />{" "}
      <span className="muted">
        {done} of {plural(total, "document")}
        {finished ? `, ${formatDate(finished)}` : ""}
      </span>
    </>
  );
}

function CreateCollection({ onCreated }: { onCreated: () => void }) {
  const { strategies, error: strategiesError, retry } = useStrategies();
  const [name, setName] = useState("");
  const [editor, setEditor] = useState<EditorState | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [, navigate] = useLocation();

  useEffect(() => {
    if (strategies && !editor) setEditor(editorFor(strategies));
  }, [strategies, editor]);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    if (!strategies || !editor) return;
    const { config, errors } = configFrom(strategies, editor);
    if (Object.keys(errors).length) {
      setError(Object.values(errors).join(" "));
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const created = await api.createCollection(name, config);
      setName("");
      onCreated();
      navigate(`/collections/${created.id}`);
    } catch (err) {
      setError(describeError(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <section className="panel" aria-labelledby="create-collection-title">
      <h2 id="create-collection-title">New collection</h2>
      <form onSubmit={(e) => void submit(e)} className="stack">
        <div className="field">
          <label htmlFor="new-collection-name">Name</label>
          <input id="new-collection-name" required maxLength={255} value={name} onChange={(e) => setName(e.target.value)} />
        </div>
        <details>
          <summary>Default chunking configuration ({editor?.strategy ?? "recursive"})</summary>
          <ErrorMessage error={strategiesError} onRetry={retry} />
          {strategies && editor ? (
            <ConfigEditor strategies={strategies} value={editor} onChange={setEditor} idPrefix="new-collection" />
          ) : null}
        </details>
        <ErrorMessage error={error} />
        <button type="submit" className="primary" disabled={busy || !editor}>
          {busy ? "Creating…" : "Create collection"}
        </button>
      </form>
    </section>
  );
}
