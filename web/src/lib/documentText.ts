// Stored documents' extracted texts (GET /documents/{id}/text), fetched once per document and
// shared: a document's content never changes under its id, so the playground asks for it once
// however often the parameters change, and every chunk of a document on the chunks screens
// shows its context from the one copy. A few documents are kept (a text may be megabytes);
// the cache is emptied when the session ends.
import { api } from "../api/endpoints";
import type { DocumentText } from "../api/types";

const KEEP = 4;
const texts = new Map<string, Promise<DocumentText>>();

export function documentText(id: string): Promise<DocumentText> {
  const hit = texts.get(id);
  if (hit) {
    texts.delete(id); // most recently used last
    texts.set(id, hit);
    return hit;
  }
  const promise = api.documentText(id);
  texts.set(id, promise);
  // A failure is not kept: the next call asks again.
  promise.catch(() => {
    if (texts.get(id) === promise) texts.delete(id);
  });
  while (texts.size > KEEP) texts.delete(texts.keys().next().value!);
  return promise;
}

export function forgetDocumentTexts(): void {
  texts.clear();
}
