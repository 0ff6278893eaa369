// The chunk browser's filters: what the chunk lists accept (q, document_id, min_tokens,
// max_tokens, heading), from the form's text as typed, with a sentence for what cannot be sent.

export interface FilterForm {
  q: string;
  documentId: string;
  minTokens: string;
  maxTokens: string;
  heading: string;
}

export const NO_FILTERS: FilterForm = { q: "", documentId: "", minTokens: "", maxTokens: "", heading: "" };

export interface ChunkFilters {
  q?: string;
  document_id?: string;
  min_tokens?: number;
  max_tokens?: number;
  heading?: string;
}

export function filtersFrom(form: FilterForm): { filters: ChunkFilters; error: string | null } {
  const filters: ChunkFilters = {};
  if (form.q.trim()) filters.q = form.q.trim();
  if (form.heading.trim()) filters.heading = form.heading.trim();
  if (form.documentId) filters.document_id = form.documentId;
  for (const [key, raw, name] of [
    ["min_tokens", form.minTokens, "The smallest size"],
    ["max_tokens", form.maxTokens, "The largest size"],
  ] as const) {
    const text = raw.trim();
    if (!text) continue;
    const value = Number(text);
    if (!Number.isInteger(value) || value < 0) return { filters, error: `${name} must be a whole number of tokens, 0 or more.` };
    filters[key] = value;
  }
  if (filters.min_tokens !== undefined && filters.max_tokens !== undefined && filters.min_tokens > filters.max_tokens) {
    return { filters, error: "The smallest size must not be above the largest." };
  }
  if ((filters.q?.length ?? 0) > 500 || (filters.heading?.length ?? 0) > 500) {
    return { filters, error: "A search text may have at most 500 characters." };
  }
  return { filters, error: null };
}

export function isFiltered(filters: ChunkFilters): boolean {
  return Object.keys(filters).length > 0;
}

/** `text` cut around every case-insensitive occurrence of `q` (taken literally). */
export function matchParts(text: string, q: string | undefined): { text: string; match: boolean }[] {
  if (!q) return [{ text, match: false }];
  const pattern = new RegExp(q.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"), "giu");
  const parts: { text: string; match: boolean }[] = [];
  let last = 0;
  for (const m of text.matchAll(pattern)) {
    if (m[0].length === 0) break;
    if (m.index > last) parts.push({ text: text.slice(last, m.index), match: false });
    parts.push({ text: m[0], match: true });
    last = m.index + m[0].length;
  }
  if (last < text.length) parts.push({ text: text.slice(last), match: false });
  return parts.length ? parts : [{ text, match: false }];
}
