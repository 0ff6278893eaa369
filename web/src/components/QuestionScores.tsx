// A completed evaluation's questions, a page at a time: each with its scores per configuration;
// opened, the chunks the chosen configuration retrieved for it, against its references.
import { useInfiniteQuery } from "@tanstack/react-query";
import { useState } from "react";
import { errorText } from "../api/queries";
import { evaluationKeys, evaluationsApi, percent, SCORES_PAGE, type Evaluation, type QuestionScore } from "../lib/evaluationsApi";
import { describeConfig, plural } from "../lib/format";
import { ErrorMessage } from "./ErrorMessage";
import { RetrievalView } from "./RetrievalView";
import { TableScroll } from "./TableScroll";

export function QuestionScores({ evaluation, names }: { evaluation: Evaluation; names: Map<string, string> }) {
  const pages = useInfiniteQuery({
    queryKey: evaluationKeys.scores(evaluation.id),
    queryFn: ({ pageParam, signal }) => evaluationsApi.scores(evaluation.id, pageParam, SCORES_PAGE, signal),
    initialPageParam: undefined as string | undefined,
    getNextPageParam: (last) => last.next_cursor ?? undefined,
    staleTime: Infinity,
  });
  const best = evaluation.best?.iou ?? 0;
  const [shown, setShown] = useState(best);
  const items = pages.data?.pages.flatMap((p) => p.items) ?? [];
  const configs = evaluation.configs;
  return (
    <section className="panel" aria-labelledby="question-scores-title" data-testid="question-scores">
      <h2 id="question-scores-title">Questions</h2>
      <div className="field">
        <label htmlFor="scores-config">Show the chunks retrieved by</label>
        <select id="scores-config" value={shown} onChange={(e) => setShown(Number(e.target.value))}>
          {configs.map((c, n) => (
            <option key={n} value={n}>
              Configuration {n + 1}: {describeConfig(c)}
            </option>
          ))}
        </select>
      </div>
      <ErrorMessage error={errorText(pages.error)} onRetry={() => void pages.refetch()} />
      {pages.data ? (
        items.length ? (
          <ol className="question-list">
            {items.map((q, n) => (
              <QuestionItem key={q.question_id} question={q} number={n + 1} shown={shown} names={names} configCount={configs.length} />
            ))}
          </ol>
        ) : (
          <p className="muted">No question was scored.</p>
        )
      ) : pages.isPending ? (
        <p className="muted">Loading the questions…</p>
      ) : null}
      {pages.hasNextPage ? (
        <p className="actions">
          <button type="button" onClick={() => void pages.fetchNextPage()} disabled={pages.isFetchingNextPage}>
            {pages.isFetchingNextPage ? "Loading…" : "Load more questions"}
          </button>
        </p>
      ) : null}
    </section>
  );
}

function QuestionItem({
  question,
  number,
  shown,
  names,
  configCount,
}: {
  question: QuestionScore;
  number: number;
  shown: number;
  names: Map<string, string>;
  configCount: number;
}) {
  const [open, setOpen] = useState(false);
  const score = question.configs[shown];
  return (
    <li className="eval-question" data-question-id={question.question_id}>
      <details onToggle={(e) => setOpen(e.currentTarget.open)}>
        <summary>
          <span className="question-text">{question.question}</span>{" "}
          {score ? (
            <span className="muted">
              (configuration {shown + 1}: recall {percent(score.recall)}, IoU {percent(score.iou)})
            </span>
          ) : null}
        </summary>
        {open ? (
          <>
            <TableScroll label={`Scores of question ${number}`}>
              <table className="data-table">
                <caption className="visually-hidden">Scores of question {number} per configuration</caption>
                <thead>
                  <tr>
                    <th scope="col">Configuration</th>
                    <th scope="col" className="num">
                      Recall
                    </th>
                    <th scope="col" className="num">
                      Precision
                    </th>
                    <th scope="col" className="num">
                      IoU
                    </th>
                    <th scope="col" className="num">
                      Answer found
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {question.configs.slice(0, configCount).map((c, n) => (
                    <tr key={n} aria-current={n === shown ? "true" : undefined}>
                      <th scope="row">
                        Configuration {n + 1}
                        {n === shown ? " (shown below)" : ""}
                      </th>
                      <td className="num">{percent(c.recall)}</td>
                      <td className="num">{percent(c.precision)}</td>
                      <td className="num">{percent(c.iou)}</td>
                      <td className="num">
                        {c.found.toLocaleString("en-US")} of {plural(c.reference, "character")}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </TableScroll>
            {score ? (
              <>
                <p>
                  Configuration {shown + 1} retrieved {plural(score.retrieved.length, "chunk")} for it; they hold{" "}
                  {score.found.toLocaleString("en-US")} of the answer&apos;s {plural(score.reference, "character")}.
                </p>
                <RetrievalView question={question} score={score} names={names} idPrefix={`q${number}`} />
              </>
            ) : null}
          </>
        ) : null}
      </details>
    </li>
  );
}
