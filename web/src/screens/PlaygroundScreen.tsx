// Try a strategy on a text or an uploaded document: the preview follows the parameters as
// they change (debounced), with boundaries drawn over the source, metrics and a histogram.
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useCallback, useEffect, useMemo, useState } from "react";
import { useSearch } from "wouter";
import { ApiError } from "../api/client";
import { api, type Source } from "../api/endpoints";
import { errorText, queries } from "../api/queries";
import type { ChunkConfig, PreviewResponse } from "../api/types";
import { ConfigEditor } from "../components/ConfigEditor";
import { ErrorMessage } from "../components/ErrorMessage";
import { Histogram } from "../components/Histogram";
import { HighlightedText } from "../components/HighlightedText";
import { MetricsList } from "../components/Metrics";
import { EMPTY_SOURCE, SourcePicker, sourceOf, type SourceState } from "../components/SourcePicker";
import type { Bin } from "../lib/histogram";
import { formatNumber, plural } from "../lib/format";
import { levelsOf } from "../lib/levels";
import { useDebounced, useTitle } from "../lib/hooks";
import { configFrom, editorFor, useStrategies, type EditorState } from "../lib/strategies";

/** Quiet time after the last change before the preview is asked for. */
export const PREVIEW_DEBOUNCE_MS = 120;

const SAMPLE = `# Chunkyard playground

Paste your own text here, or pick an uploaded document above.

## How it works

Each strategy cuts the text into chunks no larger than the chunk size, counted in tokens of the chosen tokenizer. Boundaries are marked in the text below; overlapping parts are hatched.

## Why it matters

Retrieval works on chunks: too small and they lose their context, too large and they dilute it.
`;

/** Chunks returned per preview: a document with more is shown a window of chunks at a time. */
export const CHUNK_WINDOW = 2000;

interface Result {
  /** The [source, config, first chunk] it answers: compared with the current inputs to mark it out of date. */
  key: string;
  /** Where `text` starts in the whole text (code points): 0 unless it is a window of a large document. */
  offset: number;
  firstChunk: number;
  params: Record<string, unknown>;
  strategy: string;
  response: PreviewResponse & { next_chunk?: number | null };
  text: string;
  fromDocument: boolean;
}

export default function PlaygroundScreen() {
  useTitle("Playground");
  const search = useSearch();
  const initialDocument = new URLSearchParams(search).get("document") ?? "";
  const { strategies, error: strategiesError, retry } = useStrategies();
  const [source, setSource] = useState<SourceState>(() =>
    initialDocument ? { ...EMPTY_SOURCE, mode: "document", documentId: initialDocument } : { ...EMPTY_SOURCE, text: SAMPLE, filename: "sample.md" },
  );
  const [editor, setEditor] = useState<EditorState | null>(null);
  useEffect(() => {
    // The sample text is short: small chunks with some overlap show what the view can do.
    if (strategies && !editor) {
      setEditor(editorFor(strategies, initialDocument ? {} : { strategy: "recursive", params: { chunk_size: 48, chunk_overlap: 8 } }));
    }
  }, [strategies, editor, initialDocument]);

  const built = useMemo(() => (strategies && editor ? configFrom(strategies, editor) : null), [strategies, editor]);
  // What to preview, as a key: [source, config]. Asked for once it has stopped changing; a
  // newer one aborts the one in flight.
  const baseKey = useMemo(() => {
    const src = sourceOf(source);
    if (!src || !built || Object.keys(built.errors).length) return null;
    return JSON.stringify([src, built.config]);
  }, [source, built]);
  // The window of chunks shown (a large document's): back to the first for new inputs.
  const [win, setWin] = useState<{ base: string | null; first: number }>({ base: null, first: 0 });
  const firstChunk = win.base === baseKey ? win.first : 0;
  const requestKey = useMemo(() => (baseKey === null ? null : JSON.stringify([baseKey, firstChunk])), [baseKey, firstChunk]);
  const debouncedKey = useDebounced(requestKey, PREVIEW_DEBOUNCE_MS);

  // A document's extracted text is fetched once (kept while the document is chosen) and drawn
  // with the chunks, so the whitespace between chunks is the document's own.
  const documentId = source.mode === "document" ? source.documentId : "";
  useQuery({ ...queries.documentText(documentId), enabled: documentId !== "" });
  const queryClient = useQueryClient();
  const preview = useQuery({
    queryKey: ["preview", debouncedKey],
    queryFn: async ({ queryKey, signal }): Promise<Result> => {
      const [base, first] = JSON.parse(queryKey[1]!) as [string, number];
      const [src, config] = JSON.parse(base) as [Source, ChunkConfig];
      // The whole text when one answer holds it (fetched once per document); a larger one is
      // read as the window around the chunks shown.
      const whole =
        "text" in src
          ? Promise.resolve(src.text)
          : queryClient.fetchQuery(queries.documentText(src.document_id)).then(
              (d) => d.text,
              (err: unknown) => (err instanceof ApiError && err.status === 413 ? null : Promise.reject(err)),
            );
      const [response, wholeText] = await Promise.all([
        api.preview(src, config.strategy, config.params ?? {}, signal, { first_chunk: first, max_chunks: CHUNK_WINDOW }),
        whole,
      ]);
      let text = wholeText;
      let offset = 0;
      if (text === null && "document_id" in src) {
        const chunks = response.chunks;
        const start = first === 0 || !chunks.length ? 0 : chunks[0]!.start;
        const end = response.next_chunk === null || response.next_chunk === undefined || !chunks.length ? null : Math.max(...chunks.map((c) => c.end));
        const window = await api.documentTextWindow(src.document_id, start, end, signal);
        text = window.text;
        offset = (window as { start?: number }).start ?? start;
      }
      return {
        key: queryKey[1]!,
        offset,
        firstChunk: first,
        params: config.params ?? {},
        strategy: config.strategy,
        response,
        text: text ?? "",
        fromDocument: !("text" in src),
      };
    },
    enabled: requestKey !== null && requestKey === debouncedKey,
    // Each preview is asked for afresh, as the parameters change (the server caches them).
    gcTime: 0,
  });
  const hasSource = sourceOf(source) !== null;
  const invalid = built !== null && Object.keys(built.errors).length > 0;
  // An error answers the inputs it was asked with: once they change, it is no longer shown.
  const error = debouncedKey === requestKey ? errorText(preview.error) : null;

  // The last preview stays on screen while the next loads, marked out of date; it goes when
  // there is nothing to chunk, and when the current inputs fail (never a result under an
  // error it does not belong to).
  const [result, setResult] = useState<Result | null>(null);
  const [bin, setBin] = useState<{ bin: Bin; index: number } | null>(null);
  if (hasSource && !error && preview.data && preview.data !== result) {
    setResult(preview.data);
    setBin(null);
  } else if (result && (!hasSource || error)) {
    setResult(null);
    setBin(null);
  }
  const current = result !== null && result.key === requestKey;
  const loading = preview.isFetching || (requestKey !== null && requestKey !== debouncedKey);
  const state = !hasSource
    ? "empty"
    : error
      ? "error"
      : invalid
        ? "invalid"
        : current && !preview.isFetching
          ? "ready"
          : loading
            ? "loading"
            : result
              ? "stale"
              : "empty";

  const sizes = useMemo(() => result?.response.chunks.map((c) => c.tokens) ?? [], [result]);
  const emphasised = useMemo(() => (bin ? new Set(bin.bin.members) : undefined), [bin]);
  const onSelectBin = useCallback((b: Bin | null, index: number | null) => setBin(b && index !== null ? { bin: b, index } : null), []);

  return (
    <section>
      <h1>Playground</h1>
      <div className="two-columns">
        <div className="controls">
          <SourcePicker value={source} onChange={setSource} idPrefix="playground" />
          <ErrorMessage error={strategiesError} onRetry={retry} />
          {strategies && editor ? (
            <ConfigEditor strategies={strategies} value={editor} onChange={setEditor} idPrefix="playground" />
          ) : null}
        </div>
        <div
          className="results"
          data-testid="preview"
          data-state={state}
          data-current={result ? String(current) : ""}
          data-params={result ? JSON.stringify(result.params) : ""}
          data-strategy={result?.strategy ?? ""}
        >
          <h2>Preview</h2>
          <p className="preview-summary" aria-live="polite">
            {!hasSource
              ? "Paste a text or choose a document to see its chunks."
              : result
                ? `${plural(result.response.total_chunks, "chunk")} with ${result.strategy}${result.response.cached ? " (cached)" : ""}${
                    current ? (preview.isFetching ? "; updating…" : "") : ""
                  }`
                : loading
                  ? "Chunking…"
                  : invalid
                    ? "Fix the parameters marked in the form to see a preview."
                    : ""}
          </p>
          {result && !current ? (
            <p className="stale-notice" role="status" data-testid="stale-notice">
              <strong>Out of date:</strong>{" "}
              {invalid
                ? "these chunks are for earlier settings; fix the parameters marked in the form to update the preview."
                : "these chunks are for earlier settings; the preview for the current ones is on its way."}
            </p>
          ) : null}
          <ErrorMessage error={error} />
          {result && (result.firstChunk > 0 || (result.response.next_chunk ?? null) !== null) ? (
            <ChunkWindowNav result={result} onMove={(first) => setWin({ base: baseKey, first })} />
          ) : null}
          {result ? (
            <div className={current ? "preview-body" : "preview-body out-of-date"}>
              <PreviewBody result={result} sizes={sizes} bin={bin} emphasised={emphasised} onSelectBin={onSelectBin} />
            </div>
          ) : null}
        </div>
      </div>
    </section>
  );
}

/** Which chunks of a large document are shown, and the way to the others. */
function ChunkWindowNav({ result, onMove }: { result: Result; onMove: (first: number) => void }) {
  const { chunks, total_chunks: total, next_chunk: next } = result.response;
  const first = result.firstChunk;
  return (
    <nav className="actions chunk-window" aria-label="Chunks shown" data-testid="chunk-window">
      <span>
        Showing chunks {first + 1}–{first + chunks.length} of {total}, with the text around them (the metrics count every
        chunk).
      </span>
      <button type="button" disabled={first === 0} onClick={() => onMove(Math.max(0, first - CHUNK_WINDOW))}>
        Previous chunks
      </button>
      <button type="button" disabled={next === null || next === undefined} onClick={() => next != null && onMove(next)}>
        Next chunks
      </button>
    </nav>
  );
}

/** A window's chunks with their offsets into the window's text. */
function shifted(result: Result): Result["response"]["chunks"] {
  if (result.offset === 0) return result.response.chunks;
  return result.response.chunks.map((c) => ({ ...c, start: c.start - result.offset, end: c.end - result.offset }));
}

function PreviewBody({
  result,
  sizes,
  bin,
  emphasised,
  onSelectBin,
}: {
  result: Result;
  sizes: number[];
  bin: { bin: Bin; index: number } | null;
  emphasised: Set<number> | undefined;
  onSelectBin: (b: Bin | null, index: number | null) => void;
}) {
  const chunks = useMemo(() => shifted(result), [result]);
  const focusChunk = (position: number) => {
    const chunk = chunks[position];
    if (!chunk) return;
    const el = document.getElementById(`playground-chunk-${chunk.index}`);
    el?.scrollIntoView({ block: "center" });
    el?.focus();
  };
  const levels = useMemo(() => levelsOf(chunks), [chunks]);
  if (levels) return <LevelsBody result={result} levels={levels} />;
  return (
    <>
      <MetricsList metrics={result.response.metrics} />
      <Histogram sizes={sizes} label="Chunk sizes (tokens)" selected={bin?.index ?? null} onSelect={onSelectBin} />
      {bin ? (
        <div className="bin-members">
          <p>
            {plural(bin.bin.members.length, "chunk")} of {bin.bin.low}–{bin.bin.high} tokens (emphasised below):
          </p>
          <ul className="chip-list">
            {bin.bin.members.slice(0, 200).map((position) => (
              <li key={position}>
                <button type="button" className="chip" onClick={() => focusChunk(position)}>
                  §{chunks[position]?.index} ({chunks[position]?.tokens} tokens)
                </button>
              </li>
            ))}
          </ul>
        </div>
      ) : null}
      <h3>Source with chunk boundaries</h3>
      <p className="legend muted">
        <span className="boundary">§n · t tok</span> starts chunk n (t tokens); chunks alternate between plain and{" "}
        <span className="seg seg-odd">shaded with a side rule</span>; <mark className="seg seg-overlap">hatched and underlined</mark>{" "}
        text belongs to two chunks (overlap).
        {result.fromDocument ? " A stored document is shown as its text was extracted, exactly what a chunking run splits." : null}
      </p>
      <HighlightedText text={result.text} chunks={chunks} idPrefix="playground" emphasised={emphasised} />
    </>
  );
}

/** Hierarchical chunks with parents: one lane per level, each with its own metrics. */
function LevelsBody({ result, levels }: { result: Result; levels: NonNullable<ReturnType<typeof levelsOf>> }) {
  return (
    <div className="level-lanes" data-testid="levels">
      <p className="muted">
        These chunks come in {levels.length} levels: each is drawn over the text on its own, with its own sizes (the metrics of
        the whole mix levels, so they are shown per level).
      </p>
      <div className="table-scroll" role="region" aria-label="Chunk sizes per level" tabIndex={0}>
        <table className="data-table">
          <caption>Chunk sizes per level (tokens)</caption>
          <thead>
            <tr>
              <th scope="col">Level</th>
              <th scope="col" className="num">Chunks</th>
              <th scope="col" className="num">Mean</th>
              <th scope="col" className="num">Min</th>
              <th scope="col" className="num">Max</th>
              <th scope="col" className="num">p95</th>
            </tr>
          </thead>
          <tbody>
            {levels.map((l) => (
              <tr key={l.level} data-level={l.level}>
                <th scope="row">{l.name}</th>
                <td className="num">{l.stats.count}</td>
                <td className="num">{formatNumber(l.stats.mean)}</td>
                <td className="num">{l.stats.min}</td>
                <td className="num">{l.stats.max}</td>
                <td className="num">{l.stats.p95}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {levels.map((l) => (
        <section key={l.level} aria-labelledby={`level-${l.level}-title`} data-level={l.level}>
          <h3 id={`level-${l.level}-title`}>
            {l.name} ({plural(l.stats.count, "chunk")})
          </h3>
          <Histogram sizes={l.chunks.map((c) => c.tokens)} label={`${l.name}: chunk sizes (tokens)`} />
          <HighlightedText
            text={result.text}
            chunks={l.chunks}
            idPrefix={`playground-level-${l.level}`}
            label={`Source text with the boundaries of ${l.name.toLowerCase()}`}
          />
        </section>
      ))}
    </div>
  );
}
