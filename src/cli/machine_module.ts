// `concord node --machine-module <name>=<file>`: a user's own machine, loaded
// from an ES module whose default export is a Machine class or a function
// that returns a Machine. Every node that hosts a member of a cluster needs
// the machine under the same name (a cluster names its machine, as in
// `client.startCluster(cluster, name, members)`).
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { AnyMachine } from '../raft/machine.js';
import { isName } from '../lib/names.js';
import { UsageError } from './args.js';

/**
 * Loads each `<name>=<file>` of `specs` and returns a factory per name. A name
 * may not repeat one of `taken` (the built-in machines) or another spec.
 * Any mistake, the module's own load errors included, is a UsageError.
 */
export async function loadMachineModules(specs: readonly string[], taken: readonly string[]): Promise<Record<string, () => AnyMachine>> {
  const loaded: Record<string, () => AnyMachine> = Object.create(null) as Record<string, () => AnyMachine>; // so that `__proto__` is a name like any other
  for (const spec of specs) {
    const eq = spec.indexOf('=');
    const name = spec.slice(0, eq);
    const file = spec.slice(eq + 1);
    if (eq < 0 || file === '') throw new UsageError(`--machine-module takes <name>=<file>, got ${JSON.stringify(spec)}`);
    if (!isName(name)) throw new UsageError(`a machine name must be 1-64 characters of [A-Za-z0-9_.-], got ${JSON.stringify(name)}`);
    if (taken.includes(name) || Object.hasOwn(loaded, name)) throw new UsageError(`there is already a machine named '${name}'`);
    loaded[name] = await factoryFrom(file);
  }
  return loaded;
}

/** The factory that `file`'s default export gives, checked by making one machine with it. */
async function factoryFrom(file: string): Promise<() => AnyMachine> {
  let exported: unknown;
  try {
    exported = ((await import(pathToFileURL(resolve(file)).href)) as { default?: unknown }).default;
  } catch (e) {
    throw new UsageError(`cannot load machine module ${file}: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (typeof exported !== 'function') throw new UsageError(`${file} must have a default export that is a Machine class or a function returning a Machine`);
  const make = exported as (new () => AnyMachine) & (() => AnyMachine);
  const factory = /^class\b/.test(Function.prototype.toString.call(make)) ? () => new make() : () => make();
  let sample: unknown;
  try {
    sample = factory();
  } catch (e) {
    throw new UsageError(`${file}: making its machine failed: ${e instanceof Error ? e.message : String(e)}`);
  }
  const m = sample as Partial<AnyMachine> | null;
  if (typeof m !== 'object' || m === null || typeof m.init !== 'function' || typeof m.apply !== 'function') {
    throw new UsageError(`${file}: its default export did not make a Machine (an object with init and apply)`);
  }
  return factory;
}
