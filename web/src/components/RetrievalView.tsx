// One question under one configuration: the chunks it retrieved highlighted against the
// question's references, in windows of the documents' own text (GET /documents/{id}/text with
// start and end). A reference is filled and outlined, a retrieved chunk shaded with a rule
// under it and a badge with its rank and similarity, their overlap (the answer found) hatched:
// never colour alone. Text is rendered as React text nodes only.
import { useQuery } from "@tanstack/react-query";
import { useMemo } from "react";
import { api } from "../api/endpoints";
import { errorText } from "../api/queries";
import { codePointIndex } from "../lib/offsets";
import { clusters, ranked, type TextCluster } from "../lib/retrieval";
import { segmentText } from "../lib/segments";
import type { QuestionConfigScore, QuestionScore } from "../lib/evaluationsApi";
import { ErrorMessage } from "./ErrorMessage";

interface Props {
  question: QuestionScore;
  score: QuestionConfigScore;
  names: Map<string, string>;
  idPrefix: string;
}

export function RetrievalView({ question, score, names, idPrefix }: Props) {
  const windows = useMemo(() => clusters(question.references, ranked(score.retrieved)), [question.references, score.retrieved]);
  return (
    <div className="retrieval-view">
      <p className="legend muted">
        <mark className="eval-reference">The answer</mark> (a reference) is filled and outlined;{" "}
        <span className="eval-retrieved">a retrieved chunk</span> is shaded with a rule under it and starts with its rank and
        similarity; <mark className="eval-both">the answer a chunk holds</mark> is hatched.
      </p>
      {windows.map((cluster, n) => (
        <ClusterText key={`${cluster.document_id}-${cluster.start}`} cluster={cluster} filename={names.get(cluster.document_id) ?? "a document"} id={`${idPrefix}-${n}`} />
      ))}
    </div>
  );
}

function ClusterText({ cluster, filename, id }: { cluster: TextCluster; filename: string; id: string }) {
  const text = useQuery({
    queryKey: ["document-text", cluster.document_id, "window", cluster.start, cluster.end],
    queryFn: ({ signal }) => api.documentTextWindow(cluster.document_id, cluster.start, cluster.end, signal),
    staleTime: Infinity,
    gcTime: 60_000,
  });
  const hits = cluster.retrieved.length;
  const label = `${filename}, characters ${cluster.start}–${text.data?.end ?? cluster.end}: ${
    cluster.references.length ? `${cluster.references.length === 1 ? "a reference" : `${cluster.references.length} references`}` : "no reference"
  }, ${hits === 1 ? "1 retrieved chunk" : `${hits} retrieved chunks`}`;
  return (
    <div className="eval-window" data-document={cluster.document_id}>
      <h3 id={`${id}-title`}>{label}</h3>
      <ErrorMessage error={errorText(text.error)} onRetry={() => void text.refetch()} />
      {text.data ? (
        <div className="source-text eval-text" role="region" aria-label={label} tabIndex={0}>
          {text.data.start > 0 ? "…" : ""}
          <Highlighted text={text.data.text} offset={text.data.start} cluster={cluster} />
          {text.data.end < text.data.size_chars ? "…" : ""}
        </div>
      ) : text.isPending ? (
        <p className="muted">Loading the text…</p>
      ) : null}
    </div>
  );
}

function Highlighted({ text, offset, cluster }: { text: string; offset: number; cluster: TextCluster }) {
  const segments = useMemo(() => {
    const index = codePointIndex(text);
    const spans = [...cluster.references, ...cluster.retrieved].map((r) => ({ start: index(r.start - offset), end: index(r.end - offset) }));
    return segmentText(text.length, spans);
  }, [text, offset, cluster]);
  const refs = cluster.references.length;
  return (
    <>
      {segments.map((segment) => {
        const slice = text.slice(segment.start, segment.end);
        const inReference = segment.chunks.some((c) => c < refs);
        const inRetrieved = segment.chunks.some((c) => c >= refs);
        const badges = segment.starts.map((c) => {
          if (c < refs) {
            return (
              <span key={`r${c}`} className="boundary answer-badge" data-reference={c}>
                answer
              </span>
            );
          }
          const chunk = cluster.retrieved[c - refs]!;
          return (
            <span key={`c${c}`} className="boundary" data-rank={chunk.rank}>
              {`#${chunk.rank} · ${chunk.similarity.toFixed(2)}`}
            </span>
          );
        });
        const body = inReference && inRetrieved ? (
          <mark className="eval-both">{slice}</mark>
        ) : inReference ? (
          <mark className="eval-reference">{slice}</mark>
        ) : inRetrieved ? (
          <span className="eval-retrieved">{slice}</span>
        ) : (
          <span>{slice}</span>
        );
        return (
          <span key={segment.start}>
            {badges}
            {body}
          </span>
        );
      })}
    </>
  );
}
