// Names that come from outside (clusters, nodes, machines, queries,
// commands): the one naming rule, and lookups that never find what every
// object inherits (`toString`, `constructor`, `__proto__`).

/** Cluster, node and machine names: 1-64 characters of [A-Za-z0-9_.-] (safe in NATS subjects). */
export function isName(v: unknown): v is string {
  return typeof v === 'string' && /^[A-Za-z0-9_.-]{1,64}$/.test(v);
}

/** `record[key]` if the record has it as its own property, else undefined. */
export function ownValue<T>(record: Readonly<Record<string, T>> | undefined, key: string): T | undefined {
  return record !== undefined && Object.hasOwn(record, key) ? record[key] : undefined;
}
