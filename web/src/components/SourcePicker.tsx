// What to chunk in the playground and compare screens: pasted text (with an optional file
// name, whose extension tells markdown and code from prose) or an uploaded document.
import { useQuery } from "@tanstack/react-query";
import { useEffect } from "react";
import type { Source } from "../api/endpoints";
import { errorText, queries } from "../api/queries";
import { ErrorMessage } from "./ErrorMessage";

export interface SourceState {
  mode: "text" | "document";
  text: string;
  filename: string;
  collectionId: string;
  documentId: string;
}

export const EMPTY_SOURCE: SourceState = { mode: "text", text: "", filename: "", collectionId: "", documentId: "" };

export function sourceOf(state: SourceState): Source | null {
  if (state.mode === "document") return state.documentId ? { document_id: state.documentId } : null;
  if (!state.text.trim()) return null;
  return { text: state.text, filename: state.filename.trim() || null };
}

interface Props {
  value: SourceState;
  onChange: (value: SourceState) => void;
  idPrefix: string;
}

export function SourcePicker({ value, onChange, idPrefix }: Props) {
  const collections = useQuery(queries.collections());
  const documents = useQuery({ ...queries.documents(value.collectionId), enabled: value.collectionId !== "" });

  // A document given in the address (?document=...) names no collection: find it (if it
  // cannot be read, the preview says why).
  const lookup = value.mode === "document" && value.documentId !== "" && value.collectionId === "";
  const found = useQuery({ ...queries.document(value.documentId), enabled: lookup });
  useEffect(() => {
    if (lookup && found.data?.id === value.documentId) onChange({ ...value, collectionId: found.data.collection_id });
  }, [lookup, found.data, value, onChange]);

  const set = (patch: Partial<SourceState>) => onChange({ ...value, ...patch });
  return (
    <fieldset className="source-picker">
      <legend>Source</legend>
      <div className="radio-row" role="radiogroup" aria-label="What to chunk">
        <label>
          <input type="radio" name={`${idPrefix}-mode`} checked={value.mode === "text"} onChange={() => set({ mode: "text" })} /> Paste
          text
        </label>
        <label>
          <input
            type="radio"
            name={`${idPrefix}-mode`}
            checked={value.mode === "document"}
            onChange={() => set({ mode: "document" })}
          />{" "}
          An uploaded document
        </label>
      </div>
      {value.mode === "text" ? (
        <>
          <div className="field">
            <label htmlFor={`${idPrefix}-text`}>Text</label>
            <textarea
              id={`${idPrefix}-text`}
              rows={8}
              value={value.text}
              onChange={(e) => set({ text: e.target.value })}
              spellCheck={false}
            />
          </div>
          <div className="field">
            <label htmlFor={`${idPrefix}-filename`}>File name (optional)</label>
            <input
              id={`${idPrefix}-filename`}
              value={value.filename}
              placeholder="notes.md"
              aria-describedby={`${idPrefix}-filename-help`}
              onChange={(e) => set({ filename: e.target.value })}
            />
            <p className="field-help" id={`${idPrefix}-filename-help`}>
              The extension tells markdown and source code from prose.
            </p>
          </div>
        </>
      ) : (
        <div className="inline-fields">
          <div className="field">
            <label htmlFor={`${idPrefix}-collection`}>Collection</label>
            <select
              id={`${idPrefix}-collection`}
              value={value.collectionId}
              onChange={(e) => set({ collectionId: e.target.value, documentId: "" })}
            >
              <option value="">Choose a collection</option>
              {(collections.data ?? []).map((c) => (
                <option key={c.id} value={c.id}>
                  {c.name}
                </option>
              ))}
            </select>
          </div>
          <div className="field">
            <label htmlFor={`${idPrefix}-document`}>Document</label>
            <select
              id={`${idPrefix}-document`}
              value={value.documentId}
              disabled={!value.collectionId}
              onChange={(e) => set({ documentId: e.target.value })}
            >
              <option value="">Choose a document</option>
              {(documents.data ?? []).map((d) => (
                <option key={d.id} value={d.id}>
                  {d.filename}
                </option>
              ))}
            </select>
          </div>
          <ErrorMessage
            error={errorText(collections.error ?? documents.error)}
            onRetry={() => void (collections.error ? collections.refetch() : documents.refetch())}
          />
        </div>
      )}
    </fieldset>
  );
}
