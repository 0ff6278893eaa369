// Try a strategy on a text or an uploaded document: the preview follows the parameters as
// they change (debounced), with boundaries drawn over the source, metrics and a histogram.
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useCallback, useEffect, useMemo, useState } from "react";
import { useSearch } from "wouter";
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
import { plural } from "../lib/format";
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

interface Result {
  params: Record<string, unknown>;
  strategy: string;
  response: PreviewResponse;
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
  const requestKey = useMemo(() => {
    const src = sourceOf(source);
    if (!src || !built || Object.keys(built.errors).length) return null;
    return JSON.stringify([src, built.config]);
  }, [source, built]);
  const debouncedKey = useDebounced(requestKey, PREVIEW_DEBOUNCE_MS);

  // A document's extracted text is fetched once (kept while the document is chosen) and drawn
  // with the chunks, so the whitespace between chunks is the document's own.
  const documentId = source.mode === "document" ? source.documentId : "";
  useQuery({ ...queries.documentText(documentId), enabled: documentId !== "" });
  const queryClient = useQueryClient();
  const preview = useQuery({
    queryKey: ["preview", debouncedKey],
    queryFn: async ({ queryKey, signal }): Promise<Result> => {
      const [src, config] = JSON.parse(queryKey[1]!) as [Source, ChunkConfig];
      const [response, text] = await Promise.all([
        api.preview(src, config.strategy, config.params ?? {}, signal),
        "text" in src ? src.text : queryClient.fetchQuery(queries.documentText(src.document_id)).then((d) => d.text),
      ]);
      return { params: config.params ?? {}, strategy: config.strategy, response, text, fromDocument: !("text" in src) };
    },
    enabled: requestKey !== null && requestKey === debouncedKey,
    // Each preview is asked for afresh, as the parameters change (the server caches them).
    gcTime: 0,
  });
  const loading = preview.isFetching;
  const error = errorText(preview.error);

  // The last preview stays on screen while the next loads, and when it fails.
  const [result, setResult] = useState<Result | null>(null);
  const [bin, setBin] = useState<{ bin: Bin; index: number } | null>(null);
  if (preview.data && preview.data !== result) {
    setResult(preview.data);
    setBin(null);
  }

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
          data-state={loading ? "loading" : error ? "error" : result ? "ready" : "empty"}
          data-params={result ? JSON.stringify(result.params) : ""}
          data-strategy={result?.strategy ?? ""}
        >
          <h2>Preview</h2>
          <p className="preview-summary" aria-live="polite">
            {result
              ? `${plural(result.response.total_chunks, "chunk")} with ${result.strategy}${result.response.cached ? " (cached)" : ""}${
                  loading ? "; updating…" : ""
                }`
              : loading
                ? "Chunking…"
                : !sourceOf(source)
                  ? "Paste a text or choose a document to see its chunks."
                  : ""}
          </p>
          <ErrorMessage error={error} />
          {result ? <PreviewBody result={result} sizes={sizes} bin={bin} emphasised={emphasised} onSelectBin={onSelectBin} /> : null}
        </div>
      </div>
    </section>
  );
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
  const chunks = result.response.chunks;
  const focusChunk = (position: number) => {
    const chunk = chunks[position];
    if (!chunk) return;
    const el = document.getElementById(`playground-chunk-${chunk.index}`);
    el?.scrollIntoView({ block: "center" });
    el?.focus();
  };
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
