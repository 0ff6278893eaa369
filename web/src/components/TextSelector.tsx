// A document's extracted text, a window at a time, where the user marks an answer by selecting
// it (or, from the keyboard, by finding an excerpt): the selection becomes a range of code
// points of the whole text, the unit of a reference's offsets. References already marked are
// highlighted. The text is rendered as React text nodes only.
import { useQuery } from "@tanstack/react-query";
import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { api } from "../api/endpoints";
import { errorText } from "../api/queries";
import { codePointIndex, toStringSpans } from "../lib/offsets";
import { segmentText } from "../lib/segments";
import { selectedReference, toCodePoints, trimRange, type TextRange } from "../lib/selection";
import { ErrorMessage } from "./ErrorMessage";

/** Characters (code points) of a document's text shown at once. */
export const TEXT_WINDOW = 20_000;

export interface Picked extends TextRange {
  /** The selected text, as shown. */
  excerpt: string;
}

interface Props {
  documentId: string;
  filename: string;
  /** Ranges of this document already taken (code points of the whole text), highlighted. */
  marked: readonly TextRange[];
  onPick: (picked: Picked) => void;
  idPrefix: string;
}

export function TextSelector({ documentId, filename, marked, onPick, idPrefix }: Props) {
  const [start, setStart] = useState(0);
  const textWindow = useQuery({
    queryKey: ["document-text", documentId, "window", start],
    queryFn: ({ signal }) => api.documentTextWindow(documentId, start, start + TEXT_WINDOW, signal),
    staleTime: Infinity,
    gcTime: 60_000,
  });
  const [pending, setPending] = useState<Picked | null>(null);
  const [findText, setFindText] = useState("");
  const [findNote, setFindNote] = useState<string | null>(null);
  const container = useRef<HTMLDivElement>(null);
  const text = textWindow.data?.text ?? null;
  const offset = textWindow.data?.start ?? start;

  // The selection, read whenever it changes inside the text (by mouse, touch or keyboard); one
  // made elsewhere on the page (a click on the button below) leaves the last one in place.
  const capture = useCallback(() => {
    const box = container.current;
    const selection = box?.ownerDocument.getSelection() ?? null;
    if (!box || text === null || !selection || !selection.anchorNode || !box.contains(selection.anchorNode)) return;
    const range = selectedReference(box, selection, text, offset);
    if (!range) {
      setPending(null);
      return;
    }
    setPending({ ...range, excerpt: excerptOf(text, range, offset) });
  }, [text, offset]);
  useEffect(() => {
    document.addEventListener("selectionchange", capture);
    return () => document.removeEventListener("selectionchange", capture);
  }, [capture]);

  const body = useMemo(() => (text === null ? null : <MarkedText text={text} offset={offset} marked={marked} />), [text, offset, marked]);

  const move = (next: number) => {
    setPending(null);
    setFindNote(null);
    setStart(Math.max(0, next));
  };
  const find = () => {
    if (text === null) return;
    const wanted = findText.trim();
    if (!wanted) {
      setFindNote("Type the words to find first.");
      return;
    }
    // After the last one found, so pressing Find again finds the next.
    const from = pending ? unitIndexOf(text, pending.start - offset) + 1 : 0;
    let at = text.indexOf(wanted, from);
    if (at < 0) at = text.indexOf(wanted);
    if (at < 0) {
      setFindNote(`“${wanted}” is not in the text shown.`);
      return;
    }
    const range = toCodePoints(text, trimRange(text, { start: at, end: at + wanted.length })!, offset);
    setFindNote(null);
    setPending({ ...range, excerpt: excerptOf(text, range, offset) });
  };
  const add = () => {
    if (!pending) return;
    onPick(pending);
    setPending(null);
    container.current?.ownerDocument.getSelection()?.removeAllRanges();
  };

  const size = textWindow.data?.size_chars ?? 0;
  const end = textWindow.data?.end ?? 0;
  return (
    <div className="text-selector" data-testid="text-selector">
      <ErrorMessage error={errorText(textWindow.error)} onRetry={() => void textWindow.refetch()} />
      {textWindow.data ? (
        <>
          <p className="field-help" id={`${idPrefix}-text-help`}>
            Select the words that answer the question in the text of {filename}, then add them as a reference. Characters{" "}
            {(offset + 1).toLocaleString("en-US")}–{end.toLocaleString("en-US")} of {size.toLocaleString("en-US")}.
          </p>
          {offset > 0 || end < size ? (
            <p className="actions">
              <button type="button" disabled={offset === 0} onClick={() => move(offset - TEXT_WINDOW)}>
                Earlier text
              </button>
              <button type="button" disabled={end >= size} onClick={() => move(end)}>
                Later text
              </button>
            </p>
          ) : null}
          <div
            ref={container}
            className="source-text selectable-text"
            role="region"
            aria-label={`Text of ${filename}`}
            aria-describedby={`${idPrefix}-text-help`}
            tabIndex={0}
            onMouseUp={capture}
            onKeyUp={capture}
            onTouchEnd={capture}
            data-offset={offset}
          >
            {body}
          </div>
        </>
      ) : textWindow.isPending ? (
        <p className="muted">Loading the text of {filename}…</p>
      ) : null}
      {text !== null ? (
        <>
          <div className="inline-fields" role="search" aria-label="Find words in the text">
            <div className="field">
              <label htmlFor={`${idPrefix}-find`}>Or find the words in the text</label>
              <input
                id={`${idPrefix}-find`}
                value={findText}
                onChange={(e) => setFindText(e.target.value)}
                onKeyDown={(e) => {
                  if (e.key === "Enter") {
                    e.preventDefault();
                    find();
                  }
                }}
              />
            </div>
            <p className="actions">
              <button type="button" onClick={find}>
                Find
              </button>
            </p>
          </div>
          <p role="status" className={findNote ? "field-error" : "visually-hidden"}>
            {findNote}
          </p>
          <p className="picked" role="status" data-testid="picked" data-start={pending?.start ?? ""} data-end={pending?.end ?? ""}>
            {pending ? (
              <>
                Selected: characters {pending.start}–{pending.end}, “{shorten(pending.excerpt)}”
              </>
            ) : (
              "Nothing selected yet."
            )}
          </p>
          <p className="actions">
            <button
              type="button"
              className="primary"
              disabled={!pending}
              // Keeps the selection in the text: pressing the button does not move it.
              onMouseDown={(e) => e.preventDefault()}
              onClick={add}
            >
              Add the selection as a reference
            </button>
          </p>
        </>
      ) : null}
    </div>
  );
}

/** The window's text with the marked ranges highlighted; text nodes only, no other text. */
function MarkedText({ text, offset, marked }: { text: string; offset: number; marked: readonly TextRange[] }) {
  const spans = useMemo(
    () =>
      toStringSpans(
        text,
        marked.map((r) => ({ start: r.start - offset, end: r.end - offset })),
      ),
    [text, offset, marked],
  );
  const segments = useMemo(() => segmentText(text.length, spans), [text, spans]);
  return (
    <>
      {segments.map((segment) =>
        segment.chunks.length ? (
          <mark key={segment.start} className="reference-mark">
            {text.slice(segment.start, segment.end)}
          </mark>
        ) : (
          <span key={segment.start}>{text.slice(segment.start, segment.end)}</span>
        ),
      )}
    </>
  );
}

/** The UTF-16 index of code point `points` of `text`. */
function unitIndexOf(text: string, points: number): number {
  return codePointIndex(text)(points);
}

function excerptOf(text: string, range: TextRange, offset: number): string {
  return text.slice(unitIndexOf(text, range.start - offset), unitIndexOf(text, range.end - offset));
}

export function shorten(text: string, max = 160): string {
  const flat = text.replace(/\s+/g, " ").trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}
