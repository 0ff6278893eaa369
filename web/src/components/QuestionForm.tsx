// A new evaluation question: its text, and the excerpts that answer it, marked by selecting
// them in the documents' text (one or more, from one document or several).
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useMemo, useState } from "react";
import { errorText } from "../api/queries";
import type { DocumentOut } from "../api/types";
import { questionKeys, questionsApi, type Reference } from "../lib/questionsApi";
import { ErrorMessage } from "./ErrorMessage";
import { shorten, TextSelector, type Picked } from "./TextSelector";

interface Draft extends Reference {
  excerpt: string;
  filename: string;
}

const MAX_QUESTION_CHARS = 2000;

export function QuestionForm({ collectionId, documents }: { collectionId: string; documents: DocumentOut[] }) {
  const readable = useMemo(() => documents.filter((d) => d.status !== "failed"), [documents]);
  const [question, setQuestion] = useState("");
  const [documentId, setDocumentId] = useState("");
  const [references, setReferences] = useState<Draft[]>([]);
  const [invalid, setInvalid] = useState<string | null>(null);
  const [note, setNote] = useState<string | null>(null);
  const queryClient = useQueryClient();
  const chosen = readable.find((d) => d.id === documentId) ?? readable[0] ?? null;
  const marked = useMemo(() => references.filter((r) => r.document_id === chosen?.id), [references, chosen]);

  const create = useMutation({
    mutationFn: () =>
      questionsApi.createQuestion(
        collectionId,
        question.trim(),
        references.map(({ document_id, start, end }) => ({ document_id, start, end })),
      ),
    onSuccess: (created) => {
      setQuestion("");
      setReferences([]);
      setNote(`Question added: “${shorten(created.question, 80)}”.`);
      return queryClient.invalidateQueries({ queryKey: questionKeys.questions(collectionId) });
    },
  });

  const pick = (picked: Picked) => {
    if (!chosen) return;
    setInvalid(null);
    setNote(null);
    setReferences((list) =>
      list.some((r) => r.document_id === chosen.id && r.start === picked.start && r.end === picked.end)
        ? list
        : [...list, { document_id: chosen.id, start: picked.start, end: picked.end, excerpt: picked.excerpt, filename: chosen.filename }],
    );
  };
  const save = () => {
    create.reset();
    setNote(null);
    if (!question.trim()) {
      setInvalid("Type the question first.");
      return;
    }
    if (references.length === 0) {
      setInvalid("Mark its answer first: select the words in the document's text and add them as a reference.");
      return;
    }
    setInvalid(null);
    create.mutate();
  };

  if (documents.length === 0) {
    return <p className="muted">Upload documents to the collection first: a question's answer is marked in a document's text.</p>;
  }
  return (
    <div className="stack question-form">
      <div className="field">
        <label htmlFor="question-text">Question</label>
        <textarea
          id="question-text"
          rows={2}
          maxLength={MAX_QUESTION_CHARS}
          value={question}
          onChange={(e) => setQuestion(e.target.value)}
        />
      </div>
      <div className="field">
        <label htmlFor="question-document">Document with the answer</label>
        <select id="question-document" value={chosen?.id ?? ""} onChange={(e) => setDocumentId(e.target.value)}>
          {readable.map((d) => (
            <option key={d.id} value={d.id}>
              {d.filename}
            </option>
          ))}
        </select>
      </div>
      {chosen ? (
        <TextSelector key={chosen.id} documentId={chosen.id} filename={chosen.filename} marked={marked} onPick={pick} idPrefix="question" />
      ) : null}
      <h3>References ({references.length})</h3>
      {references.length ? (
        <ul className="reference-list" aria-label="References of the new question">
          {references.map((r, k) => (
            <li key={`${r.document_id}-${r.start}-${r.end}`} data-start={r.start} data-end={r.end}>
              <span>
                {r.filename}, characters {r.start}–{r.end}: “{shorten(r.excerpt)}”
              </span>{" "}
              <button
                type="button"
                className="link-button"
                aria-label={`Remove reference ${k + 1}`}
                onClick={() => setReferences((list) => list.filter((_, j) => j !== k))}
              >
                Remove
              </button>
            </li>
          ))}
        </ul>
      ) : (
        <p className="muted">None yet: select the answer in the text above and add it.</p>
      )}
      <ErrorMessage error={invalid ?? errorText(create.error)} />
      <p className="actions">
        <button type="button" className="primary" onClick={save} disabled={create.isPending}>
          {create.isPending ? "Saving…" : "Save the question"}
        </button>
      </p>
      <p role="status" className={note ? "muted" : "visually-hidden"}>
        {note}
      </p>
    </div>
  );
}
