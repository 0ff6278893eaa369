// A histogram of chunk sizes that works from the keyboard: the bars are buttons in one tab
// stop (arrow keys, Home and End move between them; Enter or Space selects a bar), each
// named with its range and count, and the count is printed on the bar, not only drawn.
import { useMemo, useRef, useState } from "react";
import { binSizes, type Bin, type Domain } from "../lib/histogram";

interface Props {
  sizes: readonly number[];
  label: string;
  selected?: number | null;
  onSelect?: (bin: Bin | null, index: number | null) => void;
  /** A shared x-axis: the bins span this range whatever this list's own sizes. */
  domain?: Domain | null;
  /** The tallest bar's count across histograms drawn together (bars comparable in height). */
  scaleTo?: number;
}

export function Histogram({ sizes, label, selected = null, onSelect, domain = null, scaleTo }: Props) {
  const bins = useMemo(() => binSizes(sizes, 12, domain), [sizes, domain]);
  const [focus, setFocus] = useState(0);
  const refs = useRef<(HTMLButtonElement | null)[]>([]);
  if (bins.length === 0) return <p className="muted">No chunks to plot.</p>;
  const tallest = Math.max(scaleTo ?? 0, ...bins.map((b) => b.members.length));
  const current = Math.min(focus, bins.length - 1);

  const move = (to: number) => {
    const k = Math.max(0, Math.min(bins.length - 1, to));
    setFocus(k);
    refs.current[k]?.focus();
  };
  const onKeyDown = (event: React.KeyboardEvent) => {
    const keys: Record<string, number> = {
      ArrowRight: current + 1,
      ArrowUp: current + 1,
      ArrowLeft: current - 1,
      ArrowDown: current - 1,
      Home: 0,
      End: bins.length - 1,
    };
    const to = keys[event.key];
    if (to !== undefined) {
      event.preventDefault();
      move(to);
    }
  };

  return (
    <figure className="histogram">
      <figcaption>{label}</figcaption>
      <div className="histogram-bars" role="group" aria-label={`${label}: ${bins.length} bars, use the arrow keys`} onKeyDown={onKeyDown}>
        {bins.map((bin, k) => {
          const count = bin.members.length;
          const rest = bin.low === bin.high ? "" : `–${bin.high}`;
          const pressed = selected === k;
          // The name is the visible text (count, lower bound) with the words around it, so
          // what a sighted user reads is what a screen reader says.
          return (
            <button
              key={bin.low}
              ref={(el) => {
                refs.current[k] = el;
              }}
              type="button"
              className={`histogram-bar${pressed ? " selected" : ""}`}
              tabIndex={k === current ? 0 : -1}
              aria-pressed={pressed}
              onFocus={() => setFocus(k)}
              onClick={() => onSelect?.(pressed ? null : bin, pressed ? null : k)}
            >
              <span className="bar-count">{count}</span>
              <span className="visually-hidden">{count === 1 ? " chunk of " : " chunks of "}</span>
              <span className="bar-fill" aria-hidden="true" style={{ height: `${tallest ? (count / tallest) * 100 : 0}%` }} />
              <span className="bar-label">{bin.low}</span>
              <span className="visually-hidden">{`${rest} tokens`}</span>
            </button>
          );
        })}
      </div>
      <p className="histogram-axis muted">
        Tokens per chunk (bar label: lower bound of the bin){domain ? `; the same axis, ${domain.min} to ${domain.max}, for every configuration` : ""}
      </p>
    </figure>
  );
}
