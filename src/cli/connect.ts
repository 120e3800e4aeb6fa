// Connecting the CLI to NATS: transport options from flags and environment,
// and a Client that knows the cluster's members.
import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { Client } from '../api/client.js';
import { NatsTransport } from '../transport/nats.js';
import type { NatsTransportOptions } from '../transport/nats_options.js';
import { stderrLogger } from '../lib/logger.js';
import { RealClock, sleep } from '../io/clock.js';
import { flagOrEnv, list, positiveInt, required } from './args.js';

/** The connection flags as parsed. */
export interface ConnectionFlags {
  nats?: string | undefined;
  user?: string | undefined;
  pass?: string | undefined;
  token?: string | undefined;
  'tls-ca'?: string | undefined;
  'tls-cert'?: string | undefined;
  'tls-key'?: string | undefined;
  prefix?: string | undefined;
  cluster?: string | undefined;
  members?: string | undefined;
  timeout?: string | undefined;
}

/** NatsTransport options for `nodeId` from the flags and environment. */
export function transportOptions(nodeId: string, flags: ConnectionFlags): NatsTransportOptions {
  const servers = list(flagOrEnv(flags.nats, 'CONCORD_NATS', 'nats://127.0.0.1:4222') as string);
  const user = flagOrEnv(flags.user, 'CONCORD_NATS_USER');
  const pass = flagOrEnv(flags.pass, 'CONCORD_NATS_PASS');
  const token = flagOrEnv(flags.token, 'CONCORD_NATS_TOKEN');
  const prefix = flagOrEnv(flags.prefix, 'CONCORD_PREFIX');
  const ca = flags['tls-ca'];
  const cert = flags['tls-cert'];
  const key = flags['tls-key'];
  const tls =
    ca === undefined && cert === undefined && key === undefined
      ? undefined
      : {
          ...(ca === undefined ? {} : { ca: readFileSync(ca, 'utf8') }),
          ...(cert === undefined ? {} : { cert: readFileSync(cert, 'utf8') }),
          ...(key === undefined ? {} : { key: readFileSync(key, 'utf8') }),
        };
  return {
    nodeId,
    servers,
    logger: stderrLogger(),
    ...(user === undefined ? {} : { user }),
    ...(pass === undefined ? {} : { pass }),
    ...(token === undefined ? {} : { token }),
    ...(prefix === undefined ? {} : { prefix }),
    ...(tls === undefined ? {} : { tls }),
  };
}

/** A Client over NATS for the cluster named by the flags; returns it with the cluster name and the deadline. */
export async function connectClient(flags: ConnectionFlags): Promise<{ client: Client; cluster: string; timeoutMs: number }> {
  const cluster = required(flags.cluster, 'CONCORD_CLUSTER', 'cluster');
  const members = list(required(flags.members, 'CONCORD_MEMBERS', 'members'));
  const timeoutMs = positiveInt(flags.timeout, '--timeout', 5000);
  const id = `cli-${process.pid}-${randomBytes(3).toString('hex')}`;
  const transport = await NatsTransport.connect(transportOptions(id, flags));
  const clock = new RealClock();
  const client = await Client.connect({ transport, clock, clusters: { [cluster]: members }, requestTimeoutMs: timeoutMs });
  // Wait until the members' heartbeats have arrived, so the first request goes to a live node.
  const deadline = clock.now() + Math.min(timeoutMs, 1500);
  while (clock.now() < deadline && !members.some((m) => transport.liveNodes().has(m))) await sleep(clock, 20);
  return { client, cluster, timeoutMs };
}
