// Common setups, one click each: a strategy with the parameters that make it fit a use.
import type { ChunkConfig } from "../api/types";

export interface Preset {
  id: string;
  label: string;
  description: string;
  config: ChunkConfig;
}

export const PRESETS: readonly Preset[] = [
  {
    id: "rag-small",
    label: "RAG, small chunks",
    description: "256 tokens with 32 of overlap: precise retrieval hits.",
    config: { strategy: "recursive", params: { chunk_size: 256, chunk_overlap: 32, tokenizer: "cl100k" } },
  },
  {
    id: "docs",
    label: "Documentation",
    description: "Markdown sections of up to 512 tokens, each with its heading path.",
    config: { strategy: "markdown", params: { chunk_size: 512, tokenizer: "cl100k" } },
  },
  {
    id: "long-context",
    label: "Long context",
    description: "2048 tokens with 128 of overlap: few large chunks for long-context models.",
    config: { strategy: "recursive", params: { chunk_size: 2048, chunk_overlap: 128, tokenizer: "cl100k" } },
  },
  {
    id: "code",
    label: "Code",
    description: "Source files cut at top-level definitions, up to 1024 tokens (the file type decides).",
    config: { strategy: "hybrid", params: { chunk_size: 1024, tokenizer: "cl100k" } },
  },
];
