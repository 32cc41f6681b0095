/**
 * A value recomputed at most once per `ttlMs`, with concurrent callers
 * sharing one computation: what lets a polled endpoint stay cheap under load.
 * A failed computation is not kept.
 */
export function cached<T>(ttlMs: number, compute: () => Promise<T>): () => Promise<T> {
  let current: { at: number; value: Promise<T> } | null = null;
  return () => {
    if (current && Date.now() - current.at < ttlMs) return current.value;
    const entry = { at: Date.now(), value: compute() };
    // while it runs, callers share it; once it has settled, it lives for ttlMs
    current = { at: Number.POSITIVE_INFINITY, value: entry.value };
    entry.value.then(
      () => {
        if (current?.value === entry.value) current = { at: Date.now(), value: entry.value };
      },
      () => {
        if (current?.value === entry.value) current = null;
      },
    );
    return entry.value;
  };
}
