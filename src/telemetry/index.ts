// Concord's OpenTelemetry instrumentation (`concord/telemetry`): metrics and
// request spans through @opentelemetry/api, a no-op until an SDK is installed.
export { instrument, instrumentationScope, type Telemetry, type TelemetryOptions } from './instrument.js';
