import type { Metrics } from "../api/types";
import { formatNumber, formatShare } from "../lib/format";

export const METRIC_ROWS: { key: keyof Metrics; label: string; format: (m: Metrics) => string }[] = [
  { key: "chunk_count", label: "Chunks", format: (m) => String(m.chunk_count) },
  { key: "tokens_mean", label: "Tokens, mean", format: (m) => formatNumber(m.tokens_mean) },
  { key: "tokens_min", label: "Tokens, min", format: (m) => String(m.tokens_min) },
  { key: "tokens_max", label: "Tokens, max", format: (m) => String(m.tokens_max) },
  { key: "tokens_p95", label: "Tokens, p95", format: (m) => String(m.tokens_p95) },
  { key: "small_share", label: "Under 25% of the cap", format: (m) => formatShare(m.small_share) },
  { key: "mid_sentence_share", label: "Cut mid-sentence", format: (m) => formatShare(m.mid_sentence_share) },
  { key: "time_ms", label: "Time", format: (m) => `${formatNumber(m.time_ms)} ms` },
];

export function MetricsList({ metrics }: { metrics: Metrics }) {
  return (
    <dl className="metrics">
      {METRIC_ROWS.map((row) => (
        <div key={row.key} className="metric">
          <dt>{row.label}</dt>
          <dd>{row.format(metrics)}</dd>
        </div>
      ))}
    </dl>
  );
}
