import { render, screen } from "@testing-library/react";
import { describe, expect, it, vi } from "vitest";
import type { Strategy } from "../api/types";
import { ConfigEditor } from "./ConfigEditor";

const SCHEMA = { type: "object", properties: { chunk_size: { default: 512, type: "integer" } } };

function strategy(name: string, patch: Partial<Strategy> = {}): Strategy {
  return {
    name, description: `${name} splits text`, params_schema: SCHEMA, available: true,
    unavailable_reason: null, unavailable_detail: null, options: {}, ...patch,
  };
}

const STRATEGIES = [
  strategy("recursive"),
  strategy("semantic", {
    available: false, unavailable_reason: "the local embedding model is not installed on this server",
  }),
];

describe("ConfigEditor", () => {
  it("shows a strategy this server cannot run, but does not let it be chosen", () => {
    render(<ConfigEditor strategies={STRATEGIES} value={{ strategy: "recursive", values: {} }}
      onChange={vi.fn()} idPrefix="t" />);
    const option = screen.getByRole("option", { name: "semantic (not available: the local embedding model is not installed on this server)" }) as HTMLOptionElement;
    expect(option.disabled).toBe(true);
    expect((screen.getByRole("option", { name: "recursive" }) as HTMLOptionElement).disabled).toBe(false);
  });

  it("says why, when a stored configuration names an unavailable strategy", () => {
    render(<ConfigEditor strategies={STRATEGIES} value={{ strategy: "semantic", values: {} }}
      onChange={vi.fn()} idPrefix="t" />);
    expect(screen.getByText(/^semantic cannot run on this server/).textContent).toBe(
      "semantic cannot run on this server: the local embedding model is not installed on this server");
  });
});
