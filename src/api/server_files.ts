// What a node remembers about the members it hosts, so that `restartServer`
// knows the machine and the initial members: one small JSON file per cluster,
// written durably (temp file, sync, rename, sync the directory).
import type { Disk } from '../io/disk.js';
import { joinPath } from '../io/disk.js';
import { ConcordError } from '../lib/errors.js';

/** The persisted description of a local member. */
export interface ServerRecord {
  readonly cluster: string;
  readonly machine: string;
  /** Voters of a new cluster; empty for a member that joined an existing one. */
  readonly members: readonly string[];
  readonly config: unknown;
  readonly sessionTimeoutMs?: number | undefined;
  /** For a member that joined: the leader's last index when it was started (see the start_server request). */
  readonly joinedAfter?: number | undefined;
  /** The cluster's incarnation (RaftEnvelope.incarnation); absent for members started before incarnations. */
  readonly incarnation?: number | undefined;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Directory of the server records under a data dir. */
export function serversDir(dataDir: string): string {
  return joinPath(dataDir, 'servers');
}

/** Writes the record durably; `cb` runs once it would survive a crash. */
export function saveServerRecord(disk: Disk, dataDir: string, record: ServerRecord, cb: (err: Error | null) => void): void {
  const dir = serversDir(dataDir);
  const path = joinPath(dir, `${record.cluster}.json`);
  const tmp = `${path}.tmp`;
  const data = encoder.encode(JSON.stringify(record));
  try {
    disk.mkdirpSync(dir);
  } catch (e) {
    cb(e instanceof Error ? e : new Error(String(e)));
    return;
  }
  disk.open(tmp, 'write', (err, fh) => {
    if (err) return cb(err);
    disk.write(fh, data, 0, (err2) => {
      if (err2) return disk.close(fh, () => cb(err2));
      disk.sync(fh, 'fsync', (err3) => {
        disk.close(fh, (err4) => {
          if (err3 ?? err4) return cb(err3 ?? err4);
          disk.rename(tmp, path, (err5) => {
            if (err5) return cb(err5);
            disk.syncDir(dir, (err6) => cb(err6));
          });
        });
      });
    });
  });
}

/** Reads the record of `cluster`, or undefined if this node hosts no such member. */
export function loadServerRecord(disk: Disk, dataDir: string, cluster: string): ServerRecord | undefined {
  const path = joinPath(serversDir(dataDir), `${cluster}.json`);
  if (!disk.existsSync(path)) return undefined;
  try {
    return JSON.parse(decoder.decode(disk.readFileSync(path))) as ServerRecord;
  } catch (e) {
    throw new ConcordError('corrupt', `server record ${path} is unreadable`, { cause: e });
  }
}

/** Removes the record of `cluster` durably (the member was removed). */
export function deleteServerRecord(disk: Disk, dataDir: string, cluster: string, cb: (err: Error | null) => void): void {
  const dir = serversDir(dataDir);
  const path = joinPath(dir, `${cluster}.json`);
  if (!disk.existsSync(path)) return cb(null);
  disk.unlink(path, (err) => (err ? cb(err) : disk.syncDir(dir, (err2) => cb(err2))));
}

/** The clusters this node has records for. */
export function listServerRecords(disk: Disk, dataDir: string): string[] {
  return disk
    .listSync(serversDir(dataDir))
    .filter((n) => n.endsWith('.json'))
    .map((n) => n.slice(0, -'.json'.length));
}
