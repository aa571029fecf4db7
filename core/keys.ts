/**
 * The single table: generic keys, and the builders for every item's keys.
 *
 * Access patterns (every one a GetItem or a Query on a key prefix; no Scan):
 *
 * | pattern                                  | key condition                                         | index |
 * |------------------------------------------|-------------------------------------------------------|-------|
 * | owner by id                              | pk = OWNER#o, sk = OWNER                              | table |
 * | api key by secret hash (auth)            | pk = KEY#hash, sk = KEY                               | table |
 * | an owner's keys                          | gsi1pk = OWNER#o#KEYS                                 | gsi1  |
 * | contract by id                           | pk = CONTRACT#c, sk = CONTRACT                        | table |
 * | an owner's contracts, newest first       | gsi1pk = OWNER#o#CONTRACTS                            | gsi1  |
 * | task by id                               | pk = TASK#t, sk = TASK                                | table |
 * | a contract's tasks (spawned tasks)       | gsi1pk = CONTRACT#c#TASKS                             | gsi1  |
 * | a task's forks (a branch check: newest 100) | gsi2pk = TASK#t#FORKS                              | gsi2  |
 * | log batch holding sequence n             | pk = TASK#t, sk <= MSG#n, newest first, limit 1       | table |
 * | conversation log, by sequence            | pk = TASK#t, sk between MSG#from and MSG#to           | table |
 * | message by id, dedupe (id digests)       | pk = TASK#t, sk begins_with MSGIDS#                   | table |
 * | checkpoints by number                    | pk = TASK#t, sk begins_with CHECKPOINT#               | table |
 * | checkpoint by id                         | pk = TASK#t, sk = CHECKPOINT#n, n the id's last 48 bits | table |
 * | latest checkpoint at a commit (or prefix)| pk = TASK#t, sk begins_with CHECKPOINTSHA#sha, newest first → number (a hint the checkpoint vouches for) | table |
 * | latest checkpoint at ≤ n messages        | pk = TASK#t, sk between CHECKPOINTAT# and CHECKPOINTAT#n#~, newest first, limit 25 → number (a hint) | table |
 * | a task's batch and checkpoint events     | pk = TASK#t, sk begins_with MSGIDS# / CHECKPOINT#, newest first (store/hostedEvents.ts)| table |
 * | latest checkpoint at or before a time    | pk = TASK#t, sk = CHECKPOINT#n, a binary search over n (numbers follow creation) | table |
 * | snapshots of a task, newest first        | pk = TASK#t, sk begins_with SNAPSHOT#                 | table |
 * | snapshot by id                           | pk = TASK#t, sk = SNAPSHOT#s                          | table |
 * | snapshots expiring up to a day (cleanup) | gsi3pk = EXPIRES#S<n>, gsi3sk <= yyyy-mm-dd#…, each n  | gsi3  |
 * | an owner's tasks waiting for any daemon  | gsi3pk = OWNER#o#AWAITING_DAEMON, limit a page (gsi3sk = task id; ~id while a start is under way) | gsi3  |
 * | … waiting for one daemon (bound to it)   | gsi3pk = OWNER#o#AWAITING_DAEMON#d, limit a page      | gsi3  |
 * | conversation rewinds of a task, newest   | pk = TASK#t, sk begins_with CONVREWIND# (a restore: limit 25) | table |
 * | code rewinds of a task, newest           | pk = TASK#t, sk begins_with CODEREWIND# (an undo: limit 25) | table |
 * | owner timeline (time range by id bounds) | pk = OWNER#o#EVENTS#S<n>, sk between ids, each shard n, with EVENTS#T#chat and EVENTS#T#checkpoint beside it | table |
 * | contract history                         | gsi1pk = CONTRACT#c#EVENTS#S<n>, gsi1sk between ids, each shard n | gsi1 |
 * | task history                             | gsi2pk = TASK#t#EVENTS, gsi2sk between ids, with the task's hosted events beside it | gsi2  |
 * | … of one event type (each type queried)  | same, partition EVENTS#T#<type>[#S<n>] (a copy per event) | same |
 * | … of one phase                           | same, partition EVENTS#P#<phase>[#S<n>] (a copy per event) | same |
 * | daemon connection by connection id      | pk = CONN#id, sk = CONN                               | table |
 * | an owner's online daemons                | gsi1pk = OWNER#o#DAEMONS                              | gsi1  |
 * | pending operation                        | pk = OP#id, sk = OP                                   | table |
 * | idempotency record                       | pk = IDEM#sha256(owner, credential, method, path, key) | table |
 * | cleanup runs, newest first               | pk = CLEANUP#RUNS, sk begins_with RUN#                | table |
 * | cleanup job's cursor and sweep position  | pk = CLEANUP#STATE, sk = STATE                        | table |
 *
 * No partition is hot. DynamoDB gives one partition (of the table or of an
 * index) about 1,000 write units a second, so the partitions every event or
 * snapshot of an owner would share are split in shards: an event goes to the
 * shard its id hashes to (TIMELINE_SHARDS of them, for the owner's and the
 * contract's timelines and their copies by type and phase), an unpinned
 * snapshot to the expiry shard its task and id hash to (EXPIRY_SHARDS, sorted
 * by expiry day, so a range of days is one query a shard). A list queries every shard and merges them in key order, one page per
 * request; `npm run bench -- partitions` replays a busy owner's writes through
 * these builders and prints the hottest partition's load. A task's own
 * partitions take at most what one agent writes.
 */

export const TABLE_KEYS = {
  partitionKey: "pk",
  sortKey: "sk",
  ttlAttribute: "expiresAt",
  globalIndexes: {
    gsi1: { hashKey: "gsi1pk", rangeKey: "gsi1sk" },
    gsi2: { hashKey: "gsi2pk", rangeKey: "gsi2sk" },
    gsi3: { hashKey: "gsi3pk", rangeKey: "gsi3sk" },
  },
} as const;

export type IndexName = keyof typeof TABLE_KEYS.globalIndexes;

/** Shards of an owner's and a contract's timeline (and of each of their copies by type and phase). */
export const TIMELINE_SHARDS = 8;
/** Shards of a day's expiry index partition. */
export const EXPIRY_SHARDS = 16;

/** FNV-1a of a string: a stable, evenly spread shard number in [0, shards). */
export function shardOf(value: string, shards: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < value.length; i++) {
    h ^= value.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) % shards;
}

/** Every shard number. */
export const shardLanes = (shards: number): number[] => Array.from({ length: shards }, (_, i) => i);

/** Sequence and checkpoint numbers are zero-padded so that string order is numeric order. */
export const pad = (n: number, width = 10) => String(n).padStart(width, "0");

export const keys = {
  owner: (ownerId: string) => ({ pk: `OWNER#${ownerId}`, sk: "OWNER" }),

  apiKey: (secretHash: string) => ({ pk: `KEY#${secretHash}`, sk: "KEY" }),
  ownerKeys: (ownerId: string) => `OWNER#${ownerId}#KEYS`,

  contract: (contractId: string) => ({ pk: `CONTRACT#${contractId}`, sk: "CONTRACT" }),
  ownerContracts: (ownerId: string) => `OWNER#${ownerId}#CONTRACTS`,

  task: (taskId: string) => ({ pk: `TASK#${taskId}`, sk: "TASK" }),
  taskPartition: (taskId: string) => `TASK#${taskId}`,
  contractTasks: (contractId: string) => `CONTRACT#${contractId}#TASKS`,
  taskForks: (taskId: string) => `TASK#${taskId}#FORKS`,
  awaitingDaemon: (ownerId: string) => `OWNER#${ownerId}#AWAITING_DAEMON`,
  /** Tasks only this daemon may start (an in-place resume), apart from those any daemon may. */
  awaitingOnDaemon: (ownerId: string, daemonId: string) => `OWNER#${ownerId}#AWAITING_DAEMON#${daemonId}`,
  /** A waiting task's sort key while a start of it is under way: after every task still to hand out (`~` sorts after ids). */
  awaitingStarted: (taskId: string) => `~${taskId}`,

  /** A batch of the task's log, keyed by the sequence number of its first message. */
  logBatch: (taskId: string, firstSeq: number) => ({ pk: `TASK#${taskId}`, sk: `MSG#${pad(firstSeq)}` }),
  logBatchPrefix: "MSG#",
  /** The id digests of a committed batch (what message lookup by id and dedupe read). */
  logIds: (taskId: string, firstSeq: number) => ({ pk: `TASK#${taskId}`, sk: `MSGIDS#${pad(firstSeq)}` }),
  logIdsPrefix: "MSGIDS#",

  checkpoint: (taskId: string, number: number) => ({ pk: `TASK#${taskId}`, sk: `CHECKPOINT#${pad(number, 6)}` }),
  checkpointPrefix: "CHECKPOINT#",
  /** Pointer to a checkpoint by id, for checkpoints whose ids do not carry their number (store/checkpoints.ts checkpointIdFor). */
  checkpointById: (taskId: string, checkpointId: string) => ({ pk: `TASK#${taskId}`, sk: `CHECKPOINTID#${checkpointId}` }),
  /**
   * Pointer to a checkpoint by its commit (lower-case SHA), then number, then
   * id: a SHA or a prefix of one is a key condition, and no two attempts at a
   * checkpoint write the same key.
   */
  checkpointBySha: (taskId: string, commitSha: string, number: number, checkpointId: string) => ({
    pk: `TASK#${taskId}`,
    sk: `CHECKPOINTSHA#${commitSha}#${pad(number, 6)}#${checkpointId}`,
  }),
  /** The commit pointers of one checkpoint number (a key prefix). */
  checkpointShaAt: (commitSha: string, number: number) => `CHECKPOINTSHA#${commitSha}#${pad(number, 6)}`,
  checkpointShaPrefix: "CHECKPOINTSHA#",
  /** Pointer to a checkpoint by how many messages its conversation held, then number, then id: the newest at or before a count is read in reverse from it. */
  checkpointByCount: (taskId: string, messageCount: number, number: number, checkpointId: string) => ({
    pk: `TASK#${taskId}`,
    sk: `CHECKPOINTAT#${pad(messageCount)}#${pad(number, 6)}#${checkpointId}`,
  }),
  checkpointCountPrefix: "CHECKPOINTAT#",
  /** The last sort key of the count pointers at or below `messageCount`. */
  checkpointCountUpTo: (messageCount: number) => `CHECKPOINTAT#${pad(messageCount)}#~`,

  snapshot: (taskId: string, snapshotId: string) => ({ pk: `TASK#${taskId}`, sk: `SNAPSHOT#${snapshotId}` }),
  snapshotPrefix: "SNAPSHOT#",
  /** A shard of the expiry index (sorted by day). */
  expiryShard: (shard: number) => `EXPIRES#S${shard}`,

  conversationRewind: (taskId: string, rewindId: string) => ({ pk: `TASK#${taskId}`, sk: `CONVREWIND#${rewindId}` }),
  conversationRewindPrefix: "CONVREWIND#",
  codeRewind: (taskId: string, rewindId: string) => ({ pk: `TASK#${taskId}`, sk: `CODEREWIND#${rewindId}` }),
  codeRewindPrefix: "CODEREWIND#",

  /**
   * A facet (`T#<type>` or `P#<phase>`) names the copy of the timeline that
   * holds only those events; a shard, one of TIMELINE_SHARDS slices of it.
   */
  ownerEvents: (ownerId: string, facet: string | undefined, shard: number) => `OWNER#${ownerId}#EVENTS${facet ? `#${facet}` : ""}#S${shard}`,
  contractEvents: (contractId: string, facet: string | undefined, shard: number) =>
    `CONTRACT#${contractId}#EVENTS${facet ? `#${facet}` : ""}#S${shard}`,
  taskEvents: (taskId: string, facet?: string) => `TASK#${taskId}#EVENTS${facet ? `#${facet}` : ""}`,

  connection: (connectionId: string) => ({ pk: `CONN#${connectionId}`, sk: "CONN" }),
  ownerDaemons: (ownerId: string) => `OWNER#${ownerId}#DAEMONS`,

  operation: (operationId: string) => ({ pk: `OP#${operationId}`, sk: "OP" }),
  /** `digest` covers owner, credential, method, path and the client's key (see store/idempotency.ts). */
  idempotency: (digest: string) => ({ pk: `IDEM#${digest}`, sk: "IDEM" }),

  cleanupRun: (runId: string) => ({ pk: "CLEANUP#RUNS", sk: `RUN#${runId}` }),
  cleanupRunsPartition: "CLEANUP#RUNS",
  cleanupState: { pk: "CLEANUP#STATE", sk: "STATE" },
} as const;
