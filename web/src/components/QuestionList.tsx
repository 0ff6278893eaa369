// A collection's evaluation questions, a page at a time (oldest first): each with its
// references, an edit of its text, and a deletion behind a confirmation.
import { useInfiniteQuery, useMutation, useQueryClient } from "@tanstack/react-query";
import { useMemo, useState, type FormEvent } from "react";
import { errorText } from "../api/queries";
import type { DocumentOut } from "../api/types";
import { plural } from "../lib/format";
import { QUESTIONS_PAGE, questionKeys, questionsApi, type Question } from "../lib/questionsApi";
import { ConfirmDialog } from "./ConfirmDialog";
import { ErrorMessage } from "./ErrorMessage";
import { shorten } from "./TextSelector";

export function QuestionList({ collectionId, documents }: { collectionId: string; documents: DocumentOut[] }) {
  const queryClient = useQueryClient();
  const list = useInfiniteQuery({
    queryKey: questionKeys.questions(collectionId),
    queryFn: ({ pageParam, signal }) => questionsApi.questions(collectionId, pageParam, QUESTIONS_PAGE, signal),
    initialPageParam: undefined as string | undefined,
    getNextPageParam: (last) => last.next_cursor ?? undefined,
  });
  const names = useMemo(() => new Map(documents.map((d) => [d.id, d.filename])), [documents]);
  const [confirm, setConfirm] = useState<Question | null>(null);
  const refresh = () => queryClient.invalidateQueries({ queryKey: questionKeys.questions(collectionId) });
  const deletion = useMutation({
    mutationFn: (q: Question) => questionsApi.deleteQuestion(q.id),
    onSuccess: () => {
      setConfirm(null);
      return refresh();
    },
  });
  const questions = list.data?.pages.flatMap((p) => p.items) ?? [];

  return (
    <>
      <ErrorMessage error={errorText(list.error)} onRetry={() => void list.refetch()} />
      {list.data ? (
        questions.length ? (
          <>
            <p className="muted" data-testid="question-count">
              {list.hasNextPage ? `The first ${plural(questions.length, "question")}.` : `${plural(questions.length, "question")}.`}
            </p>
            <ol className="question-list">
              {questions.map((q, k) => (
                <QuestionItem
                  key={q.id}
                  question={q}
                  number={k + 1}
                  names={names}
                  onDelete={() => (deletion.reset(), setConfirm(q))}
                  onSaved={() => void refresh()}
                />
              ))}
            </ol>
            {list.hasNextPage ? (
              <p className="actions">
                <button type="button" onClick={() => void list.fetchNextPage()} disabled={list.isFetchingNextPage}>
                  {list.isFetchingNextPage ? "Loading…" : "Load more questions"}
                </button>
              </p>
            ) : null}
          </>
        ) : (
          <p className="muted">No questions yet: add one below, or import a CSV file.</p>
        )
      ) : list.isPending ? (
        <p className="muted">Loading the questions…</p>
      ) : null}
      <ConfirmDialog
        open={confirm !== null}
        title="Delete this question?"
        confirmLabel="Delete the question"
        busy={deletion.isPending}
        error={errorText(deletion.error)}
        onConfirm={() => confirm && deletion.mutate(confirm)}
        onCancel={() => setConfirm(null)}
      >
        <p>“{shorten(confirm?.question ?? "", 120)}” and its references go for good.</p>
      </ConfirmDialog>
    </>
  );
}

function QuestionItem({
  question,
  number,
  names,
  onDelete,
  onSaved,
}: {
  question: Question;
  number: number;
  names: Map<string, string>;
  onDelete: () => void;
  onSaved: () => void;
}) {
  const [editing, setEditing] = useState(false);
  const [text, setText] = useState(question.question);
  const save = useMutation({
    mutationFn: (next: string) => questionsApi.updateQuestion(question.id, { question: next }),
    onSuccess: () => {
      setEditing(false);
      onSaved();
    },
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    save.mutate(text.trim());
  };
  const editId = `question-edit-${question.id}`;
  return (
    <li className="question-item" data-question-id={question.id}>
      {editing ? (
        <form onSubmit={submit} className="stack" aria-label={`Edit question ${number}`}>
          <div className="field">
            <label htmlFor={editId}>Question {number}</label>
            <textarea id={editId} rows={2} maxLength={2000} required value={text} onChange={(e) => setText(e.target.value)} />
          </div>
          <ErrorMessage error={errorText(save.error)} />
          <p className="actions">
            <button type="submit" className="primary" disabled={save.isPending || !text.trim()}>
              {save.isPending ? "Saving…" : "Save the change"}
            </button>
            <button type="button" onClick={() => setEditing(false)}>
              Cancel
            </button>
          </p>
        </form>
      ) : (
        <p className="question-text">{question.question}</p>
      )}
      <ul className="reference-summary">
        {question.references.map((r, k) => (
          <li key={k}>
            {names.get(r.document_id) ?? "a document"}, characters {r.start}–{r.end}
          </li>
        ))}
      </ul>
      {!editing ? (
        <p className="row-actions">
          <button
            type="button"
            className="link-button"
            aria-label={`Edit question ${number}`}
            onClick={() => {
              save.reset();
              setText(question.question);
              setEditing(true);
            }}
          >
            Edit
          </button>
          <button type="button" className="link-button" aria-label={`Delete question ${number}`} onClick={onDelete}>
            Delete
          </button>
        </p>
      ) : null}
    </li>
  );
}
