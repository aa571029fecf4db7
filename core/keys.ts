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
 * | a task's forks                           | gsi2pk = TASK#t#FORKS                                 | gsi2  |
 * | conversation log, by sequence            | pk = TASK#t, sk between MSG#from and MSG#to           | table |
 * | last log entry (next sequence)           | pk = TASK#t, sk begins_with MSG#, newest, limit 1     | table |
 * | message by id                            | pk = TASK#t, sk = MSGID#id                            | table |
 * | checkpoints by number                    | pk = TASK#t, sk begins_with CHECKPOINT#               | table |
 * | checkpoint by id                         | pk = TASK#t, sk = CHECKPOINTID#id → number            | table |
 * | snapshots of a task, newest first        | pk = TASK#t, sk begins_with SNAPSHOT#                 | table |
 * | snapshot by id                           | pk = TASK#t, sk = SNAPSHOT#s                          | table |
 * | snapshots expiring on a day (cleanup)    | gsi3pk = EXPIRES#yyyy-mm-dd                           | gsi3  |
 * | an owner's tasks waiting for a daemon    | gsi3pk = OWNER#o#AWAITING_DAEMON                      | gsi3  |
 * | conversation rewinds of a task, newest   | pk = TASK#t, sk begins_with CONVREWIND#               | table |
 * | code rewinds of a task, newest           | pk = TASK#t, sk begins_with CODEREWIND#               | table |
 * | owner timeline (time range by id bounds) | pk = OWNER#o#EVENTS, sk between ids                   | table |
 * | contract history                         | gsi1pk = CONTRACT#c#EVENTS, gsi1sk between ids        | gsi1  |
 * | task history                             | gsi2pk = TASK#t#EVENTS, gsi2sk between ids            | gsi2  |
 * | … of one event type (each type queried)  | same, partition suffixed #T#<type> (a copy per event)  | same  |
 * | … of one phase                           | same, partition suffixed #P#<phase> (a copy per event) | same  |
 * | daemon connection by connection id      | pk = CONN#id, sk = CONN                               | table |
 * | an owner's online daemons                | gsi1pk = OWNER#o#DAEMONS                              | gsi1  |
 * | pending operation                        | pk = OP#id, sk = OP                                   | table |
 * | idempotency record                       | pk = IDEM#sha256(owner, credential, method, path, key) | table |
 * | cleanup runs, newest first               | pk = CLEANUP, sk begins_with RUN#                     | table |
 * | cleanup job's cursor and sweep position  | pk = CLEANUP, sk = STATE                              | table |
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

  message: (taskId: string, seq: number) => ({ pk: `TASK#${taskId}`, sk: `MSG#${pad(seq)}` }),
  messagePrefix: "MSG#",
  messageById: (taskId: string, messageId: string) => ({ pk: `TASK#${taskId}`, sk: `MSGID#${messageId}` }),

  checkpoint: (taskId: string, number: number) => ({ pk: `TASK#${taskId}`, sk: `CHECKPOINT#${pad(number, 6)}` }),
  checkpointPrefix: "CHECKPOINT#",
  checkpointById: (taskId: string, checkpointId: string) => ({ pk: `TASK#${taskId}`, sk: `CHECKPOINTID#${checkpointId}` }),

  snapshot: (taskId: string, snapshotId: string) => ({ pk: `TASK#${taskId}`, sk: `SNAPSHOT#${snapshotId}` }),
  snapshotPrefix: "SNAPSHOT#",
  expiresOn: (day: string) => `EXPIRES#${day}`,

  conversationRewind: (taskId: string, rewindId: string) => ({ pk: `TASK#${taskId}`, sk: `CONVREWIND#${rewindId}` }),
  conversationRewindPrefix: "CONVREWIND#",
  codeRewind: (taskId: string, rewindId: string) => ({ pk: `TASK#${taskId}`, sk: `CODEREWIND#${rewindId}` }),
  codeRewindPrefix: "CODEREWIND#",

  /** A facet (`T#<type>` or `P#<phase>`) names the copy of the timeline that holds only those events. */
  ownerEvents: (ownerId: string, facet?: string) => `OWNER#${ownerId}#EVENTS${facet ? `#${facet}` : ""}`,
  contractEvents: (contractId: string, facet?: string) => `CONTRACT#${contractId}#EVENTS${facet ? `#${facet}` : ""}`,
  taskEvents: (taskId: string, facet?: string) => `TASK#${taskId}#EVENTS${facet ? `#${facet}` : ""}`,

  connection: (connectionId: string) => ({ pk: `CONN#${connectionId}`, sk: "CONN" }),
  ownerDaemons: (ownerId: string) => `OWNER#${ownerId}#DAEMONS`,

  operation: (operationId: string) => ({ pk: `OP#${operationId}`, sk: "OP" }),
  /** `digest` covers owner, credential, method, path and the client's key (see store/idempotency.ts). */
  idempotency: (digest: string) => ({ pk: `IDEM#${digest}`, sk: "IDEM" }),

  cleanupRun: (runId: string) => ({ pk: "CLEANUP", sk: `RUN#${runId}` }),
  cleanupPartition: "CLEANUP",
  cleanupState: { pk: "CLEANUP", sk: "STATE" },
} as const;
