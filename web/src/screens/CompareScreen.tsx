// Two to six configurations on one text or document, side by side.
import { useMutation } from "@tanstack/react-query";
import { useEffect, useState, type FormEvent } from "react";
import { api, type Source } from "../api/endpoints";
import { errorText } from "../api/queries";
import type { ChunkConfig, CompareResponse } from "../api/types";
import { ChunkList } from "../components/ChunkList";
import { ConfigEditor } from "../components/ConfigEditor";
import { ErrorMessage } from "../components/ErrorMessage";
import { Histogram } from "../components/Histogram";
import { METRIC_ROWS } from "../components/Metrics";
import { EMPTY_SOURCE, SourcePicker, sourceOf, type SourceState } from "../components/SourcePicker";
import { describeConfig } from "../lib/format";
import { useTitle } from "../lib/hooks";
import { configFrom, editorFor, useStrategies, type EditorState } from "../lib/strategies";

const MIN_CONFIGS = 2;
const MAX_CONFIGS = 6;
/** Chunks listed per configuration (the histogram uses all that came back). */
const SHOWN = 30;
let nextId = 1;

interface Slot {
  id: number;
  editor: EditorState;
}

export default function CompareScreen() {
  useTitle("Compare");
  const { strategies, error: strategiesError, retry } = useStrategies();
  const [source, setSource] = useState<SourceState>({
    ...EMPTY_SOURCE,
    text: "# Notes\n\nPaste the text to compare strategies on, or choose an uploaded document.\n",
    filename: "notes.md",
  });
  const [slots, setSlots] = useState<Slot[]>([]);
  const [result, setResult] = useState<{ response: CompareResponse; configs: ChunkConfig[] } | null>(null);
  const [invalid, setInvalid] = useState<string | null>(null);
  // The last results stay on screen while the next are asked for, and when that fails.
  const compare = useMutation({
    mutationFn: ({ src, configs }: { src: Source; configs: ChunkConfig[] }) => api.compare(src, configs),
    onSuccess: (response, { configs }) => setResult({ response, configs }),
  });

  useEffect(() => {
    if (strategies && slots.length === 0) {
      setSlots([
        { id: nextId++, editor: editorFor(strategies, { strategy: "recursive" }) },
        { id: nextId++, editor: editorFor(strategies, { strategy: "markdown" }) },
      ]);
    }
  }, [strategies, slots.length]);

  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (!strategies) return;
    compare.reset();
    const src = sourceOf(source);
    if (!src) {
      setInvalid("Paste a text or choose a document first.");
      return;
    }
    const built = slots.map((slot) => configFrom(strategies, slot.editor));
    const problems = built.flatMap((b, k) => Object.values(b.errors).map((e) => `Configuration ${k + 1}: ${e}`));
    if (problems.length) {
      setInvalid(problems.join(" "));
      return;
    }
    setInvalid(null);
    compare.mutate({ src, configs: built.map((b) => b.config) });
  };

  return (
    <section>
      <h1>Compare configurations</h1>
      <form onSubmit={submit} className="stack">
        <SourcePicker value={source} onChange={setSource} idPrefix="compare" />
        <ErrorMessage error={strategiesError} onRetry={retry} />
        {strategies ? (
          <div className="config-grid">
            {slots.map((slot, k) => (
              <section key={slot.id} className="panel config-card" aria-labelledby={`compare-config-${slot.id}`}>
                <h2 id={`compare-config-${slot.id}`}>Configuration {k + 1}</h2>
                <ConfigEditor
                  strategies={strategies}
                  value={slot.editor}
                  onChange={(editor) => setSlots((list) => list.map((s) => (s.id === slot.id ? { ...s, editor } : s)))}
                  idPrefix={`compare-${slot.id}`}
                />
                <button
                  type="button"
                  disabled={slots.length <= MIN_CONFIGS}
                  onClick={() => setSlots((list) => list.filter((s) => s.id !== slot.id))}
                >
                  Remove configuration {k + 1}
                </button>
              </section>
            ))}
          </div>
        ) : null}
        <div className="actions">
          <button
            type="button"
            disabled={!strategies || slots.length >= MAX_CONFIGS}
            onClick={() => strategies && setSlots((list) => [...list, { id: nextId++, editor: editorFor(strategies) }])}
          >
            Add a configuration ({slots.length} of {MAX_CONFIGS})
          </button>
          <button type="submit" className="primary" disabled={compare.isPending || !strategies}>
            {compare.isPending ? "Comparing…" : "Compare"}
          </button>
        </div>
        <ErrorMessage error={invalid ?? errorText(compare.error)} />
      </form>
      {result ? <CompareResults response={result.response} /> : null}
    </section>
  );
}

function CompareResults({ response }: { response: CompareResponse }) {
  const rec = response.recommendation;
  const name = (k: number) => `Configuration ${k + 1}`;
  return (
    <section className="compare-results" aria-labelledby="compare-results-title" data-testid="compare-results">
      <h2 id="compare-results-title">Results</h2>
      <div className="recommendation" role="status">
        <strong>Recommended: {name(rec.index)}</strong> — <code>{describeConfig(rec)}</code>
        <p>{rec.reason}</p>
      </div>
      <div className="table-scroll" role="region" aria-label="Metrics of each configuration" tabIndex={0}>
        <table className="data-table">
          <caption>Metrics of each configuration</caption>
          <thead>
            <tr>
              <th scope="col">Metric</th>
              {response.results.map((r, k) => (
                <th scope="col" key={k}>
                  {name(k)}
                  {k === rec.index ? " ★ recommended" : ""}
                  {r.metrics === null ? " (failed)" : ""}
                  <br />
                  <code>{describeConfig(r)}</code>
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {METRIC_ROWS.map((row, line) => (
              <tr key={row.key}>
                <th scope="row">{row.label}</th>
                {response.results.map((r, k) => {
                  if (r.metrics) {
                    return (
                      <td key={k} className="num">
                        {row.format(r.metrics)}
                      </td>
                    );
                  }
                  // A failed configuration has no metrics: one cell down its column says why.
                  return line === 0 ? (
                    <td key={k} rowSpan={METRIC_ROWS.length} className="compare-failed">
                      Failed: {r.error ?? "this configuration could not be chunked"}
                    </td>
                  ) : null;
                })}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <div className="side-by-side">
        {response.results.map((r, k) => (
          <section
            key={k}
            className="panel"
            aria-labelledby={`compare-result-${k}`}
            data-testid={`compare-result-${k}`}
            data-state={r.metrics && r.chunks ? "ok" : "failed"}
          >
            <h3 id={`compare-result-${k}`}>
              {name(k)}: {r.strategy}
              {k === rec.index ? " (recommended)" : ""}
              {r.metrics === null ? " (failed)" : ""}
            </h3>
            {r.metrics && r.chunks ? (
              <>
                <Histogram sizes={r.chunks.map((c) => c.tokens)} label={`${name(k)}: chunk sizes (tokens)`} />
                <p className="muted">
                  {r.chunks.length > SHOWN ? `First ${SHOWN} of ${r.metrics.chunk_count} chunks:` : `All ${r.metrics.chunk_count} chunks:`}
                </p>
                <ChunkList chunks={r.chunks.slice(0, SHOWN)} label={`${name(k)}: chunks`} maxChars={240} />
              </>
            ) : (
              <div className="error-message">
                <strong>This configuration failed: </strong>
                <span>{r.error ?? "it could not be chunked"}</span>
              </div>
            )}
          </section>
        ))}
      </div>
    </section>
  );
}
