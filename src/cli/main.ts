#!/usr/bin/env node
// The `concord` command: run a node, talk to a cluster, or run the demo.
// Exit codes: 0 ok, 1 operation error, 2 usage error.
import { ConcordError } from '../lib/errors.js';
import { ownValue } from '../lib/names.js';
import { UsageError } from './args.js';
import { clientUsage, runClientCommand } from './client_commands.js';
import { demoUsage, runDemo } from './demo.js';
import { nodeUsage, runNode } from './node_command.js';

const usage = `Usage: concord <command> [options]
Commands:
  node      run a node process (members of clusters, over NATS)
  kv        put, get, del, cas on a kv cluster
  counter   incr, get on a counter cluster
  cluster   status, members, add, remove, transfer
  demo      a 3-member cluster, a leader killed, every acknowledged write checked (npm start)
Run \`concord <command> --help\` for its options.`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'node':
      return runNode(rest);
    case 'kv':
    case 'counter':
    case 'cluster':
      return runClientCommand(command, rest);
    case 'demo':
      return runDemo(rest);
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(`${usage}\n`);
      return command === undefined ? 2 : 0;
    default:
      throw new UsageError(`unknown command '${command}'`);
  }
}

const helpFor: Record<string, string> = { node: nodeUsage, demo: demoUsage, ...clientUsage };

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = process.exitCode ?? code;
  },
  (e: unknown) => {
    if (e instanceof UsageError) {
      const help = ownValue(helpFor, process.argv[2] ?? '') ?? usage;
      process.stderr.write(`concord: ${e.message}\n\n${help}\n`);
      process.exitCode = 2;
    } else {
      const code = e instanceof ConcordError ? ` [${e.code}]` : '';
      process.stderr.write(`concord: ${e instanceof Error ? e.message : String(e)}${code}\n`);
      process.exitCode = 1;
    }
  },
);
