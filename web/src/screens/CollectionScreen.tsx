import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useCallback, useEffect, useMemo, useState, type FormEvent } from "react";
import { Link, useLocation } from "wouter";
import { api, exportUrl } from "../api/endpoints";
import { errorText, invalidateCollection, keys, queries } from "../api/queries";
import type { ChunkConfig, Collection, DocumentOut, Operation } from "../api/types";
import { isFinal } from "../api/types";
import { ConfigEditor } from "../components/ConfigEditor";
import { ConfirmDialog } from "../components/ConfirmDialog";
import { ErrorMessage } from "../components/ErrorMessage";
import { OperationProgress } from "../components/OperationProgress";
import { TableScroll } from "../components/TableScroll";
import { UploadZone } from "../components/UploadZone";
import { downloadDocumentChunks } from "../lib/export";
import { sortDocuments, type DocumentSort } from "../lib/sorting";
import { describeConfig, formatBytes, formatDate, plural } from "../lib/format";
import { useTitle } from "../lib/hooks";
import { configFrom, editorFor, useStrategies, type EditorState } from "../lib/strategies";
import { StatusBadge } from "./CollectionsScreen";

const NO_OPERATIONS: Operation[] = [];

export function CollectionScreen({ id }: { id: string }) {
  const collection = useQuery(queries.collection(id));
  const documents = useQuery(queries.documents(id));
  const operations = useQuery(queries.operations(id));
  // Evaluations are operations too (they store no chunks): they have a screen of their own.
  const chunkingOperations = useMemo(
    () => (operations.data ? operations.data.filter((op) => (op as { kind?: string }).kind !== "evaluation") : NO_OPERATIONS),
    [operations.data],
  );
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
      {c ? <CollectionHeader collection={c} /> : <h1>Collection</h1>}
      {c ? (
        <p className="muted">
          {plural(c.document_count, "document")}, {plural(c.chunk_count, "chunk")}. Default configuration:{" "}
          <code>{describeConfig(c.config)}</code>
        </p>
      ) : null}
      {c ? <Provenance collection={c} documents={documents.data ?? []} onStarted={onUploaded} /> : null}
      {c ? <DefaultConfig collection={c} /> : null}
      {c ? <ExportActions collection={c} /> : null}

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
            operations={chunkingOperations}
            operationsError={errorText(operations.error)}
            onFinished={onFinished}
            reloadOperations={() => void operations.refetch()}
          />
        </section>
      ) : null}
    </section>
  );
}

/** The name, with Rename and Delete (a confirmation dialog, not the browser's confirm()). */
function CollectionHeader({ collection }: { collection: Collection }) {
  const queryClient = useQueryClient();
  const [, navigate] = useLocation();
  const [renaming, setRenaming] = useState(false);
  const [name, setName] = useState(collection.name);
  const [confirming, setConfirming] = useState(false);
  const rename = useMutation({
    mutationFn: (next: string) => api.updateCollection(collection.id, { name: next }),
    onSuccess: () => {
      setRenaming(false);
      return invalidateCollection(queryClient, collection.id);
    },
  });
  const remove = useMutation({
    mutationFn: () => api.deleteCollection(collection.id),
    onSuccess: () => {
      setConfirming(false);
      queryClient.removeQueries({ queryKey: keys.collection(collection.id) });
      void queryClient.invalidateQueries({ queryKey: keys.collections });
      navigate("/");
    },
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    rename.mutate(name.trim());
  };
  return (
    <>
      {renaming ? (
        <form onSubmit={submit} className="inline-fields rename-form" aria-label="Rename the collection">
          <div className="field">
            <label htmlFor="rename-collection">New name</label>
            <input id="rename-collection" required maxLength={255} value={name} onChange={(e) => setName(e.target.value)} />
          </div>
          <p className="actions">
            <button type="submit" className="primary" disabled={rename.isPending || !name.trim()}>
              {rename.isPending ? "Saving…" : "Save name"}
            </button>
            <button type="button" onClick={() => setRenaming(false)}>
              Cancel
            </button>
          </p>
          <ErrorMessage error={errorText(rename.error)} />
        </form>
      ) : (
        <h1>{collection.name}</h1>
      )}
      <p className="actions">
        {!renaming ? (
          <button
            type="button"
            onClick={() => {
              rename.reset();
              setName(collection.name);
              setRenaming(true);
            }}
          >
            Rename
          </button>
        ) : null}
        <button type="button" onClick={() => (remove.reset(), setConfirming(true))}>
          Delete collection
        </button>
      </p>
      <ConfirmDialog
        open={confirming}
        title={`Delete ${collection.name}?`}
        confirmLabel="Delete the collection"
        busy={remove.isPending}
        error={errorText(remove.error)}
        onConfirm={() => remove.mutate()}
        onCancel={() => setConfirming(false)}
      >
        <p>
          This deletes its {plural(collection.document_count, "document")} and {plural(collection.chunk_count, "chunk")} for good.
        </p>
      </ConfirmDialog>
    </>
  );
}

/**
 * Whether the stored chunks all come from the collection's configuration: a warning when they
 * mix configurations, and a one-click re-chunk of the stale documents (never silently).
 */
function Provenance({ collection, documents, onStarted }: { collection: Collection; documents: DocumentOut[]; onStarted: () => void }) {
  const stale = documents.filter((d) => d.stale);
  const rechunk = useMutation({
    mutationFn: () => api.startOperation(collection.id, null, stale.map((d) => d.id)),
    onSuccess: onStarted,
  });
  const mixed = collection.other_config_documents ?? 0;
  const count = collection.stale_documents ?? stale.length;
  if (!count && !mixed) return null;
  return (
    <div className="mixed-warning" role="status" data-testid="provenance">
      {mixed ? (
        <p>
          <strong>Mixed configurations:</strong> {plural(mixed, "document")} of this collection {mixed === 1 ? "was" : "were"} chunked
          with another configuration than its default, so its chunks were not all made the same way.
        </p>
      ) : null}
      {count ? (
        <p>
          {plural(count, "document is", "documents are")} stale: {count === 1 ? "its" : "their"} chunks no longer match{" "}
          {count === 1 ? "its" : "their"} content or the default configuration.{" "}
          <button type="button" className="primary" disabled={rechunk.isPending || stale.length === 0} onClick={() => rechunk.mutate()}>
            {rechunk.isPending ? "Starting…" : `Re-chunk the ${plural(stale.length || count, "stale document")}`}
          </button>
        </p>
      ) : null}
      <ErrorMessage error={errorText(rechunk.error)} />
    </div>
  );
}

/** Edit the default configuration (PATCH): documents chunked with the old one become stale. */
function DefaultConfig({ collection }: { collection: Collection }) {
  const { strategies, error: strategiesError, retry } = useStrategies();
  const [editing, setEditing] = useState(false);
  const [editor, setEditor] = useState<EditorState | null>(null);
  const [invalid, setInvalid] = useState<string | null>(null);
  const queryClient = useQueryClient();
  const diff = useMutation({ mutationFn: (config: ChunkConfig) => api.diff(collection.id, config) });
  const save = useMutation({
    mutationFn: (config: ChunkConfig) => api.updateCollection(collection.id, { config }),
    onSuccess: () => {
      setEditing(false);
      return invalidateCollection(queryClient, collection.id, { documents: true });
    },
  });
  if (!editing) {
    return (
      <p className="actions">
        <button
          type="button"
          onClick={() => {
            save.reset();
            setInvalid(null);
            setEditor(strategies ? editorFor(strategies, collection.config) : null);
            setEditing(true);
          }}
        >
          Edit the default configuration
        </button>
      </p>
    );
  }
  const current = editor ?? (strategies ? editorFor(strategies, collection.config) : null);
  const check = () => {
    if (!strategies || !current) return;
    const built = configFrom(strategies, current);
    if (Object.keys(built.errors).length) {
      setInvalid("Fix the fields marked above first.");
      return;
    }
    setInvalid(null);
    diff.mutate(built.config);
  };
  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (!strategies || !current) return;
    const built = configFrom(strategies, current);
    if (Object.keys(built.errors).length) {
      setInvalid("Fix the fields marked above first.");
      return;
    }
    setInvalid(null);
    save.mutate(built.config);
  };
  return (
    <section className="panel" aria-labelledby="default-config-title">
      <h2 id="default-config-title">Default configuration</h2>
      <form onSubmit={submit} className="stack">
        <ErrorMessage error={strategiesError} onRetry={retry} />
        {strategies && current ? <ConfigEditor
            strategies={strategies}
            value={current}
            onChange={(next) => {
              setEditor(next);
              diff.reset(); // its numbers were for the configuration before this change
            }}
            idPrefix="default-config"
          /> : null}
        <p className="field-help">
          Documents already chunked keep their chunks and are marked out of date (stale) until they are chunked again with the
          new configuration.
        </p>
        {collection.chunk_count > 0 ? (
          <p className="actions">
            <button type="button" onClick={check} disabled={diff.isPending || !current}>
              {diff.isPending ? "Comparing…" : "What would re-chunking change?"}
            </button>
          </p>
        ) : null}
        <ErrorMessage error={errorText(diff.error)} />
        {diff.data ? (
          <p role="status" data-testid="diff">
            Re-chunking {plural(diff.data.total.documents, "document")} with it: {plural(diff.data.total.kept, "chunk")} kept,{" "}
            {diff.data.total.added} added, {diff.data.total.removed} removed; {diff.data.total.tokens_to_embed.toLocaleString("en-US")}{" "}
            tokens to embed.
          </p>
        ) : null}
        <ErrorMessage error={invalid ?? errorText(save.error)} />
        <p className="actions">
          <button type="submit" className="primary" disabled={save.isPending || !current}>
            {save.isPending ? "Saving…" : "Save the default configuration"}
          </button>
          <button type="button" onClick={() => setEditing(false)}>
            Cancel
          </button>
        </p>
      </form>
    </section>
  );
}

/** Browse and export; an empty collection says there is nothing to export instead of an empty file. */
function ExportActions({ collection }: { collection: Collection }) {
  const [note, setNote] = useState<string | null>(null);
  return (
    <>
      <p className="actions">
        <Link href={`/collections/${collection.id}/chunks`} className="button">
          Browse chunks
        </Link>
        <Link href={`/collections/${collection.id}/questions`} className="button">
          Evaluation questions
        </Link>
        <Link href={`/collections/${collection.id}/evaluations`} className="button">
          Evaluate by retrieval
        </Link>
        {collection.chunk_count > 0 ? (
          <a href={exportUrl(collection.id)} className="button" download>
            Export chunks (JSONL)
          </a>
        ) : (
          <button
            type="button"
            onClick={() =>
              setNote(
                collection.document_count === 0
                  ? "Nothing to export: this collection has no documents yet. Upload some, then start chunking."
                  : "Nothing to export yet: no document is chunked. Start chunking below first.",
              )
            }
          >
            Export chunks (JSONL)
          </button>
        )}
      </p>
      <p role="status" className={note ? "stale-notice" : "visually-hidden"}>
        {note}
      </p>
    </>
  );
}

// Pages, characters and tokens are measured when a document is chunked (pages only for kinds
// that have them): a dash until then.
function measured(value: number | null | undefined): string {
  return value == null ? "–" : value.toLocaleString("en");
}

const SORTABLE: { key: DocumentSort["key"]; label: string; num?: boolean }[] = [
  { key: "filename", label: "File" },
  { key: "status", label: "Status" },
  { key: "size_bytes", label: "Size", num: true },
  { key: "pages", label: "Pages", num: true },
  { key: "characters", label: "Characters", num: true },
  { key: "tokens", label: "Tokens", num: true },
  { key: "chunk_count", label: "Chunks", num: true },
  { key: "chunked_with", label: "Chunked with" },
];

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
  const [sort, setSort] = useState<DocumentSort>({ key: "filename", descending: false });
  const [confirm, setConfirm] = useState<DocumentOut | null>(null);
  const [exportNote, setExportNote] = useState<string | null>(null);
  const deletion = useMutation({
    mutationFn: (doc: DocumentOut) => api.deleteDocument(doc.id),
    onSuccess: (_, doc) => {
      setConfirm(null);
      if (selected.has(doc.id)) onSelect(new Set([...selected].filter((id) => id !== doc.id)));
      queryClient.removeQueries({ queryKey: keys.document(doc.id) });
      queryClient.removeQueries({ queryKey: keys.documentText(doc.id) });
      return invalidateCollection(queryClient, collectionId);
    },
  });
  const exporting = useMutation({
    mutationFn: (doc: DocumentOut) => downloadDocumentChunks(doc),
    onSuccess: (count, doc) => setExportNote(count ? `Exported ${plural(count, "chunk")} of ${doc.filename}.` : `Nothing to export: ${doc.filename} has no chunks yet.`),
  });
  const sorted = useMemo(() => sortDocuments(documents, sort), [documents, sort]);
  if (documents.length === 0) return <p>No documents yet: upload some above.</p>;
  const all = documents.every((d) => selected.has(d.id));
  const toggle = (docId: string, on: boolean) => {
    const next = new Set(selected);
    if (on) next.add(docId);
    else next.delete(docId);
    onSelect(next);
  };
  const header = (col: (typeof SORTABLE)[number]) => {
    const active = sort.key === col.key;
    return (
      <th scope="col" key={col.key} className={col.num ? "num" : undefined} aria-sort={active ? (sort.descending ? "descending" : "ascending") : "none"}>
        <button
          type="button"
          className="sort"
          onClick={() => setSort({ key: col.key, descending: active ? !sort.descending : col.num === true })}
        >
          {col.label}
          <span aria-hidden="true">{active ? (sort.descending ? " ▼" : " ▲") : " ↕"}</span>
          <span className="visually-hidden">{active ? (sort.descending ? ", sorted descending" : ", sorted ascending") : ", sort"}</span>
        </button>
      </th>
    );
  };
  return (
    <>
      <ErrorMessage error={errorText(exporting.error)} />
      <p role="status" className={exportNote ? "muted" : "visually-hidden"}>
        {exportNote}
      </p>
      <TableScroll label="Documents of the collection">
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
              {SORTABLE.map(header)}
              <th scope="col">Problem</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {sorted.map((d) => (
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
                  {d.stale ? (
                    <>
                      {" "}
                      <span className="status status-stale">Stale</span>
                    </>
                  ) : null}
                </td>
                <td className="num">{formatBytes(d.size_bytes)}</td>
                <td className="num">{measured(d.pages)}</td>
                <td className="num">{measured(d.characters)}</td>
                <td className="num">{measured(d.tokens)}</td>
                <td className="num">{d.chunk_count}</td>
                <td className="chunked-with">{d.chunked_with ? <code>{describeConfig(d.chunked_with)}</code> : <span className="muted">not chunked</span>}</td>
                <td>{d.error ?? ""}</td>
                <td className="row-actions">
                  <Link href={`/playground?document=${d.id}`} aria-label={`Preview ${d.filename}`}>
                    Preview
                  </Link>
                  <button
                    type="button"
                    className="link-button"
                    onClick={() => exporting.mutate(d)}
                    disabled={exporting.isPending}
                    aria-label={`Export the chunks of ${d.filename}`}
                  >
                    Export
                  </button>
                  <button
                    type="button"
                    className="link-button"
                    onClick={() => (deletion.reset(), setConfirm(d))}
                    aria-label={`Delete ${d.filename}`}
                  >
                    Delete
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </TableScroll>
      <ConfirmDialog
        open={confirm !== null}
        title={`Delete ${confirm?.filename ?? "the document"}?`}
        confirmLabel="Delete the document"
        busy={deletion.isPending}
        error={errorText(deletion.error)}
        onConfirm={() => confirm && deletion.mutate(confirm)}
        onCancel={() => setConfirm(null)}
      >
        <p>This deletes the document and its {plural(confirm?.chunk_count ?? 0, "chunk")}.</p>
      </ConfirmDialog>
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
    if (collection.document_count === 0) {
      setInvalid("Nothing to chunk: upload documents first.");
      return;
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
            <p className="field-help">
              The documents it chunks record this configuration and are marked stale (chunked with another configuration than the
              default) until they are chunked with the default again.
            </p>
          ) : null}
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
        {collection.document_count === 0 ? (
          <p className="muted" id="nothing-to-chunk">
            Nothing to chunk: upload documents first.
          </p>
        ) : null}
        <button
          type="submit"
          className="primary"
          disabled={startOperation.isPending || collection.document_count === 0}
          aria-describedby={collection.document_count === 0 ? "nothing-to-chunk" : undefined}
        >
          {startOperation.isPending ? "Starting…" : "Start chunking"}
        </button>
      </form>

      <h3>Operations</h3>
      <ErrorMessage error={operationsError} onRetry={reloadOperations} />
      {[...watched].reverse().map((op) => (
        <OperationProgress key={op.id} collectionId={collection.id} operation={op} onFinished={onFinished} />
      ))}
      {history.length ? (
        <TableScroll label="Operations, newest first">
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
        </TableScroll>
      ) : (
        <p className="muted">No operations yet.</p>
      )}
    </>
  );
}
