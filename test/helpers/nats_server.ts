// Tests use the same private nats-server helper as the benchmarks.
export * from '../../benchmarks/lib/nats_server.js';
