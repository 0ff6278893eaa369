import { describe, expect, it } from "vitest";
import type { Strategy } from "../api/types";
import { PRESETS } from "./presets";
import { configFrom, editorFor, switchStrategy } from "./strategies";

const common = {
  chunk_size: { default: 512, maximum: 8192, minimum: 16, type: "integer" },
  chunk_overlap: { default: 0, maximum: 4096, minimum: 0, type: "integer" },
  tokenizer: { default: "cl100k", type: "string" },
};

function strategy(name: string, extra: Record<string, unknown>): Strategy {
  return {
    name, description: name, available: true, unavailable_reason: null, unavailable_detail: null, options: {},
    params_schema: { type: "object", properties: { ...common, ...extra } },
  };
}

const STRATEGIES = [
  strategy("recursive", {}),
  strategy("markdown", { min_fill: { default: 0.25, maximum: 1, minimum: 0, type: "number" }, split_level: { default: 2, minimum: 1, maximum: 6, type: "integer" } }),
  strategy("semantic", { min_fill: { default: 0.1, maximum: 0.5, minimum: 0, type: "number" } }),
  strategy("hybrid", { split_code_blocks: { default: true, type: "boolean" } }),
];

describe("switchStrategy", () => {
  it("starts from the new strategy's defaults and keeps only the values valid for it", () => {
    const markdown = editorFor(STRATEGIES, { strategy: "markdown", params: { chunk_size: 256, min_fill: 0.9, split_level: 3 } });
    const semantic = switchStrategy(STRATEGIES, markdown, "semantic");
    // chunk_size carries over; markdown's min_fill 0.9 is out of semantic's range: its default.
    expect(configFrom(STRATEGIES, semantic)).toEqual({ config: { strategy: "semantic", params: { chunk_size: 256 } }, errors: {} });
    expect(semantic.values).not.toHaveProperty("split_level");
  });

  it("drops an overlap the carried chunk size no longer allows", () => {
    const state = { strategy: "recursive", values: { chunk_size: "64", chunk_overlap: "200", tokenizer: "cl100k" } };
    const next = switchStrategy(STRATEGIES, state, "hybrid");
    expect(configFrom(STRATEGIES, next).errors).toEqual({});
    expect(next.values["chunk_overlap"]).toBe("0");
  });
});

describe("presets", () => {
  it("are valid configurations of their strategies", () => {
    for (const preset of PRESETS) {
      const built = configFrom(STRATEGIES, editorFor(STRATEGIES, preset.config));
      expect(built.errors, preset.label).toEqual({});
      expect(built.config.strategy).toBe(preset.config.strategy);
    }
    expect(PRESETS.map((p) => p.label)).toEqual(expect.arrayContaining(["RAG, small chunks", "Long context", "Code"]));
  });
});
