import { useEffect, useState } from "react";

/** `value`, once it has stopped changing for `delay` ms. */
export function useDebounced<T>(value: T, delay: number): T {
  const [debounced, setDebounced] = useState(value);
  useEffect(() => {
    const timer = setTimeout(() => setDebounced(value), delay);
    return () => clearTimeout(timer);
  }, [value, delay]);
  return debounced;
}

/** Set the document title for a screen. */
export function useTitle(title: string): void {
  useEffect(() => {
    document.title = title ? `${title} · Chunkyard` : "Chunkyard";
  }, [title]);
}
