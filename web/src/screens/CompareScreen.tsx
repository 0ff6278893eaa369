// Two to six configurations on one text or document, side by side.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useEffect, useMemo, useState, type FormEvent } from "react";
import { useLocation } from "wouter";
import { api, type Source } from "../api/endpoints";
import { errorText, queries } from "../api/queries";
import type { ChunkConfig, CompareResponse } from "../api/types";
import { ChunkList } from "../components/ChunkList";
import { CompareLanes } from "../components/CompareLanes";
import { ConfigEditor } from "../components/ConfigEditor";
import { ErrorMessage } from "../components/ErrorMessage";
import { Histogram } from "../components/Histogram";
import { METRIC_ROWS } from "../components/Metrics";
import { EMPTY_SOURCE, SourcePicker, sourceOf, type SourceState } from "../components/SourcePicker";
import { humanizeError } from "../lib/errors";
import { DEFAULT_K, evaluationsApi, evaluationKeys } from "../lib/evaluationsApi";
import { describeConfig } from "../lib/format";
import { domainOf } from "../lib/histogram";
import { useTitle } from "../lib/hooks";
import { questionKeys, questionsApi } from "../lib/questionsApi";
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

interface Result {
  response: CompareResponse;
  /** What was compared, as a key: the results are out of date once the inputs differ. */
  key: string;
  /** Each configuration as compared, by slot id (a slot changed since is marked). */
  compared: Map<number, string>;
  /** The text the offsets index (null when it could not be read: the lanes need it). */
  text: string | null;
}

function keyOf(src: Source | null, configs: ChunkConfig[]): string {
  return JSON.stringify([src, configs]);
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
  const [result, setResult] = useState<Result | null>(null);
  const [invalid, setInvalid] = useState<string | null>(null);
  const queryClient = useQueryClient();
  // The last results stay on screen while the next are asked for, and when that fails, marked
  // out of date as soon as any input differs from what they answer.
  const compare = useMutation({
    mutationFn: async ({ src, configs }: { src: Source; configs: ChunkConfig[]; slotIds: number[] }) => {
      const [response, text] = await Promise.all([
        api.compare(src, configs),
        "text" in src
          ? src.text
          : queryClient
              .fetchQuery(queries.documentText(src.document_id))
              .then((d) => d.text)
              .catch(() => null),
      ]);
      return { response, text };
    },
    onSuccess: ({ response, text }, { src, configs, slotIds }) =>
      setResult({
        response,
        text,
        key: keyOf(src, configs),
        compared: new Map(slotIds.map((id, k) => [id, JSON.stringify(configs[k])])),
      }),
  });
  const built = useMemo(() => (strategies ? slots.map((slot) => configFrom(strategies, slot.editor)) : []), [strategies, slots]);
  const currentKey = useMemo(() => keyOf(sourceOf(source), built.map((b) => b.config)), [source, built]);
  const current = result !== null && result.key === currentKey;

  useEffect(() => {
    if (strategies && slots.length === 0) {
      setSlots([
        { id: nextId++, editor: editorFor(strategies, { strategy: "recursive" }) },
        { id: nextId++, editor: editorFor(strategies, { strategy: "markdown" }) },
      ]);
    }
  }, [strategies, slots.length]);

  /** The configurations as they are, or null (with the sentence saying which to fix). */
  const validConfigs = (): ChunkConfig[] | null => {
    const wrong = built.flatMap((b, k) => (Object.keys(b.errors).length ? [k + 1] : []));
    if (wrong.length) {
      // Each field says what is wrong with it, in its own configuration.
      setInvalid(
        `Fix the fields marked in ${wrong.length === 1 ? `configuration ${wrong[0]}` : `configurations ${wrong.join(" and ")}`} first.`,
      );
      return null;
    }
    setInvalid(null);
    return built.map((b) => b.config);
  };

  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (!strategies) return;
    compare.reset();
    evaluate.reset();
    const src = sourceOf(source);
    if (!src) {
      setInvalid("Paste a text or choose a document first.");
      return;
    }
    const configs = validConfigs();
    if (configs) compare.mutate({ src, configs, slotIds: slots.map((s) => s.id) });
  };

  // Scoring by retrieval: offered when the chosen document's collection has questions; it
  // starts an evaluation of the compared configurations and opens it.
  const collectionId = source.mode === "document" ? source.collectionId : "";
  const questions = useQuery({
    queryKey: [...questionKeys.questions(collectionId), "any"],
    queryFn: ({ signal }) => questionsApi.questions(collectionId, undefined, 1, signal),
    enabled: collectionId !== "",
  });
  const hasQuestions = collectionId !== "" && (questions.data?.items.length ?? 0) > 0;
  const [, navigate] = useLocation();
  const evaluate = useMutation({
    mutationFn: (configs: ChunkConfig[]) => evaluationsApi.start(collectionId, configs, DEFAULT_K, "static"),
    onSuccess: (evaluation) => {
      void queryClient.invalidateQueries({ queryKey: evaluationKeys.list(evaluation.collection_id) });
      navigate(`/evaluations/${evaluation.id}`);
    },
  });
  const scoreByRetrieval = () => {
    if (!strategies) return;
    compare.reset();
    evaluate.reset();
    const configs = validConfigs();
    if (configs) evaluate.mutate(configs);
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
              <section
                key={slot.id}
                className="panel config-card"
                aria-labelledby={`compare-config-${slot.id}`}
                data-changed={result && result.compared.get(slot.id) !== JSON.stringify(built[k]?.config) ? "true" : "false"}
              >
                <h2 id={`compare-config-${slot.id}`}>
                  <span className={`lane-mark lane-c${k + 1}`} aria-hidden="true">
                    {k + 1}
                  </span>{" "}
                  Configuration {k + 1}
                </h2>
                {result && result.compared.get(slot.id) !== JSON.stringify(built[k]?.config) ? (
                  <p className="stale-notice">Changed since the results below: compare again to see it.</p>
                ) : null}
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
          {hasQuestions ? (
            <button type="button" onClick={scoreByRetrieval} disabled={evaluate.isPending || !strategies} aria-describedby="score-by-retrieval-help">
              {evaluate.isPending ? "Starting…" : "Score by retrieval"}
            </button>
          ) : null}
        </div>
        {hasQuestions ? (
          <p className="field-help" id="score-by-retrieval-help">
            Score by retrieval evaluates these configurations on the questions of the document&apos;s collection (the k = {DEFAULT_K}{" "}
            nearest chunks of its referenced documents per question), and opens the results.
          </p>
        ) : null}
        <ErrorMessage error={invalid ?? errorText(compare.error) ?? errorText(evaluate.error)} />
      </form>
      {result ? (
        <>
          {!current ? (
            <p className="stale-notice" role="status" data-testid="compare-stale">
              <strong>Out of date:</strong> the source or a configuration changed since these results; press Compare to update
              them.
            </p>
          ) : null}
          <div className={current ? "" : "out-of-date"} data-current={String(current)}>
            <CompareResults response={result.response} text={result.text} />
          </div>
        </>
      ) : null}
    </section>
  );
}

function CompareResults({ response, text }: { response: CompareResponse; text: string | null }) {
  const rec = response.recommendation;
  const name = (k: number) => `Configuration ${k + 1}`;
  const sizes = useMemo(() => response.results.map((r) => r.chunks?.map((c) => c.tokens) ?? []), [response]);
  // One x-axis (and bar scale) for every histogram, so their shapes compare at a glance.
  const domain = useMemo(() => domainOf(sizes), [sizes]);
  const lanes = useMemo(() => response.results.map((r, k) => ({ name: `${name(k)}: ${r.strategy}`, chunks: r.chunks })), [response]);
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
                      Failed: {r.error ? humanizeError(r.error) : "this configuration could not be chunked"}
                    </td>
                  ) : null;
                })}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {text !== null ? (
        <CompareLanes text={text} lanes={lanes} />
      ) : (
        <p className="muted">The document's text cannot be shown here, so its boundaries are listed per configuration below.</p>
      )}
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
              <span className={`lane-mark lane-c${k + 1}`} aria-hidden="true">
                {k + 1}
              </span>{" "}
              {name(k)}: {r.strategy}
              {k === rec.index ? " (recommended)" : ""}
              {r.metrics === null ? " (failed)" : ""}
            </h3>
            {r.metrics && r.chunks ? (
              <>
                <Histogram sizes={sizes[k]!} domain={domain} label={`${name(k)}: chunk sizes (tokens)`} />
                <p className="muted">
                  {r.chunks.length > SHOWN ? `First ${SHOWN} of ${r.metrics.chunk_count} chunks:` : `All ${r.metrics.chunk_count} chunks:`}
                </p>
                <ChunkList chunks={r.chunks.slice(0, SHOWN)} label={`${name(k)}: chunks`} maxChars={240} />
              </>
            ) : (
              <div className="error-message">
                <strong>This configuration failed: </strong>
                <span>{r.error ? humanizeError(r.error) : "it could not be chunked"}</span>
              </div>
            )}
          </section>
        ))}
      </div>
    </section>
  );
}
