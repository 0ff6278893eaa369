// Every page of a cursor-paginated list (`{items, next_cursor}`), for lists the UI needs whole.

export interface Page<T> {
  items: T[];
  next_cursor: string | null;
}

export async function fetchAll<T>(
  fetchPage: (cursor: string | undefined) => Promise<Page<T>>,
  maxPages = 100,
): Promise<T[]> {
  const items: T[] = [];
  let cursor: string | undefined;
  for (let page = 0; page < maxPages; page++) {
    const result = await fetchPage(cursor);
    items.push(...result.items);
    if (!result.next_cursor) break;
    cursor = result.next_cursor;
  }
  return items;
}
