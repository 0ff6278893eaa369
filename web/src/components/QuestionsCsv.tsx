// A collection's questions in and out as CSV, in the shared evaluation set's format (columns
// question, references, corpus_id): an import adds all of a file's questions or none.
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useRef } from "react";
import { errorText } from "../api/queries";
import { plural } from "../lib/format";
import { questionKeys, questionsApi, questionsExportUrl } from "../lib/questionsApi";
import { ErrorMessage } from "./ErrorMessage";

export function QuestionsCsv({ collectionId }: { collectionId: string }) {
  const queryClient = useQueryClient();
  const input = useRef<HTMLInputElement>(null);
  const upload = useMutation({
    mutationFn: (file: File) => questionsApi.importQuestions(collectionId, file),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: questionKeys.questions(collectionId) }),
    onSettled: () => {
      // The same file can be chosen again (after fixing it).
      if (input.current) input.current.value = "";
    },
  });
  return (
    <div className="stack">
      <p className="field-help" id="questions-csv-help">
        One question a row, with the columns <code>question</code>, <code>references</code> (a JSON list of{" "}
        <code>{"{content, start_index, end_index}"}</code>) and <code>corpus_id</code> (the document&apos;s file name, with or
        without its extension). A file with a problem adds nothing and says which rows are wrong.
      </p>
      <div className="inline-fields csv-fields">
        <div className="field">
          <label htmlFor="questions-csv">Import questions from a CSV file</label>
          <input
            ref={input}
            id="questions-csv"
            type="file"
            accept=".csv,text/csv"
            aria-describedby="questions-csv-help"
            disabled={upload.isPending}
            onChange={(e) => {
              const file = e.target.files?.[0];
              if (file) upload.mutate(file);
            }}
          />
        </div>
        <p className="actions">
          <a className="button" href={questionsExportUrl(collectionId)} download>
            Export the questions (CSV)
          </a>
        </p>
      </div>
      <ErrorMessage error={errorText(upload.error)} title="The file was not imported:" />
      <p role="status" className={upload.data || upload.isPending ? "muted" : "visually-hidden"} data-testid="import-result">
        {upload.isPending
          ? "Importing…"
          : upload.data
            ? `Imported ${plural(upload.data.imported, "question")}; the collection has ${plural(upload.data.questions, "question")}.`
            : ""}
      </p>
    </div>
  );
}
