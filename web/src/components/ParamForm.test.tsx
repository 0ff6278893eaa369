import { fireEvent, render, screen } from "@testing-library/react";
import { useState } from "react";
import { describe, expect, it, vi } from "vitest";
import { fieldsFromSchema, initialValues, parseValues, type FormValues } from "../lib/params";
import type { Choice } from "../api/types";
import { SIZE_STEPS } from "../lib/sizes";
import { ParamForm } from "./ParamForm";

// The shape the server sends (pydantic's JSON Schema), trimmed to one field of each kind.
const SCHEMA = {
  additionalProperties: false,
  title: "DemoParams",
  type: "object",
  properties: {
    chunk_size: {
      default: 512,
      description: "Hard cap on tokens per chunk, under `tokenizer`.",
      maximum: 8192,
      minimum: 16,
      title: "Chunk Size",
      type: "integer",
    },
    chunk_overlap: { default: 0, maximum: 4096, minimum: 0, title: "Chunk Overlap", type: "integer" },
    min_fill: { default: 0.25, maximum: 1.0, minimum: 0.0, title: "Min Fill", type: "number" },
    tokenizer: {
      default: "cl100k",
      description: "How tokens are counted.",
      examples: ["cl100k", "words", "chars"],
      title: "Tokenizer",
      type: "string",
    },
    threshold: {
      anyOf: [{ maximum: 2.0, minimum: 0.0, type: "number" }, { type: "null" }],
      default: null,
      title: "Threshold",
    },
    parent_sizes: {
      anyOf: [{ items: { type: "integer" }, type: "array" }, { type: "null" }],
      default: null,
      examples: [[2048], [4096, 1024]],
      title: "Parent Sizes",
    },
    include_parents: { default: false, title: "Include Parents", type: "boolean" },
  },
};

/** The text of the elements an input's aria-describedby names. */
function description(el: HTMLElement): string {
  return (el.getAttribute("aria-describedby") ?? "")
    .split(" ")
    .map((id) => document.getElementById(id)?.textContent ?? "")
    .join(" ");
}

function Harness({ onValues, choices }: { onValues?: (v: FormValues) => void; choices?: Record<string, Choice[]> }) {
  const [values, setValues] = useState<FormValues>(() => initialValues(fieldsFromSchema(SCHEMA)));
  return (
    <ParamForm
      schema={SCHEMA}
      values={values}
      idPrefix="t"
      choices={choices}
      onChange={(v) => {
        setValues(v);
        onValues?.(v);
      }}
    />
  );
}

describe("fieldsFromSchema", () => {
  it("reads kinds, limits, nullability and defaults", () => {
    const fields = Object.fromEntries(fieldsFromSchema(SCHEMA).map((f) => [f.name, f]));
    expect(fields["chunk_size"]).toMatchObject({ kind: "integer", minimum: 16, maximum: 8192, default: 512, nullable: false });
    expect(fields["min_fill"]).toMatchObject({ kind: "number", minimum: 0, maximum: 1 });
    expect(fields["threshold"]).toMatchObject({ kind: "number", nullable: true, maximum: 2, default: null });
    expect(fields["parent_sizes"]).toMatchObject({ kind: "integer-list", nullable: true });
    expect(fields["include_parents"]).toMatchObject({ kind: "boolean", default: false });
    expect(fields["tokenizer"]?.examples).toEqual(["cl100k", "words", "chars"]);
  });

  it("sends only what differs from the defaults, parsed to the schema's types", () => {
    const fields = fieldsFromSchema(SCHEMA);
    const values = initialValues(fields);
    expect(parseValues(fields, values)).toEqual({ params: {}, errors: {} });
    const changed = { ...values, chunk_size: "128", threshold: "0.5", parent_sizes: "2048, 512", include_parents: true };
    expect(parseValues(fields, changed).params).toEqual({
      chunk_size: 128,
      threshold: 0.5,
      parent_sizes: [2048, 512],
      include_parents: true,
    });
  });

  it("refuses values outside the schema's limits with a sentence naming the field", () => {
    const fields = fieldsFromSchema(SCHEMA);
    const values = { ...initialValues(fields), chunk_size: "8", min_fill: "abc" };
    const { errors, params } = parseValues(fields, values);
    expect(errors["chunk_size"]).toBe("Chunk Size must be 16 to 8192.");
    expect(errors["min_fill"]).toBe("Min Fill must be a number.");
    expect(params).toEqual({});
  });
});

describe("ParamForm", () => {
  it("labels every control and shows descriptions, limits and defaults", () => {
    render(<Harness />);
    const size = screen.getByLabelText("Chunk Size") as HTMLInputElement;
    expect(size.type).toBe("number");
    expect(size.min).toBe("16");
    expect(size.max).toBe("8192");
    expect(size.value).toBe("512");
    expect(description(size)).toMatch(/Hard cap on tokens per chunk.*Allowed: 16 to 8192\..*Default: 512\./);
    expect(screen.getByLabelText("Chunk Size slider")).toBeTruthy();
    expect(screen.getByLabelText("Min Fill slider")).toHaveProperty("step", "0.01");
    expect((screen.getByLabelText("Tokenizer") as HTMLInputElement).list?.id).toBe("t-tokenizer-examples");
    expect(screen.getByLabelText("Include Parents")).toHaveProperty("type", "checkbox");
    // A nullable field starts unset, with its input disabled until switched on.
    expect(screen.getByLabelText("Threshold")).toHaveProperty("disabled", true);
    expect(screen.getByLabelText("Set Threshold")).toHaveProperty("checked", false);
  });

  it("reports changes and shows the error of an out-of-range value", () => {
    const onValues = vi.fn();
    render(<Harness onValues={onValues} />);
    const size = screen.getByLabelText("Chunk Size");
    fireEvent.change(size, { target: { value: "9000" } });
    expect(onValues).toHaveBeenLastCalledWith(expect.objectContaining({ chunk_size: "9000" }));
    expect(screen.getByRole("alert").textContent).toBe("Chunk Size must be 16 to 8192.");
    expect(size.getAttribute("aria-invalid")).toBe("true");
    fireEvent.change(size, { target: { value: "256" } });
    expect(screen.queryByRole("alert")).toBeNull();
  });

  it("moves the chunk size on a log scale, with quick picks and its size in characters", () => {
    render(<Harness />);
    const slider = screen.getByLabelText("Chunk Size slider") as HTMLInputElement;
    const steps = SIZE_STEPS.filter((s) => s >= 16 && s <= 8192);
    expect(slider.max).toBe(String(steps.length - 1));
    // 64 to 2048 take most of the slider's length, not its first 12%.
    const share = (steps.indexOf(2048) - steps.indexOf(64)) / (steps.length - 1);
    expect(share).toBeGreaterThan(0.5);
    fireEvent.change(slider, { target: { value: String(steps.indexOf(1024)) } });
    expect((screen.getByLabelText("Chunk Size") as HTMLInputElement).value).toBe("1024");
    expect(slider.getAttribute("aria-valuetext")).toBe("1024 tokens");
    fireEvent.click(screen.getByRole("button", { name: "256" }));
    const size = screen.getByLabelText("Chunk Size") as HTMLInputElement;
    expect(size.value).toBe("256");
    expect(description(size)).toContain("256 tokens is about 1,000 characters.");
  });

  it("does not flag a value still being typed, and flags it once the field is left", () => {
    render(<Harness />);
    const size = screen.getByLabelText("Chunk Size") as HTMLInputElement;
    fireEvent.change(size, { target: { value: "1" } }); // on the way to 1024
    expect(screen.queryByRole("alert")).toBeNull();
    expect(size.getAttribute("aria-invalid")).toBeNull();
    fireEvent.blur(size);
    expect(screen.getByRole("alert").textContent).toBe("Chunk Size must be 16 to 8192.");
    fireEvent.change(size, { target: { value: "99999" } }); // no digit more can make it valid
    expect(screen.getByRole("alert").textContent).toBe("Chunk Size must be 16 to 8192.");
  });

  it("flags an overlap of more than half the chunk size at the field", () => {
    render(<Harness />);
    fireEvent.change(screen.getByLabelText("Chunk Overlap"), { target: { value: "300" } });
    fireEvent.blur(screen.getByLabelText("Chunk Overlap"));
    expect(screen.getByRole("alert").textContent).toBe("Chunk Overlap must be at most half of the chunk size: at most 256 for 512.");
    // Its slider ends at half the chunk size.
    expect((screen.getByLabelText("Chunk Overlap slider") as HTMLInputElement).max).toBe("256");
  });

  it("switches a nullable field on with a first value and off again", () => {
    const onValues = vi.fn();
    render(<Harness onValues={onValues} />);
    fireEvent.click(screen.getByLabelText("Set Threshold"));
    expect(onValues).toHaveBeenLastCalledWith(expect.objectContaining({ threshold: "0" }));
    expect(screen.getByLabelText("Threshold")).toHaveProperty("disabled", false);
    fireEvent.click(screen.getByLabelText("Set Parent Sizes"));
    expect((screen.getByLabelText("Parent Sizes") as HTMLInputElement).value).toBe("2048");
    fireEvent.click(screen.getByLabelText("Set Threshold"));
    expect(onValues).toHaveBeenLastCalledWith(expect.objectContaining({ threshold: null }));
  });

  it("offers the values this installation has and names the ones it lacks", () => {
    const choice = (value: string, available: boolean, reason: string | null = null): Choice => ({
      value, description: `about ${value}`, available, unavailable_reason: reason, unavailable_detail: null,
    });
    render(
      <Harness
        choices={{
          tokenizer: [choice("cl100k", true), choice("words", true), choice("hf:PATH", false, "no tokenizers"),
                      choice("threshold", true), choice("bert", false, "the bert model is not installed")],
        }}
      />,
    );
    const select = screen.getByLabelText("Tokenizer") as HTMLSelectElement;
    const offered = Array.from(select.options).map((o) => [o.value, o.textContent, o.disabled]);
    // The server's values with what they are, the unavailable greyed with its reason; other
    // fields are left out, and a pattern is "another", typed in.
    expect(offered).toEqual([
      ["cl100k", "cl100k: about cl100k", false],
      ["words", "words: about words", false],
      ["bert", "bert (not available: the bert model is not installed)", true],
      ["__other__", "Another (hf:PATH)", false],
    ]);
    fireEvent.change(select, { target: { value: "__other__" } });
    const other = screen.getByLabelText("Tokenizer: another value") as HTMLInputElement;
    expect(other.value).toBe("hf:");
    fireEvent.change(other, { target: { value: "hf:/models/bert/tokenizer.json" } });
    expect(select.value).toBe("__other__");
  });
});
