// A completed evaluation's table: per configuration its recall, precision, IoU, chunks and
// tokens (what embedding them costs), with the best by IoU and by recall named in words.
import { humanizeError } from "../lib/errors";
import { percent, type Evaluation } from "../lib/evaluationsApi";
import { describeConfig } from "../lib/format";
import { TableScroll } from "./TableScroll";

export function EvaluationResults({ evaluation }: { evaluation: Evaluation }) {
  const results = evaluation.results ?? [];
  const bestIou = evaluation.best?.iou ?? null;
  const bestRecall = evaluation.best?.recall ?? null;
  const byIou = bestIou !== null ? results[bestIou] : undefined;
  const byRecall = bestRecall !== null ? results[bestRecall] : undefined;
  const name = (n: number) => `Configuration ${n + 1}`;
  return (
    <section className="panel" aria-labelledby="evaluation-results-title" data-testid="evaluation-results">
      <h2 id="evaluation-results-title">Results</h2>
      <div className="recommendation" role="status">
        {byIou && bestIou !== null ? (
          <p>
            <strong>Best by IoU: {name(bestIou)}</strong> (<code>{describeConfig(byIou)}</code>), IoU {percent(byIou.iou)}.
          </p>
        ) : null}
        {byRecall && bestRecall !== null ? (
          <p>
            <strong>Best by recall: {name(bestRecall)}</strong> (<code>{describeConfig(byRecall)}</code>), recall{" "}
            {percent(byRecall.recall)}.
          </p>
        ) : null}
        <p>
          Scored on {evaluation.questions ?? 0} questions, {evaluation.k} chunks retrieved for each ({evaluation.embedding_model}{" "}
          embeddings).
        </p>
      </div>
      <TableScroll label="Scores of each configuration">
        <table className="data-table">
          <caption>Scores of each configuration (means over the questions)</caption>
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
                Chunks
              </th>
              <th scope="col" className="num">
                Tokens embedded
              </th>
              <th scope="col">Problem</th>
            </tr>
          </thead>
          <tbody>
            {results.map((r, n) => (
              <tr key={n} data-config={n} data-best-iou={String(n === bestIou)} data-best-recall={String(n === bestRecall)}>
                <th scope="row">
                  <span className={`lane-mark lane-c${n + 1}`} aria-hidden="true">
                    {n + 1}
                  </span>{" "}
                  {name(n)}
                  {n === bestIou ? <span className="best-mark">★ best IoU</span> : null}
                  {n === bestRecall ? <span className="best-mark">★ best recall</span> : null}
                  <br />
                  <code>{describeConfig(r)}</code>
                </th>
                <td className="num">{percent(r.recall)}</td>
                <td className="num">{percent(r.precision)}</td>
                <td className="num">{percent(r.iou)}</td>
                <td className="num">{r.chunks.toLocaleString("en-US")}</td>
                <td className="num">{r.tokens.toLocaleString("en-US")}</td>
                <td>{r.error ? humanizeError(r.error) : ""}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </TableScroll>
    </section>
  );
}
