// A collection's evaluation questions: the list (edit, delete), a new question whose answer is
// marked by selecting it in a document's text, and the CSV import and export.
import { useQuery } from "@tanstack/react-query";
import { Link } from "wouter";
import { errorText, queries } from "../api/queries";
import { ErrorMessage } from "../components/ErrorMessage";
import { QuestionForm } from "../components/QuestionForm";
import { QuestionList } from "../components/QuestionList";
import { QuestionsCsv } from "../components/QuestionsCsv";
import { useTitle } from "../lib/hooks";

export default function QuestionsScreen({ collectionId }: { collectionId: string }) {
  const collection = useQuery(queries.collection(collectionId));
  const documents = useQuery(queries.documents(collectionId));
  const name = collection.data?.name;
  useTitle(name ? `Questions of ${name}` : "Questions");
  const docs = documents.data ?? [];
  return (
    <section>
      <p className="breadcrumb">
        <Link href="/">Collections</Link> / <Link href={`/collections/${collectionId}`}>{name ?? "…"}</Link> / <span>Questions</span>
      </p>
      <h1>Questions{name ? ` of ${name}` : ""}</h1>
      <p className="muted">
        Questions a user would ask, each with the excerpts of the documents that answer it: an evaluation chunks the documents
        with each configuration, retrieves chunks for every question and scores how much of its answer they hold.
      </p>
      <p className="actions">
        <Link href={`/collections/${collectionId}/evaluations`} className="button">
          Evaluate configurations with these questions
        </Link>
      </p>
      <ErrorMessage error={errorText(collection.error ?? documents.error)} onRetry={() => void (collection.error ? collection.refetch() : documents.refetch())} />

      <section className="panel" aria-labelledby="questions-title">
        <h2 id="questions-title">Questions</h2>
        <QuestionList collectionId={collectionId} documents={docs} />
      </section>

      <section className="panel" aria-labelledby="new-question-title">
        <h2 id="new-question-title">Add a question</h2>
        {documents.data ? <QuestionForm collectionId={collectionId} documents={docs} /> : null}
      </section>

      <section className="panel" aria-labelledby="questions-csv-title">
        <h2 id="questions-csv-title">Import and export</h2>
        <QuestionsCsv collectionId={collectionId} />
      </section>
    </section>
  );
}
