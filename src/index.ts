// Concord's public API. Everything a user needs is exported from here.
export { assert, assertNever, AssertionError } from './lib/assert.js';
export {
  ConcordError,
  TimeoutError,
  NoProcError,
  InvalidArgumentError,
  hasCode,
  type ErrorCode,
} from './lib/errors.js';
export { stderrLogger, memoryLogger, silentLogger, type Logger, type LogLevel, type LogRecord } from './lib/logger.js';
export { Completion } from './lib/completion.js';
export { RealClock, sleep, type Clock, type TimerHandle } from './io/clock.js';
export { SimClock, type SimClockOptions } from './io/sim_clock.js';
export { SeededRandom, systemRandom, type Random } from './io/random.js';
export {
  Actor,
  ActorRef,
  From,
  Down,
  Exit,
  isOrderlyExit,
  type Behaviour,
  type ExitReason,
} from './actors/actor.js';
export {
  ActorSystem,
  reasonText,
  type ActorSystemOptions,
  type ActorSystemStats,
  type SpawnOptions,
} from './actors/actor_system.js';
export {
  Supervisor,
  RestartIntensityError,
  startSupervisor,
  supervisorSpec,
  workerSpec,
  startChild,
  terminateChild,
  whichChildren,
  type ChildSpec,
  type ChildInfo,
  type ChildStartContext,
  type RestartType,
  type Strategy,
  type SupervisorArgs,
} from './actors/supervisor.js';
export { Statem, type EventKind, type StateHandler } from './actors/statem.js';
export type {
  Machine,
  AnyMachine,
  ApplyMeta,
  ApplyResult,
  MachineEffect,
  TickEffect,
  MachineConfig,
  Destination,
} from './raft/machine.js';
export { encodeValue, decodeValue, decodeValues } from './raft/server/entry_codec.js';
export { completeSteps } from './lib/steps.js';
export { concatBytes } from './lib/bytes.js';
export type { Role, ServerId, CoreOptions, ClusterConfig } from './raft/core/types.js';
export { System, type SystemOptions, type StartClusterResult } from './api/system.js';
export { Caller, validName, type CallOptions, type DeleteClusterResult, type MembershipOptions, type NodeOverview, type PipelineResult, type Query } from './api/caller.js';
export { Client, type ClientOptions, type ClientStats } from './api/client.js';
export type { ServerStatus, ServerObserver } from './raft/server/server.js';
export { NotLeaderError, NoLeaderError, ClusterNotFoundError, MachineError, MemberFailedError, ShutdownError } from './api/errors.js';
export type { RequestOptions, RequestProbe, RequestEnd } from './api/requester.js';
export type { ServeProbe, ServeEnd } from './api/served.js';
export type { RaftCounters, CommitProbe } from './raft/server/counters.js';
export type { LogSystemStats, WalStats, SegmentStats, WalProbe } from './log/log_system.js';
export { Session } from './api/session.js';
export type { SessionTag } from './transport/transport.js';
export { LocalNetwork, LocalTransport, type NetworkFaults, type NetworkStats } from './transport/local.js';
export type { Transport, Envelope, NodeEvent } from './transport/transport.js';
export { NatsTransport } from './transport/nats.js';
export type { NatsTransportOptions } from './transport/nats_options.js';
