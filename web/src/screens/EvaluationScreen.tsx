// One evaluation: its live progress (the operation's WebSocket, polling when it is down) and
// cancel while it runs; once completed, the results table and its questions, each openable to
// see the chunks a configuration retrieved against the answer.
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useCallback, useMemo, useState } from "react";
import { Link } from "wouter";
import { errorText, queries } from "../api/queries";
import { isFinal } from "../api/types";
import { ErrorMessage } from "../components/ErrorMessage";
import { EvaluationResults } from "../components/EvaluationResults";
import { OperationProgress } from "../components/OperationProgress";
import { QuestionScores } from "../components/QuestionScores";
import { asOperation, describeEvaluationProgress, evaluationKeys, evaluationsApi } from "../lib/evaluationsApi";
import { humanizeError } from "../lib/errors";
import { describeConfig, formatDate, plural } from "../lib/format";
import { useTitle } from "../lib/hooks";
import { statusWord } from "../lib/progress";

export default function EvaluationScreen({ id }: { id: string }) {
  const evaluation = useQuery({ queryKey: evaluationKeys.evaluation(id), queryFn: ({ signal }) => evaluationsApi.get(id, signal) });
  const ev = evaluation.data;
  const collectionId = ev?.collection_id ?? "";
  const collection = useQuery({ ...queries.collection(collectionId), enabled: collectionId !== "" });
  const documents = useQuery({ ...queries.documents(collectionId), enabled: collectionId !== "" });
  const names = useMemo(() => new Map((documents.data ?? []).map((d) => [d.id, d.filename])), [documents.data]);
  const name = collection.data?.name;
  useTitle(name ? `Evaluation of ${name}` : "Evaluation");
  const queryClient = useQueryClient();
  // The progress stays on screen once seen running, so its end (or its cancellation) shows.
  const [watched, setWatched] = useState(false);
  if (ev && !isFinal(ev.status) && !watched) setWatched(true);
  const onFinished = useCallback(() => {
    void queryClient.invalidateQueries({ queryKey: evaluationKeys.evaluation(id) });
    if (collectionId) void queryClient.invalidateQueries({ queryKey: evaluationKeys.list(collectionId) });
  }, [queryClient, id, collectionId]);

  if (evaluation.error) {
    return (
      <section>
        <h1>Evaluation</h1>
        <ErrorMessage error={errorText(evaluation.error)} onRetry={() => void evaluation.refetch()} />
        <p>
          <Link href="/">Back to collections</Link>
        </p>
      </section>
    );
  }
  return (
    <section>
      <p className="breadcrumb">
        <Link href="/">Collections</Link> / {collectionId ? <Link href={`/collections/${collectionId}`}>{name ?? "…"}</Link> : "…"} /{" "}
        {collectionId ? <Link href={`/collections/${collectionId}/evaluations`}>Evaluate</Link> : "Evaluate"} / <span>Evaluation</span>
      </p>
      <h1>Evaluation{name ? ` of ${name}` : ""}</h1>
      {ev ? (
        <>
          <p className="muted" data-testid="evaluation-summary" data-status={ev.status}>
            {statusWord(ev.status)}. {plural(ev.configs.length, "configuration")}, {ev.k} chunks retrieved per question,{" "}
            {ev.embedding_model} embeddings; started {formatDate(ev.created_at)}
            {ev.finished_at ? `, finished ${formatDate(ev.finished_at)}` : ""}.
          </p>
          {watched || !isFinal(ev.status) ? (
            <OperationProgress
              collectionId={ev.collection_id}
              operation={asOperation(ev)}
              onFinished={onFinished}
              describe={describeEvaluationProgress}
              cancelLabel="Cancel the evaluation"
            />
          ) : null}
          {ev.status === "failed" || ev.status === "cancelled" ? (
            <div className={ev.status === "failed" ? "error-message" : "stale-notice"} role="status">
              {ev.status === "failed"
                ? `The evaluation failed${ev.error ? `: ${humanizeError(ev.error)}` : "."}`
                : "The evaluation was cancelled before it finished: it has no scores."}
            </div>
          ) : null}
          {!ev.results ? (
            <section className="panel" aria-labelledby="evaluation-configs-title">
              <h2 id="evaluation-configs-title">Configurations</h2>
              <ol>
                {ev.configs.map((c, n) => (
                  <li key={n}>
                    <code>{describeConfig(c)}</code>
                  </li>
                ))}
              </ol>
            </section>
          ) : (
            <EvaluationResults evaluation={ev} />
          )}
          {ev.status === "completed" ? <QuestionScores evaluation={ev} names={names} /> : null}
        </>
      ) : (
        <p className="muted">Loading…</p>
      )}
    </section>
  );
}
