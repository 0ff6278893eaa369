import { useEffect, useState } from "react";
import { describeError } from "../api/client";
import { api } from "../api/endpoints";
import type { ChunkConfig, Strategy } from "../api/types";
import { fieldsFromSchema, initialValues, parseValues, type FormValues } from "./params";

let cached: Promise<Strategy[]> | null = null;

/** The six strategies, fetched once per page load. */
export function useStrategies(): { strategies: Strategy[] | null; error: string | null; retry: () => void } {
  const [strategies, setStrategies] = useState<Strategy[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [attempt, setAttempt] = useState(0);
  useEffect(() => {
    let live = true;
    cached ??= api.strategies();
    cached.then(
      (list) => live && setStrategies(list),
      (err: unknown) => {
        cached = null;
        if (live) setError(describeError(err));
      },
    );
    return () => {
      live = false;
    };
  }, [attempt]);
  return {
    strategies,
    error,
    retry: () => {
      setError(null);
      setAttempt((a) => a + 1);
    },
  };
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

/** Switch strategy, keeping the values of the fields both strategies share. */
export function switchStrategy(strategies: Strategy[], state: EditorState, name: string): EditorState {
  const strategy = findStrategy(strategies, name);
  const fields = fieldsFromSchema(strategy?.params_schema);
  const fresh = initialValues(fields);
  for (const field of fields) {
    if (field.name in state.values) fresh[field.name] = state.values[field.name] ?? null;
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
