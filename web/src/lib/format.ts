export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ["KB", "MB", "GB"];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

export function formatNumber(value: number, digits = 1): string {
  return Number.isInteger(value) ? String(value) : value.toFixed(digits);
}

export function formatShare(share: number): string {
  return `${Math.round(share * 100)}%`;
}

export function formatDate(iso: string | null | undefined): string {
  if (!iso) return "";
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return date.toLocaleString();
}

export function plural(count: number, one: string, many = `${one}s`): string {
  return `${count} ${count === 1 ? one : many}`;
}

/** Heading path of a chunk's metadata, outermost first, or []. */
export function headingsOf(metadata: Record<string, unknown>): string[] {
  const headings = metadata["headings"];
  return Array.isArray(headings) ? headings.map((h) => String(h)) : [];
}

export function pageOf(metadata: Record<string, unknown>): number | null {
  const page = metadata["page"];
  return typeof page === "number" ? page : null;
}

export function describeConfig(config: { strategy: string; params?: Record<string, unknown> }): string {
  const params = Object.entries(config.params ?? {})
    .map(([key, value]) => `${key}=${JSON.stringify(value)}`)
    .join(", ");
  return params ? `${config.strategy} (${params})` : `${config.strategy} (defaults)`;
}
