// A value one middleware leaves on a request or response for the ones after it, out of sight.

/**
 * True on V8 before 13 (Node.js 20 and 22). Express swaps the prototype of every request and
 * response before the first middleware runs; there, each property added to such an object
 * afterwards builds a hidden class for that one object, on the order of a microsecond, while a
 * WeakMap entry costs a fraction of that. From V8 13 (Node.js 24) the property costs nothing
 * measurable and the WeakMap entry more, as the garbage collector must trace it.
 */
export const slowPropertyAdds = Number.parseInt(process.versions.v8, 10) < 13;

/** Where a middleware keeps one value per request or response. */
export interface RequestSlot<T> {
  get(target: object): T | undefined;
  set(target: object, value: T): void;
}

/**
 * A slot for values under `key`: a property of that symbol on the object, or, where adding
 * properties is slow, an entry in `entries` (a WeakMap of the caller's, which copies of a
 * package loaded side by side can share, or a new one).
 */
export function requestSlot<T>(
  key: symbol,
  entries: WeakMap<object, T> = new WeakMap(),
): RequestSlot<T> {
  if (slowPropertyAdds) {
    return {
      get: (target) => entries.get(target),
      set: (target, value) => {
        entries.set(target, value);
      },
    };
  }
  return {
    get: (target) => (target as Record<symbol, T | undefined>)[key],
    set: (target, value) => {
      (target as Record<symbol, T>)[key] = value;
    },
  };
}
