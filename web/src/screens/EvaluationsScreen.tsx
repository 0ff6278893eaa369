// Evaluate a collection's chunking by retrieval: choose 1 to 6 configurations and k, start an
// evaluation (its progress and results are on its own screen), and see the earlier ones.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useEffect, useMemo, useState, type FormEvent } from "react";
import { Link, useLocation } from "wouter";
import { errorText, queries } from "../api/queries";
import type { ChunkConfig, Collection } from "../api/types";
import { ConfigEditor } from "../components/ConfigEditor";
import { ErrorMessage } from "../components/ErrorMessage";
import { TableScroll } from "../components/TableScroll";
import {
  DEFAULT_K,
  evaluationKeys,
  evaluationsApi,
  MAX_EVAL_CONFIGS,
  MAX_K,
  percent,
  type EmbeddingModel,
  type Evaluation,
} from "../lib/evaluationsApi";
import { describeConfig, formatDate, plural } from "../lib/format";
import { useTitle } from "../lib/hooks";
import { fetchAll } from "../lib/paging";
import { statusWord } from "../lib/progress";
import { questionKeys, questionsApi } from "../lib/questionsApi";
import { configFrom, editorFor, useStrategies, type EditorState } from "../lib/strategies";
import { StatusBadge } from "./CollectionsScreen";

let nextSlot = 1;

export default function EvaluationsScreen({ collectionId }: { collectionId: string }) {
  const collection = useQuery(queries.collection(collectionId));
  const name = collection.data?.name;
  useTitle(name ? `Evaluate ${name}` : "Evaluate");
  // One question is enough to know there are some.
  const anyQuestion = useQuery({
    queryKey: [...questionKeys.questions(collectionId), "any"],
    queryFn: ({ signal }) => questionsApi.questions(collectionId, undefined, 1, signal),
  });
  const evaluations = useQuery({
    queryKey: evaluationKeys.list(collectionId),
    queryFn: ({ signal }) => fetchAll((cursor) => evaluationsApi.list(collectionId, cursor, 100, signal)),
  });
  const hasQuestions = anyQuestion.data ? anyQuestion.data.items.length > 0 : null;
  return (
    <section>
      <p className="breadcrumb">
        <Link href="/">Collections</Link> / <Link href={`/collections/${collectionId}`}>{name ?? "…"}</Link> / <span>Evaluate</span>
      </p>
      <h1>Evaluate{name ? ` ${name}` : ""} by retrieval</h1>
      <p className="muted">
        Each configuration chunks the documents the questions refer to (nothing is stored); chunks and questions are embedded,
        the k nearest chunks are retrieved for every question and scored against its references: recall (how much of the answer
        they hold), precision (how much of what they hold is the answer) and IoU (both at once).
      </p>
      <ErrorMessage error={errorText(collection.error ?? anyQuestion.error)} onRetry={() => void (collection.error ? collection.refetch() : anyQuestion.refetch())} />
      {hasQuestions === false ? (
        <p className="stale-notice" role="status">
          This collection has no questions yet: <Link href={`/collections/${collectionId}/questions`}>add some, or import a CSV file</Link>,
          then evaluate.
        </p>
      ) : hasQuestions ? (
        <p>
          <Link href={`/collections/${collectionId}/questions`}>See and edit the questions</Link>
        </p>
      ) : null}
      {collection.data ? <StartEvaluation collection={collection.data} ready={hasQuestions === true} /> : null}

      <section className="panel" aria-labelledby="evaluations-title">
        <h2 id="evaluations-title">Evaluations</h2>
        <ErrorMessage error={errorText(evaluations.error)} onRetry={() => void evaluations.refetch()} />
        {evaluations.data ? <EvaluationsTable evaluations={evaluations.data} /> : null}
      </section>
    </section>
  );
}

interface Slot {
  id: number;
  editor: EditorState;
}

function StartEvaluation({ collection, ready }: { collection: Collection; ready: boolean }) {
  const { strategies, error: strategiesError, retry } = useStrategies();
  const [slots, setSlots] = useState<Slot[]>([]);
  const [k, setK] = useState(String(DEFAULT_K));
  const [model, setModel] = useState<EmbeddingModel>("static");
  const [invalid, setInvalid] = useState<string | null>(null);
  const [, navigate] = useLocation();
  const queryClient = useQueryClient();
  useEffect(() => {
    if (strategies && slots.length === 0) setSlots([{ id: nextSlot++, editor: editorFor(strategies, collection.config) }]);
  }, [strategies, slots.length, collection.config]);
  const built = useMemo(() => (strategies ? slots.map((s) => configFrom(strategies, s.editor)) : []), [strategies, slots]);
  const start = useMutation({
    mutationFn: ({ configs, k: kValue }: { configs: ChunkConfig[]; k: number }) =>
      evaluationsApi.start(collection.id, configs, kValue, model),
    onSuccess: (evaluation) => {
      void queryClient.invalidateQueries({ queryKey: evaluationKeys.list(collection.id) });
      navigate(`/evaluations/${evaluation.id}`);
    },
  });
  const kNumber = Number(k);
  const kError = !/^\d+$/.test(k.trim()) || kNumber < 1 || kNumber > MAX_K ? `k must be a whole number from 1 to ${MAX_K}.` : null;
  const submit = (event: FormEvent) => {
    event.preventDefault();
    start.reset();
    const wrong = built.flatMap((b, n) => (Object.keys(b.errors).length ? [n + 1] : []));
    if (wrong.length) {
      setInvalid(`Fix the fields marked in ${wrong.length === 1 ? `configuration ${wrong[0]}` : `configurations ${wrong.join(" and ")}`} first.`);
      return;
    }
    if (kError) {
      setInvalid(kError);
      return;
    }
    setInvalid(null);
    start.mutate({ configs: built.map((b) => b.config), k: kNumber });
  };
  return (
    <section className="panel" aria-labelledby="start-evaluation-title">
      <h2 id="start-evaluation-title">New evaluation</h2>
      <form onSubmit={submit} className="stack">
        <ErrorMessage error={strategiesError} onRetry={retry} />
        {strategies ? (
          <div className="config-grid">
            {slots.map((slot, n) => (
              <section key={slot.id} className="panel config-card" aria-labelledby={`evaluate-config-${slot.id}`}>
                <h3 id={`evaluate-config-${slot.id}`}>
                  <span className={`lane-mark lane-c${n + 1}`} aria-hidden="true">
                    {n + 1}
                  </span>{" "}
                  Configuration {n + 1}
                </h3>
                <ConfigEditor
                  strategies={strategies}
                  value={slot.editor}
                  onChange={(editor) => setSlots((list) => list.map((s) => (s.id === slot.id ? { ...s, editor } : s)))}
                  idPrefix={`evaluate-${slot.id}`}
                />
                <button type="button" disabled={slots.length <= 1} onClick={() => setSlots((list) => list.filter((s) => s.id !== slot.id))}>
                  Remove configuration {n + 1}
                </button>
              </section>
            ))}
          </div>
        ) : null}
        <div className="actions">
          <button
            type="button"
            disabled={!strategies || slots.length >= MAX_EVAL_CONFIGS}
            onClick={() => strategies && setSlots((list) => [...list, { id: nextSlot++, editor: editorFor(strategies) }])}
          >
            Add a configuration ({slots.length} of {MAX_EVAL_CONFIGS})
          </button>
        </div>
        <div className="inline-fields">
          <div className="field">
            <label htmlFor="evaluation-k">Chunks retrieved per question (k)</label>
            <input
              id="evaluation-k"
              type="number"
              min={1}
              max={MAX_K}
              step={1}
              value={k}
              aria-invalid={kError ? true : undefined}
              aria-describedby="evaluation-k-help"
              onChange={(e) => setK(e.target.value)}
            />
            <p className="field-help" id="evaluation-k-help">
              1 to {MAX_K}; 5 is the usual.
            </p>
          </div>
          <div className="field">
            <label htmlFor="evaluation-model">Embedding model</label>
            <select
              id="evaluation-model"
              value={model}
              aria-describedby="evaluation-model-help"
              onChange={(e) => setModel(e.target.value as EmbeddingModel)}
            >
              <option value="static">static (bundled)</option>
              <option value="local">local (MiniLM)</option>
            </select>
            <p className="field-help" id="evaluation-model-help">
              static is fast and always there; local is all-MiniLM-L6-v2, which needs the semantic extra.
            </p>
          </div>
        </div>
        <ErrorMessage error={invalid ?? errorText(start.error)} />
        <p className="actions">
          <button type="submit" className="primary" disabled={!ready || !strategies || start.isPending}>
            {start.isPending ? "Starting…" : `Start the evaluation (${plural(slots.length, "configuration")})`}
          </button>
        </p>
      </form>
    </section>
  );
}

function EvaluationsTable({ evaluations }: { evaluations: Evaluation[] }) {
  const newest = useMemo(() => [...evaluations].reverse(), [evaluations]);
  if (!newest.length) return <p className="muted">No evaluations yet.</p>;
  return (
    <TableScroll label="Evaluations, newest first">
      <table className="data-table">
        <caption className="visually-hidden">Evaluations, newest first</caption>
        <thead>
          <tr>
            <th scope="col">Started</th>
            <th scope="col">Status</th>
            <th scope="col">Configurations</th>
            <th scope="col" className="num">
              k
            </th>
            <th scope="col">Best by IoU</th>
            <th scope="col">Results</th>
          </tr>
        </thead>
        <tbody>
          {newest.map((ev) => {
            const bestIou = ev.best?.iou ?? null;
            const winner = bestIou !== null ? ev.results?.[bestIou] : undefined;
            return (
              <tr key={ev.id} data-evaluation={ev.id}>
                <td>{formatDate(ev.created_at)}</td>
                <td>
                  <StatusBadge status={ev.status} />
                </td>
                <td>
                  <ul className="plain-list">
                    {ev.configs.map((c, n) => (
                      <li key={n}>
                        <code>{describeConfig(c)}</code>
                      </li>
                    ))}
                  </ul>
                </td>
                <td className="num">{ev.k}</td>
                <td>{winner && bestIou !== null ? `Configuration ${bestIou + 1}: ${percent(winner.iou)}` : ""}</td>
                <td>
                  <Link href={`/evaluations/${ev.id}`} aria-label={`Open the evaluation started ${formatDate(ev.created_at)} (${statusWord(ev.status)})`}>
                    Open
                  </Link>
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </TableScroll>
  );
}
