import { describe, expect, it } from "vitest";
import { humanizeError } from "./errors";

describe("humanizeError", () => {
  it("drops field-path prefixes and names parameters in words", () => {
    expect(
      humanizeError("params: invalid parameters: params: chunk_overlap (200) must be at most half of chunk_size (256)"),
    ).toBe("Chunk overlap (200) must be at most half of chunk size (256).");
  });

  it("keeps the field a pydantic message is about", () => {
    expect(humanizeError("params.min_fill: Input should be less than or equal to 0.5")).toBe(
      "Min fill should be less than or equal to 0.5.",
    );
  });

  it("names the configuration of a compare", () => {
    expect(humanizeError("configs[1] (markdown): invalid parameters: split_level: Input should be at most 6")).toBe(
      "Configuration 2 (markdown): split level should be at most 6.",
    );
  });

  it("hides raw ids, keeping the name beside them", () => {
    const id = "0b6f6a3e-2f0c-4a57-9d7e-3c1a2b4d5e6f";
    expect(
      humanizeError(`files: 'guide-again.md' has the same content as document ${id} ('guide.md') already in this collection`),
    ).toBe("'guide-again.md' has the same content as 'guide.md' already in this collection.");
    expect(humanizeError(`document ${id}: cannot be extracted`)).toBe("The document: cannot be extracted.");
    expect(humanizeError(`no such thing ${id}`)).not.toMatch(/[0-9a-f]{8}-/);
  });

  it("keeps several problems in one sentence, each without its path", () => {
    expect(humanizeError("params.chunk_size: Input should be at most 8192; params.split_level: Input should be at least 1")).toBe(
      "Chunk size should be at most 8192; split level should be at least 1.",
    );
  });

  it("leaves file names and addresses with underscores as they are", () => {
    expect(humanizeError("files: 'my_notes.md' is empty")).toBe("'my_notes.md' is empty.");
    expect(humanizeError("cannot reach http://host/v1/my_model")).toBe("Cannot reach http://host/v1/my_model.");
  });

  it("leaves a plain sentence alone, but for its capital and full stop", () => {
    expect(humanizeError("wrong username or password")).toBe("Wrong username or password.");
    expect(humanizeError("The server cannot be reached; check the connection and retry.")).toBe(
      "The server cannot be reached; check the connection and retry.",
    );
  });
});
