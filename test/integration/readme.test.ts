// Runs every ```ts example in README.md and checks each `// → value` comment
// against what the example logs, in order.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it, vi } from 'vitest';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const scratch = join(root, 'test/.readme');

function examples(): string[] {
  const text = readFileSync(join(root, 'README.md'), 'utf8');
  return [...text.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1] as string);
}

function expectedOutputs(code: string): string[] {
  return [...code.matchAll(/\/\/ → (.*)$/gm)].map((m) => (m[1] as string).trim());
}

describe('README examples', () => {
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));
  const blocks = examples();

  it('has examples to run', () => {
    expect(blocks.length).toBeGreaterThan(0);
  });

  blocks.forEach((code, i) => {
    it(`example ${i + 1} runs and logs what its comments say`, async () => {
      mkdirSync(scratch, { recursive: true });
      const file = join(scratch, `example_${i + 1}.ts`);
      const source = code
        .replace(/from 'concord'/g, `from '${pathToFileURL(join(root, 'src/index.ts')).href}'`)
        .replace(/from 'concord\/sim'/g, `from '${pathToFileURL(join(root, 'src/sim/index.ts')).href}'`)
        .replace(/from 'concord\/telemetry'/g, `from '${pathToFileURL(join(root, 'src/telemetry/index.ts')).href}'`)
        .replace(/from 'concord\/machines\/(\w+)'/g, (_m, name: string) => `from '${pathToFileURL(join(root, `machines/${name}.ts`)).href}'`);
      writeFileSync(file, `${source}\nexport {};\n`);
      const logged: string[] = [];
      const spy = vi.spyOn(console, 'log').mockImplementation((...args: unknown[]) => {
        logged.push(args.map((a) => (typeof a === 'string' ? a : JSON.stringify(a))).join(' '));
      });
      try {
        await import(pathToFileURL(file).href);
      } finally {
        spy.mockRestore();
      }
      expect(logged).toEqual(expectedOutputs(code));
    });
  });
});
