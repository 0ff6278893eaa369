import { useQuery } from "@tanstack/react-query";
import { errorText, queries } from "../api/queries";
import type { ChunkConfig, Strategy } from "../api/types";
import { fieldsFromSchema, initialValues, parseOne, parseValues, type FormValues } from "./params";

/** The six strategies, fetched once per page load and shared by every editor. */
export function useStrategies(): { strategies: Strategy[] | null; error: string | null; retry: () => void } {
  const query = useQuery(queries.strategies());
  return { strategies: query.data ?? null, error: errorText(query.error), retry: () => void query.refetch() };
}

/** What a configuration editor holds: a strategy and its form's raw values. */
export interface EditorState {
  strategy: string;
  values: FormValues;
}

export function findStrategy(strategies: Strategy[], name: string): Strategy | undefined {
  return strategies.find((s) => s.name === name);
}

export function editorFor(strategies: Strategy[], config: Partial<ChunkConfig> = {}): EditorState {
  const name = config.strategy && findStrategy(strategies, config.strategy) ? config.strategy : "recursive";
  const strategy = findStrategy(strategies, name) ?? strategies[0];
  const fields = fieldsFromSchema(strategy?.params_schema);
  return { strategy: strategy?.name ?? name, values: initialValues(fields, config.params ?? {}) };
}

/**
 * Switch strategy: the new strategy's own defaults, keeping of the old values only those of
 * fields both strategies share and that are valid for the new one (a chunk size carries over;
 * markdown's `min_fill` 0.9 does not become semantic's, whose limit is 0.5). The pair rule
 * (overlap at most half the size) holds after the switch too.
 */
export function switchStrategy(strategies: Strategy[], state: EditorState, name: string): EditorState {
  const strategy = findStrategy(strategies, name);
  const fields = fieldsFromSchema(strategy?.params_schema);
  const fresh = initialValues(fields);
  for (const field of fields) {
    if (!(field.name in state.values)) continue;
    const raw = state.values[field.name] ?? null;
    if (raw === null && !field.nullable) continue;
    if (!parseOne(field, raw).error) fresh[field.name] = raw;
  }
  if (parseValues(fields, fresh).errors["chunk_overlap"]) {
    const overlap = fields.find((f) => f.name === "chunk_overlap");
    if (overlap) fresh[overlap.name] = initialValues([overlap])[overlap.name] ?? null;
  }
  return { strategy: name, values: fresh };
}

export function configFrom(
  strategies: Strategy[],
  state: EditorState,
): { config: ChunkConfig; errors: Record<string, string> } {
  const fields = fieldsFromSchema(findStrategy(strategies, state.strategy)?.params_schema);
  const { params, errors } = parseValues(fields, state.values);
  return { config: { strategy: state.strategy, params }, errors };
}
