// The source text with chunk boundaries: every chunk start is marked with a labelled badge
// (number and tokens), chunks alternate in shade and edge style, and overlaps are hatched and
// underlined, so colour is never the only sign. Text is rendered as React text nodes only:
// document content never becomes HTML. Chunk offsets are the server's (code points) and are
// mapped to string indices here.
import { memo, useMemo } from "react";
import type { Span } from "../api/types";
import { toStringSpans } from "../lib/offsets";
import { segmentText } from "../lib/segments";

interface Props {
  text: string;
  chunks: readonly Span[];
  /** Prefix for the ids of the chunk markers (`${idPrefix}-chunk-${index}`). */
  idPrefix: string;
  /** Chunk positions to emphasise (e.g. a histogram bin). */
  emphasised?: ReadonlySet<number>;
  label?: string;
}

export const HighlightedText = memo(function HighlightedText({
  text,
  chunks,
  idPrefix,
  emphasised,
  label = "Source text with chunk boundaries",
}: Props) {
  const segments = useMemo(() => segmentText(text.length, toStringSpans(text, chunks)), [text, chunks]);
  return (
    <div className="source-text" role="region" aria-label={label} tabIndex={0}>
      {segments.map((segment) => {
        const covering = segment.chunks;
        const overlap = covering.length > 1;
        const gap = covering.length === 0;
        const first = covering[0];
        const classes = ["seg"];
        if (gap) classes.push("seg-gap");
        else if (overlap) classes.push("seg-overlap");
        else classes.push(first! % 2 === 0 ? "seg-even" : "seg-odd");
        if (emphasised && covering.some((c) => emphasised.has(c))) classes.push("seg-emphasis");
        const slice = text.slice(segment.start, segment.end);
        return (
          <span key={segment.start}>
            {segment.starts.map((position) => {
              const chunk = chunks[position]!;
              return (
                <span
                  key={`m${position}`}
                  id={`${idPrefix}-chunk-${chunk.index}`}
                  className={`boundary${emphasised?.has(position) ? " boundary-emphasis" : ""}`}
                  tabIndex={-1}
                  data-chunk={chunk.index}
                >
                  {`§${chunk.index} · ${chunk.tokens} tok`}
                </span>
              );
            })}
            {overlap ? (
              <mark
                className={classes.join(" ")}
                title={`Overlap of chunks ${covering.map((c) => chunks[c]!.index).join(" and ")}`}
              >
                {slice}
              </mark>
            ) : (
              <span className={classes.join(" ")}>{slice}</span>
            )}
          </span>
        );
      })}
    </div>
  );
});
