// Every configuration's boundaries on one copy of the text: an overview with one lane per
// configuration along a shared axis (so the lanes line up), and the text once, with a
// numbered badge in the configuration's colour and shape wherever one of them starts a chunk
// (a cut all of them share is one "all" badge). Text is rendered as text nodes only.
import { memo, useMemo } from "react";
import type { Span } from "../api/types";
import { agreement, cutsOf, laneSegments, piecesOf } from "../lib/lanes";
import { toStringSpans } from "../lib/offsets";
import { plural } from "../lib/format";

export interface Lane {
  name: string;
  /** Null when this configuration failed. */
  chunks: readonly Span[] | null;
}

export const CompareLanes = memo(function CompareLanes({ text, lanes }: { text: string; lanes: readonly Lane[] }) {
  const spans = useMemo(() => lanes.map((lane) => (lane.chunks ? toStringSpans(text, lane.chunks) : null)), [text, lanes]);
  const cuts = useMemo(() => cutsOf(text.length, spans), [text, spans]);
  const pieces = useMemo(() => piecesOf(text.length, cuts), [text, cuts]);
  const working = lanes.flatMap((lane, k) => (lane.chunks ? [k] : []));
  const { shared, differing } = agreement(cuts, working);
  const all = (lanesHere: number[]) => working.length > 1 && working.every((k) => lanesHere.includes(k));

  return (
    <section className="compare-lanes" aria-labelledby="compare-lanes-title" data-testid="compare-lanes">
      <h3 id="compare-lanes-title">Boundaries side by side</h3>
      <ul className="lane-legend" aria-label="Configurations and their marks">
        {lanes.map((lane, k) => (
          <li key={k}>
            <span className={`lane-mark lane-c${k + 1}`}>{k + 1}</span> {lane.name}
            {lane.chunks ? `: ${plural(lane.chunks.length, "chunk")}` : " (failed)"}
          </li>
        ))}
        {working.length > 1 ? (
          <li>
            <span className="lane-mark lane-all">all</span> every configuration starts a chunk here
          </li>
        ) : null}
      </ul>
      <p className="muted">
        {working.length > 1
          ? `${plural(shared, "boundary", "boundaries")} shared by every configuration, ${differing} where they differ.`
          : "Only one configuration has chunks to show."}
      </p>
      <div className="lanes" role="group" aria-label="Chunks of each configuration along the text (the same axis for all)">
        {lanes.map((lane, k) => (
          <div key={k} className="lane-row" data-lane={k}>
            <span className="lane-name">
              <span className={`lane-mark lane-c${k + 1}`}>{k + 1}</span>
            </span>
            {spans[k] ? (
              <div className={`lane lane-c${k + 1}`} role="img" aria-label={`${lane.name}: ${plural(spans[k]!.length, "chunk")} along the text`}>
                {laneSegments(text.length, spans[k]!).map((seg) => (
                  <span
                    key={seg.position}
                    className={`lane-seg${seg.position % 2 ? " lane-seg-odd" : ""}`}
                    style={{ left: `${seg.left}%`, width: `${seg.width}%` }}
                  />
                ))}
              </div>
            ) : (
              <div className="lane lane-failed">failed: no chunks</div>
            )}
          </div>
        ))}
      </div>
      <div className="source-text compare-text" role="region" aria-label="The text with every configuration's boundaries" tabIndex={0}>
        {pieces.map((piece) => (
          <span key={piece.start}>
            {piece.cut ? (
              all(piece.cut.lanes) ? (
                <span className="lane-mark lane-all" data-cut="all">
                  all
                </span>
              ) : (
                piece.cut.lanes.map((k) => (
                  <span key={k} className={`lane-mark lane-c${k + 1}`} data-cut={k}>
                    {k + 1}
                  </span>
                ))
              )
            ) : null}
            {text.slice(piece.start, piece.end)}
          </span>
        ))}
      </div>
    </section>
  );
});
