import { act, fireEvent, render } from "@testing-library/react";
import { StrictMode } from "react";
import { beforeEach, describe, expect, it, vi } from "vitest";
import { ApiError } from "../api/client";
import type { DocumentOut } from "../api/types";
import { UploadZone, UPLOADS_AT_ONCE } from "./UploadZone";

interface Pending {
  name: string;
  progress: (share: number) => void;
  resolve: (items: DocumentOut[]) => void;
  reject: (err: unknown) => void;
}

const pending: Pending[] = [];

vi.mock("../api/upload", () => ({
  uploadFile: (_collection: string, file: File, onProgress: (share: number) => void) => {
    let resolve!: (items: DocumentOut[]) => void;
    let reject!: (err: unknown) => void;
    const promise = new Promise<DocumentOut[]>((yes, no) => {
      resolve = yes;
      reject = no;
    });
    pending.push({ name: file.name, progress: onProgress, resolve, reject });
    return { promise, abort: () => undefined };
  },
}));

function files(count: number): File[] {
  return Array.from({ length: count }, (_, k) => new File([`file ${k}`], `f${k}.txt`, { type: "text/plain" }));
}

function statusOf(container: HTMLElement, name: string): string {
  return container.querySelector(`.upload-item[data-filename="${name}"] .upload-status`)?.textContent ?? "";
}

function progressOf(container: HTMLElement, name: string): number {
  return (container.querySelector(`.upload-item[data-filename="${name}"] progress`) as HTMLProgressElement).value;
}

describe("UploadZone", () => {
  beforeEach(() => {
    pending.length = 0;
  });

  it(`uploads ${UPLOADS_AT_ONCE} files at once, in order, each with its own progress`, async () => {
    expect(UPLOADS_AT_ONCE).toBeGreaterThanOrEqual(2);
    expect(UPLOADS_AT_ONCE).toBeLessThanOrEqual(3);
    const onUploaded = vi.fn();
    const { container } = render(
      <StrictMode>
        <UploadZone collectionId="c1" onUploaded={onUploaded} />
      </StrictMode>,
    );
    const input = container.querySelector("input[type=file]") as HTMLInputElement;
    await act(async () => {
      fireEvent.change(input, { target: { files: files(5) } });
    });
    // The first ones are in flight, the rest wait (and nothing starts twice under StrictMode).
    expect(pending.map((p) => p.name)).toEqual(["f0.txt", "f1.txt", "f2.txt"].slice(0, UPLOADS_AT_ONCE));
    expect(statusOf(container, "f4.txt")).toBe("Waiting");

    await act(async () => {
      pending[0]!.progress(0.25);
      pending[1]!.progress(0.75);
    });
    expect(progressOf(container, "f0.txt")).toBe(0.25);
    expect(progressOf(container, "f1.txt")).toBe(0.75);
    expect(statusOf(container, "f0.txt")).toBe("25%");
    expect(statusOf(container, "f1.txt")).toBe("75%");

    // One refused, one done: two more start, in order.
    await act(async () => {
      pending[1]!.reject(new ApiError(415, "unsupported_file_type", "files: 'f1.txt' is not a supported document"));
      pending[0]!.resolve([]);
    });
    expect(statusOf(container, "f0.txt")).toBe("✓ Uploaded");
    expect(statusOf(container, "f1.txt")).toBe("✗ Rejected: 'f1.txt' is not a supported document.");
    // A refused file shows no progress bar (not a full one).
    expect(container.querySelector('[data-filename="f1.txt"] progress')).toBeNull();
    expect(onUploaded).toHaveBeenCalledTimes(1);
    expect(pending.map((p) => p.name)).toEqual(["f0.txt", "f1.txt", "f2.txt", "f3.txt", "f4.txt"].slice(0, UPLOADS_AT_ONCE + 2));

    await act(async () => {
      for (const p of pending.slice(2)) p.resolve([]);
    });
    await act(async () => {
      for (const p of pending.slice(UPLOADS_AT_ONCE + 2)) p.resolve([]);
    });
    expect(pending).toHaveLength(5);
    for (const name of ["f2.txt", "f3.txt", "f4.txt"]) expect(statusOf(container, name)).toBe("✓ Uploaded");
    expect(onUploaded).toHaveBeenCalledTimes(4);
  });
});
