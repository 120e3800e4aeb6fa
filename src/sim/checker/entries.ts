// Porcupine's entry list: the call and return events of a partition in time
// order, doubly linked so that linearizing an op lifts both out in O(1).

/** A call or return event; a call's `match` is its return. */
export class Entry {
  prev: Entry | null = null;
  next: Entry | null = null;
  match: Entry | null = null;

  constructor(
    /** Index of the operation in the prepared partition. */
    readonly index: number,
    readonly isCall: boolean,
    readonly time: number,
  ) {}
}

function before(a: Entry, b: Entry): number {
  // Calls before returns at equal times: touching intervals are concurrent.
  if (a.time !== b.time) return a.time < b.time ? -1 : 1;
  if (a.isCall !== b.isCall) return a.isCall ? -1 : 1;
  return a.index - b.index;
}

/** Builds the list for operations with the given intervals; returns its head sentinel. */
export function buildEntries(intervals: readonly { readonly invoke: number; readonly complete: number }[]): Entry {
  const events: Entry[] = [];
  intervals.forEach((p, i) => {
    const call = new Entry(i, true, p.invoke);
    const ret = new Entry(i, false, p.complete);
    call.match = ret;
    events.push(call, ret);
  });
  events.sort(before);
  const head = new Entry(-1, false, -Infinity);
  let last = head;
  for (const e of events) {
    last.next = e;
    e.prev = last;
    last = e;
  }
  return head;
}

/** Removes a call and its return from the list: the op is linearized. */
export function lift(call: Entry): void {
  const ret = call.match!;
  call.prev!.next = call.next;
  call.next!.prev = call.prev;
  ret.prev!.next = ret.next;
  if (ret.next !== null) ret.next.prev = ret.prev;
}

/** Puts back what `lift` removed; lifts must be undone in reverse order. */
export function unlift(call: Entry): void {
  const ret = call.match!;
  ret.prev!.next = ret;
  if (ret.next !== null) ret.next.prev = ret;
  call.prev!.next = call;
  call.next!.prev = call;
}
