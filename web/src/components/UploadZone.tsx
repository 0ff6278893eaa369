// Drag-and-drop (or choose) several files; each is uploaded on its own request so each gets
// its own progress bar, and a refused file (too large, unsupported, a duplicate) says why in
// the server's words without stopping the others. A few go at once, in the order given.
import { useCallback, useEffect, useRef, useState, type DragEvent } from "react";
import { describeError } from "../api/client";
import { uploadFile } from "../api/upload";
import { formatBytes, plural } from "../lib/format";

type ItemStatus = "queued" | "uploading" | "done" | "rejected";

interface Item {
  key: number;
  file: File;
  share: number;
  status: ItemStatus;
  message: string | null;
}

interface Props {
  collectionId: string;
  onUploaded: () => void;
}

let nextKey = 1;

/** Uploads in flight at once; the rest wait their turn. */
export const UPLOADS_AT_ONCE = 3;

export function UploadZone({ collectionId, onUploaded }: Props) {
  const [items, setItems] = useState<Item[]>([]);
  const [dragging, setDragging] = useState(false);
  const inputRef = useRef<HTMLInputElement>(null);

  const update = (key: number, patch: Partial<Item>) =>
    setItems((list) => list.map((item) => (item.key === key ? { ...item, ...patch } : item)));

  const add = (files: FileList | File[]) => {
    const fresh = Array.from(files).map((file) => ({
      key: nextKey++,
      file,
      share: 0,
      status: "queued" as const,
      message: null,
    }));
    if (fresh.length) setItems((list) => [...list, ...fresh]);
  };

  // Up to UPLOADS_AT_ONCE requests at a time, started in order; each is the server's own
  // all-or-nothing upload, so one refusal does not touch the others.
  const started = useRef(new Set<number>());
  const inFlight = useRef(0);
  const run = useCallback(
    async (item: Item) => {
      update(item.key, { status: "uploading" });
      let patch: Partial<Item>;
      try {
        await uploadFile(collectionId, item.file, (share) => update(item.key, { share })).promise;
        patch = { status: "done", share: 1, message: "Uploaded" };
        onUploaded();
      } catch (err) {
        patch = { status: "rejected", message: describeError(err) };
      }
      inFlight.current--; // before the update below wakes the effect for the next file
      update(item.key, patch);
    },
    [collectionId, onUploaded],
  );

  useEffect(() => {
    for (const item of items) {
      if (inFlight.current >= UPLOADS_AT_ONCE) break;
      if (item.status !== "queued" || started.current.has(item.key)) continue;
      started.current.add(item.key);
      inFlight.current++;
      void run(item);
    }
  }, [items, run]);

  const onDrop = (event: DragEvent) => {
    event.preventDefault();
    setDragging(false);
    if (event.dataTransfer?.files?.length) add(event.dataTransfer.files);
  };

  const done = items.filter((i) => i.status === "done").length;
  const rejected = items.filter((i) => i.status === "rejected").length;
  const pending = items.length - done - rejected;

  return (
    <div className="upload">
      <div
        className={`drop-zone${dragging ? " dragging" : ""}`}
        data-testid="drop-zone"
        onDragEnter={(e) => {
          e.preventDefault();
          setDragging(true);
        }}
        onDragOver={(e) => e.preventDefault()}
        onDragLeave={() => setDragging(false)}
        onDrop={onDrop}
      >
        <p>Drop files here (text, markdown, HTML, PDF, DOCX, source code), or</p>
        <label htmlFor={`upload-${collectionId}`} className="button">
          Choose files…
        </label>
        <input
          ref={inputRef}
          id={`upload-${collectionId}`}
          className="visually-hidden-input"
          type="file"
          multiple
          onChange={(e) => {
            if (e.target.files) add(e.target.files);
            if (inputRef.current) inputRef.current.value = "";
          }}
        />
      </div>
      <p className="visually-hidden" aria-live="polite">
        {items.length
          ? `${plural(done, "file")} uploaded, ${rejected} rejected, ${pending} in progress.`
          : ""}
      </p>
      {items.length ? (
        <ul className="upload-list" aria-label="Uploads">
          {items.map((item) => (
            <li key={item.key} className={`upload-item upload-${item.status}`} data-filename={item.file.name}>
              <span className="upload-name">
                {item.file.name} <span className="muted">({formatBytes(item.file.size)})</span>
              </span>
              {item.status === "rejected" ? (
                // A refused file was not stored, however many of its bytes were sent: no full bar.
                <span className="upload-bar-refused" aria-hidden="true" />
              ) : (
                <progress max={1} value={item.share} aria-label={`Upload of ${item.file.name}`} />
              )}
              <span className="upload-status">
                {item.status === "queued"
                  ? "Waiting"
                  : item.status === "uploading"
                    ? `${Math.round(item.share * 100)}%`
                    : item.status === "done"
                      ? "✓ Uploaded"
                      : `✗ Rejected: ${item.message}`}
              </span>
            </li>
          ))}
        </ul>
      ) : null}
      {items.some((i) => i.status === "done" || i.status === "rejected") ? (
        <button
          type="button"
          className="link-button"
          onClick={() => setItems((list) => list.filter((i) => i.status === "queued" || i.status === "uploading"))}
        >
          Clear finished uploads
        </button>
      ) : null}
    </div>
  );
}
