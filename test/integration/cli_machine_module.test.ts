// `concord node --machine-module <name>=<file>`: a user's own machine, loaded
// from a real ES module file, serving a cluster of three node processes; and
// the usage errors a wrong module or spec gets.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NatsServer } from '../helpers/nats_server.js';
import { NodeProcess, runCli } from '../helpers/processes.js';
import { Client } from '../../src/api/client.js';
import { NatsTransport } from '../../src/transport/nats.js';
import { silentLogger } from '../../src/lib/logger.js';
import { loadMachineModules } from '../../src/cli/machine_module.js';
import { UsageError } from '../../src/cli/args.js';

/** A register: `set` replies with the value it replaces; the query `get` reads it. */
const registerModule = `export default class Register {
  version = 1;
  init() { return ''; }
  apply(_meta, cmd, old) { return { state: cmd.value, reply: old }; }
  queries = { get: (state) => state };
}
`;

/** A register that, once told where with `reportTo`, sends its value there at every tick. */
const tickingRegisterModule = `export default class TickingRegister {
  version = 1;
  init() { return { value: '', to: null }; }
  apply(_meta, cmd, s) {
    if (cmd.reportTo !== undefined) return { state: { ...s, to: cmd.reportTo }, reply: s.value };
    return { state: { ...s, value: cmd.value }, reply: s.value };
  }
  tick(_time, s) { return s.to === null ? [] : [{ type: 'send', to: s.to, msg: s.value }]; }
  queries = { get: (s) => s.value };
}
`;

const ids = ['m1', 'm2', 'm3'];
let dir: string;
let nats: NatsServer;
let nodes: NodeProcess[] = [];

/** Writes `text` as `<dir>/<name>` and returns its path. */
function moduleFile(name: string, text: string): string {
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}

/** The UsageError message `loadMachineModules(specs)` fails with. */
async function usageError(specs: string[]): Promise<string> {
  const error = await loadMachineModules(specs, ['kv', 'counter']).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(UsageError);
  return (error as UsageError).message;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'concord-machine-module-'));
  nats = await NatsServer.start();
});

afterAll(async () => {
  await Promise.all(nodes.map((n) => n.stop()));
  await nats.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('machine modules', () => {
  it('loads a default-exported class or factory, each call making a fresh machine', async () => {
    const cls = moduleFile('register.mjs', registerModule);
    const fn = moduleFile('factory.mjs', `export default () => ({ init: () => 0, apply: (_m, c, s) => ({ state: s + c, reply: s + c }) });\n`);
    const machines = await loadMachineModules([`reg=${cls}`, `sum=${fn}`], ['kv', 'counter']);
    expect(Object.keys(machines)).toEqual(['reg', 'sum']);
    const reg = machines['reg'] as () => { apply(m: unknown, c: unknown, s: unknown): { state: unknown; reply: unknown } };
    expect(reg()).not.toBe(reg());
    expect(reg().apply({}, { value: 'b' }, 'a')).toEqual({ state: 'b', reply: 'a' });
    const sum = machines['sum'] as () => { apply(m: unknown, c: unknown, s: unknown): { state: unknown; reply: unknown } };
    expect(sum().apply({}, 2, 3)).toEqual({ state: 5, reply: 5 });
    // Names are plain names, even those every object inherits.
    expect(Object.keys({ ...(await loadMachineModules([`__proto__=${cls}`, `toString=${fn}`], [])) })).toEqual(['__proto__', 'toString']);
  });

  it('turns every mistake into a usage error that names it', async () => {
    const good = moduleFile('good.mjs', registerModule);
    expect(await usageError(['reg'])).toMatch(/<name>=<file>/);
    expect(await usageError([`=${good}`])).toMatch(/machine name/);
    expect(await usageError(['a b=x.mjs'])).toMatch(/machine name/);
    expect(await usageError([`kv=${good}`])).toMatch(/already a machine named 'kv'/);
    expect(await usageError([`reg=${good}`, `reg=${good}`])).toMatch(/already a machine named 'reg'/);
    expect(await usageError([`reg=${join(dir, 'missing.mjs')}`])).toMatch(/cannot load machine module .*missing\.mjs/);
    expect(await usageError([`reg=${moduleFile('syntax.mjs', 'export default class {')}`])).toMatch(/cannot load machine module/);
    expect(await usageError([`reg=${moduleFile('named.mjs', 'export class Register {}\n')}`])).toMatch(/default export/);
    expect(await usageError([`reg=${moduleFile('object.mjs', 'export default { init() {}, apply() {} };\n')}`])).toMatch(/default export/);
    expect(await usageError([`reg=${moduleFile('empty.mjs', 'export default class Empty {}\n')}`])).toMatch(/did not make a Machine/);
    expect(await usageError([`reg=${moduleFile('throws.mjs', 'export default () => { throw new Error("no config"); };\n')}`])).toMatch(/making its machine failed: no config/);
  });

  it('serves a cluster of three node processes with the machine, ticking it, and refuses bad flags with exit code 2', async () => {
    const file = moduleFile('register.mjs', tickingRegisterModule);
    const flags = ['--machine-module', `reg=${file}`, '--machine', 'reg', '--cluster', 'reg', '--members', ids.join(','), '--election-timeout', '300', '--machine-tick', '50'];
    nodes = ids.map((id) => new NodeProcess(id, join(dir, id), nats.url, flags));
    await Promise.all(nodes.map((n) => n.start()));
    const transport = await NatsTransport.connect({ nodeId: `t-${randomBytes(3).toString('hex')}`, servers: nats.url, logger: silentLogger });
    const client = await Client.connect({ transport, clusters: { reg: ids }, logger: silentLogger, requestTimeoutMs: 15_000 });
    try {
      expect(await client.processCommand('reg', { value: 'blue' })).toBe('');
      expect(await client.processCommand('reg', { value: 'green' })).toBe('blue');
      expect(await client.consistentQuery('reg', { name: 'get' })).toBe('green');
      // The leader's ticks send the value to a subscriber of this client, one message per tick.
      const heard: unknown[] = [];
      let enough: () => void = () => {};
      const threeHeard = new Promise<void>((resolve) => (enough = resolve));
      const to = client.subscribe((msg) => {
        heard.push(msg);
        if (heard.length === 3) enough();
      });
      expect(await client.processCommand('reg', { reportTo: to })).toBe('green');
      await threeHeard;
      expect(heard.slice(0, 3)).toEqual(['green', 'green', 'green']);
    } finally {
      await client.close();
    }
    const node = (extra: string[]) => runCli(['node', '--id', 'mx', '--data', join(dir, 'mx'), '--nats', nats.url, ...extra]);
    const missing = await node(['--machine-module', `reg=${join(dir, 'missing.mjs')}`]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/cannot load machine module/);
    const unknown = await node(['--machine-module', `reg=${file}`, '--machine', 'nope', '--cluster', 'x', '--members', 'mx']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/unknown machine 'nope' \(kv, counter, reg\)/);
    const badTick = await node(['--machine-tick', 'often']);
    expect(badTick.code).toBe(2);
    expect(badTick.stderr).toMatch(/--machine-tick must be an integer >= 0, got "often"/);
  });
});
