import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useEffect, useState, type FormEvent } from "react";
import { Link, useLocation } from "wouter";
import { api } from "../api/endpoints";
import { errorText, keys, queries } from "../api/queries";
import { isFinal, type ChunkConfig, type Collection, type LastOperation } from "../api/types";
import { ConfigEditor } from "../components/ConfigEditor";
import { ErrorMessage } from "../components/ErrorMessage";
import { TableScroll } from "../components/TableScroll";
import { formatDate, plural } from "../lib/format";
import { useTitle } from "../lib/hooks";
import { statusWord } from "../lib/progress";
import { configFrom, editorFor, useStrategies, type EditorState } from "../lib/strategies";

/** How often the list is asked again while an operation of one of its collections runs. */
const REFRESH_MS = 2000;

export function CollectionsScreen() {
  useTitle("Collections");
  // Each collection comes with its newest operation: one request for the whole list, asked
  // again every few seconds while an operation is under way.
  const collections = useQuery({
    ...queries.collections(),
    refetchInterval: (query) => (underWay(query.state.data) ? REFRESH_MS : false),
  });

  return (
    <section>
      <h1>Collections</h1>
      <ErrorMessage error={errorText(collections.error)} onRetry={() => void collections.refetch()} />
      {collections.data ? (
        collections.data.length === 0 ? (
          <p>No collections yet: create one below, then upload documents into it.</p>
        ) : (
          <TableScroll label="Your collections">
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
                  <td>
                    {c.config.strategy}
                    {c.other_config_documents ? (
                      <span className="muted"> · mixed configurations ({c.other_config_documents})</span>
                    ) : c.stale_documents ? (
                      <span className="muted"> · {c.stale_documents} stale</span>
                    ) : null}
                  </td>
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
          </TableScroll>
        )
      ) : collections.isPending ? (
        <p className="muted">Loading…</p>
      ) : null}
      <CreateCollection />
    </section>
  );
}

function underWay(collections: Collection[] | undefined): boolean {
  return (collections ?? []).some((c) => c.last_operation && !isFinal(c.last_operation.status));
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

function CreateCollection() {
  const { strategies, error: strategiesError, retry } = useStrategies();
  const [name, setName] = useState("");
  const [editor, setEditor] = useState<EditorState | null>(null);
  const [invalid, setInvalid] = useState<string | null>(null);
  const [, navigate] = useLocation();
  const queryClient = useQueryClient();
  const create = useMutation({
    mutationFn: ({ name, config }: { name: string; config: ChunkConfig }) => api.createCollection(name, config),
    onSuccess: (created) => {
      setName("");
      void queryClient.invalidateQueries({ queryKey: keys.collections });
      navigate(`/collections/${created.id}`);
    },
  });

  useEffect(() => {
    if (strategies && !editor) setEditor(editorFor(strategies));
  }, [strategies, editor]);

  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (!strategies || !editor) return;
    const { config, errors } = configFrom(strategies, editor);
    if (Object.keys(errors).length) {
      setInvalid(Object.values(errors).join(" "));
      return;
    }
    setInvalid(null);
    create.mutate({ name, config });
  };

  return (
    <section className="panel" aria-labelledby="create-collection-title">
      <h2 id="create-collection-title">New collection</h2>
      <form onSubmit={submit} className="stack">
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
        <ErrorMessage error={invalid ?? errorText(create.error)} />
        <button type="submit" className="primary" disabled={create.isPending || !editor}>
          {create.isPending ? "Creating…" : "Create collection"}
        </button>
      </form>
    </section>
  );
}
