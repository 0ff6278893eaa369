import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useCallback, useEffect, useMemo, useState, type FormEvent } from "react";
import { Link } from "wouter";
import { api, exportUrl } from "../api/endpoints";
import { errorText, invalidateCollection, keys, queries } from "../api/queries";
import type { ChunkConfig, Collection, DocumentOut, Operation } from "../api/types";
import { isFinal } from "../api/types";
import { ConfigEditor } from "../components/ConfigEditor";
import { ErrorMessage } from "../components/ErrorMessage";
import { OperationProgress } from "../components/OperationProgress";
import { UploadZone } from "../components/UploadZone";
import { describeConfig, formatBytes, formatDate, plural } from "../lib/format";
import { useTitle } from "../lib/hooks";
import { configFrom, editorFor, useStrategies, type EditorState } from "../lib/strategies";
import { StatusBadge } from "./CollectionsScreen";

const NO_OPERATIONS: Operation[] = [];

export function CollectionScreen({ id }: { id: string }) {
  const collection = useQuery(queries.collection(id));
  const documents = useQuery(queries.documents(id));
  const operations = useQuery(queries.operations(id));
  const [selected, setSelected] = useState<Set<string>>(new Set());
  useTitle(collection.data?.name ?? "Collection");

  // An upload changes the collection's documents and counts; a finished
  // operation its documents' chunks too.
  const queryClient = useQueryClient();
  const onUploaded = useCallback(() => void invalidateCollection(queryClient, id), [queryClient, id]);
  const onFinished = useCallback(() => void invalidateCollection(queryClient, id, { documents: true }), [queryClient, id]);

  if (collection.error) {
    return (
      <section>
        <h1>Collection</h1>
        <ErrorMessage error={errorText(collection.error)} onRetry={() => void collection.refetch()} />
        <p>
          <Link href="/">Back to collections</Link>
        </p>
      </section>
    );
  }
  const c = collection.data;
  return (
    <section>
      <p className="breadcrumb">
        <Link href="/">Collections</Link> / <span>{c?.name ?? "…"}</span>
      </p>
      <h1>{c?.name ?? "Collection"}</h1>
      {c ? (
        <p className="muted">
          {plural(c.document_count, "document")}, {plural(c.chunk_count, "chunk")}. Default configuration:{" "}
          <code>{describeConfig(c.config)}</code>
        </p>
      ) : null}
      <p className="actions">
        <Link href={`/collections/${id}/chunks`} className="button">
          Browse chunks
        </Link>
        <a href={exportUrl(id)} className="button" download>
          Export chunks (JSONL)
        </a>
      </p>

      <section className="panel" aria-labelledby="upload-title">
        <h2 id="upload-title">Upload documents</h2>
        <UploadZone collectionId={id} onUploaded={onUploaded} />
      </section>

      <section className="panel" aria-labelledby="documents-title">
        <h2 id="documents-title">Documents</h2>
        <ErrorMessage error={errorText(documents.error)} onRetry={() => void documents.refetch()} />
        {documents.data ? (
          <DocumentsTable collectionId={id} documents={documents.data} selected={selected} onSelect={setSelected} />
        ) : null}
      </section>

      {c ? (
        <section className="panel" aria-labelledby="chunking-title">
          <h2 id="chunking-title">Chunking</h2>
          <ChunkingPanel
            collection={c}
            selected={[...selected]}
            operations={operations.data ?? NO_OPERATIONS}
            operationsError={errorText(operations.error)}
            onFinished={onFinished}
            reloadOperations={() => void operations.refetch()}
          />
        </section>
      ) : null}
    </section>
  );
}

function DocumentsTable({
  collectionId,
  documents,
  selected,
  onSelect,
}: {
  collectionId: string;
  documents: DocumentOut[];
  selected: Set<string>;
  onSelect: (ids: Set<string>) => void;
}) {
  const queryClient = useQueryClient();
  const deletion = useMutation({
    mutationFn: (doc: DocumentOut) => api.deleteDocument(doc.id),
    onSuccess: (_, doc) => {
      if (selected.has(doc.id)) onSelect(new Set([...selected].filter((id) => id !== doc.id)));
      queryClient.removeQueries({ queryKey: keys.document(doc.id) });
      queryClient.removeQueries({ queryKey: keys.documentText(doc.id) });
      return invalidateCollection(queryClient, collectionId);
    },
  });
  if (documents.length === 0) return <p>No documents yet: upload some above.</p>;
  const all = documents.every((d) => selected.has(d.id));
  const toggle = (docId: string, on: boolean) => {
    const next = new Set(selected);
    if (on) next.add(docId);
    else next.delete(docId);
    onSelect(next);
  };
  const remove = (doc: DocumentOut) => {
    if (window.confirm(`Delete ${doc.filename} and its chunks?`)) deletion.mutate(doc);
  };
  return (
    <>
      <ErrorMessage error={errorText(deletion.error)} />
      <table className="data-table">
        <caption className="visually-hidden">Documents of the collection</caption>
        <thead>
          <tr>
            <th scope="col">
              <input
                type="checkbox"
                aria-label="Select all documents"
                checked={all}
                onChange={(e) => onSelect(e.target.checked ? new Set(documents.map((d) => d.id)) : new Set())}
              />
            </th>
            <th scope="col">File</th>
            <th scope="col">Status</th>
            <th scope="col" className="num">
              Size
            </th>
            <th scope="col" className="num">
              Chunks
            </th>
            <th scope="col">Problem</th>
            <th scope="col">Actions</th>
          </tr>
        </thead>
        <tbody>
          {documents.map((d) => (
            <tr key={d.id} data-document={d.filename}>
              <td>
                <input
                  type="checkbox"
                  aria-label={`Select ${d.filename}`}
                  checked={selected.has(d.id)}
                  onChange={(e) => toggle(d.id, e.target.checked)}
                />
              </td>
              <td>
                <Link href={`/documents/${d.id}/chunks`}>{d.filename}</Link>
              </td>
              <td>
                <StatusBadge status={d.status} />
              </td>
              <td className="num">{formatBytes(d.size_bytes)}</td>
              <td className="num">{d.chunk_count}</td>
              <td>{d.error ?? ""}</td>
              <td className="row-actions">
                <Link href={`/playground?document=${d.id}`}>Preview</Link>
                <button type="button" className="link-button" onClick={() => remove(d)} aria-label={`Delete ${d.filename}`}>
                  Delete
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </>
  );
}

function ChunkingPanel({
  collection,
  selected,
  operations,
  operationsError,
  onFinished,
  reloadOperations,
}: {
  collection: Collection;
  selected: string[];
  operations: Operation[];
  operationsError: string | null;
  onFinished: () => void;
  reloadOperations: () => void;
}) {
  const { strategies, error: strategiesError, retry } = useStrategies();
  const [configMode, setConfigMode] = useState<"default" | "custom">("default");
  const [docMode, setDocMode] = useState<"all" | "selected">("all");
  const [editor, setEditor] = useState<EditorState | null>(null);
  const [invalid, setInvalid] = useState<string | null>(null);
  const queryClient = useQueryClient();

  // Operations whose progress is shown: those running when the page opened and those started
  // here; a finished one stays (at 100%, or with its reason) until newer ones push it out.
  const [watched, setWatched] = useState<Operation[]>([]);
  useEffect(() => {
    const running = operations.filter((op) => !isFinal(op.status));
    setWatched((list) => {
      const fresh = running.filter((op) => !list.some((w) => w.id === op.id));
      return fresh.length ? [...list, ...fresh].slice(-3) : list;
    });
  }, [operations]);
  const history = useMemo(() => [...operations].reverse(), [operations]);
  const customEditor = editor ?? (strategies ? editorFor(strategies, collection.config) : null);

  const startOperation = useMutation({
    mutationFn: ({ config, documentIds }: { config: ChunkConfig | null; documentIds: string[] | null }) =>
      api.startOperation(collection.id, config, documentIds),
    onSuccess: (op) => {
      setWatched((list) => [...list.filter((w) => w.id !== op.id), op].slice(-3));
      return invalidateCollection(queryClient, collection.id);
    },
  });

  const start = (event: FormEvent) => {
    event.preventDefault();
    setInvalid(null);
    startOperation.reset();
    let config = null;
    if (configMode === "custom") {
      if (!strategies || !customEditor) return;
      const built = configFrom(strategies, customEditor);
      if (Object.keys(built.errors).length) {
        setInvalid(Object.values(built.errors).join(" "));
        return;
      }
      config = built.config;
    }
    if (docMode === "selected" && selected.length === 0) {
      setInvalid("Select at least one document in the table above, or chunk all documents.");
      return;
    }
    startOperation.mutate({ config, documentIds: docMode === "selected" ? selected : null });
  };

  return (
    <>
      <form onSubmit={start} className="stack">
        <fieldset>
          <legend>Configuration</legend>
          <label className="radio">
            <input type="radio" name="config-mode" checked={configMode === "default"} onChange={() => setConfigMode("default")} />{" "}
            The collection's default: <code>{describeConfig(collection.config)}</code>
          </label>
          <label className="radio">
            <input type="radio" name="config-mode" checked={configMode === "custom"} onChange={() => setConfigMode("custom")} /> A
            custom configuration
          </label>
          {configMode === "custom" ? (
            <>
              <ErrorMessage error={strategiesError} onRetry={retry} />
              {strategies && customEditor ? (
                <ConfigEditor strategies={strategies} value={customEditor} onChange={setEditor} idPrefix="operation" />
              ) : null}
            </>
          ) : null}
        </fieldset>
        <fieldset>
          <legend>Documents</legend>
          <label className="radio">
            <input type="radio" name="doc-mode" checked={docMode === "all"} onChange={() => setDocMode("all")} /> All documents
          </label>
          <label className="radio">
            <input type="radio" name="doc-mode" checked={docMode === "selected"} onChange={() => setDocMode("selected")} /> Only the
            selected documents ({selected.length})
          </label>
        </fieldset>
        <ErrorMessage error={invalid ?? errorText(startOperation.error)} />
        <button type="submit" className="primary" disabled={startOperation.isPending}>
          {startOperation.isPending ? "Starting…" : "Start chunking"}
        </button>
      </form>

      <h3>Operations</h3>
      <ErrorMessage error={operationsError} onRetry={reloadOperations} />
      {[...watched].reverse().map((op) => (
        <OperationProgress key={op.id} collectionId={collection.id} operation={op} onFinished={onFinished} />
      ))}
      {history.length ? (
        <table className="data-table">
          <caption className="visually-hidden">Operations, newest first</caption>
          <thead>
            <tr>
              <th scope="col">Started</th>
              <th scope="col">Status</th>
              <th scope="col" className="num">
                Documents done
              </th>
              <th scope="col" className="num">
                Failed
              </th>
              <th scope="col" className="num">
                Chunks created
              </th>
              <th scope="col">Finished</th>
              <th scope="col">Problem</th>
            </tr>
          </thead>
          <tbody>
            {history.map((op) => (
              <tr key={op.id}>
                <td>{formatDate(op.created_at)}</td>
                <td>
                  <StatusBadge status={op.status} />
                </td>
                <td className="num">
                  {op.documents_done} of {op.documents_total}
                </td>
                <td className="num">{op.documents_failed}</td>
                <td className="num">{op.chunks_created}</td>
                <td>{formatDate(op.finished_at)}</td>
                <td>{op.error ?? ""}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : (
        <p className="muted">No operations yet.</p>
      )}
    </>
  );
}
