// Uploads with progress: fetch cannot report upload progress, XMLHttpRequest can.
import { API_PREFIX, ApiError, errorFromBody, notifyUnauthorized } from "./client";
import type { DocumentOut, UploadResponse } from "./types";

export interface UploadHandle {
  promise: Promise<DocumentOut[]>;
  abort(): void;
}

/** POST one file to a collection; `onProgress` gets the share sent, 0..1. */
export function uploadFile(
  collectionId: string,
  file: File,
  onProgress: (share: number) => void,
): UploadHandle {
  const xhr = new XMLHttpRequest();
  const promise = new Promise<DocumentOut[]>((resolve, reject) => {
    xhr.open("POST", `${API_PREFIX}/collections/${encodeURIComponent(collectionId)}/documents`);
    xhr.withCredentials = false; // same origin: the session cookie goes anyway
    xhr.setRequestHeader("Accept", "application/json");
    xhr.responseType = "text";
    xhr.upload.onprogress = (event) => {
      if (event.lengthComputable && event.total > 0) onProgress(event.loaded / event.total);
    };
    xhr.onload = () => {
      let body: unknown = xhr.responseText;
      try {
        body = JSON.parse(xhr.responseText);
      } catch {
        // not JSON: keep the text
      }
      if (xhr.status >= 200 && xhr.status < 300) {
        onProgress(1);
        resolve((body as UploadResponse).items);
        return;
      }
      if (xhr.status === 401) notifyUnauthorized();
      reject(errorFromBody(xhr.status, body));
    };
    xhr.onerror = () =>
      reject(new ApiError(0, "network", "The upload failed: the server cannot be reached."));
    xhr.onabort = () => reject(new ApiError(0, "aborted", "The upload was cancelled."));
    const form = new FormData();
    form.append("files", file, file.name);
    xhr.send(form);
  });
  return { promise, abort: () => xhr.abort() };
}
