import { randomUUID } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { loadConfig, type Config } from "../core/config.js";
import { dynamoClient } from "../core/aws.js";
import { ensureTable } from "../core/tableSchema.js";
import { createDb, type Db } from "../core/store/db.js";
import { CapacityMeter, Table, type Item, type Key, type TransactItem } from "../core/store/table.js";
import { TABLE_KEYS } from "../core/keys.js";
import { startEmulators, type Emulators } from "../stacks/local/emulators.js";

/**
 * Helpers shared by the benches: emulators (one set per process when run
 * through bench/run.ts), isolated tables and buckets, DynamoDB item sizing,
 * a plain-text table printer, and the results file each bench writes.
 */

/** True when `moduleUrl` is the script node was started with (so a bench file can run itself). */
export function invokedDirectly(moduleUrl: string): boolean {
  const entry = process.argv[1];
  return entry !== undefined && moduleUrl === pathToFileURL(resolve(entry)).href;
}

// ------------------------------------------------------------------ emulators

let shared: { started?: Promise<Emulators> } | undefined;

/** From now until closeSharedEmulators, withEmulators reuses one set (started lazily) instead of one per bench. */
export function shareEmulators(): void {
  shared ??= {};
}

export async function closeSharedEmulators(): Promise<void> {
  const started = shared?.started;
  shared = undefined;
  if (started) await (await started).stop();
}

/** Runs `fn` against DynamoDB Local and s3rver: the shared set if run.ts opened one, else a set of its own. */
export async function withEmulators<T>(fn: (emulators: Emulators) => Promise<T>): Promise<T> {
  if (shared) {
    shared.started ??= startEmulators();
    return fn(await shared.started);
  }
  const emulators = await startEmulators();
  try {
    return await fn(emulators);
  } finally {
    await emulators.stop();
  }
}

export type BenchDb = Db & { config: Config; meter: CapacityMeter; table: MeteredTable };

/** A fresh table and bucket of its own on the emulators, with its own capacity meter. */
export async function createBenchDb(emulators: Emulators, label: string, overrides: Partial<Config> = {}): Promise<BenchDb> {
  // S3 bucket names: lowercase letters, digits and dashes.
  const name = `bench-${label.toLowerCase().replace(/[^a-z0-9-]/g, "-")}-${randomUUID().slice(0, 8)}`;
  const config: Config = {
    ...loadConfig({}),
    dynamoEndpoint: emulators.dynamoEndpoint,
    s3Endpoint: emulators.s3Endpoint,
    tableName: name,
    bucketName: name,
    ...overrides,
  };
  await ensureTable(dynamoClient(config), config.tableName);
  const meter = new CapacityMeter();
  const db = createDb(config, { meter });
  await db.blobs.ensureBucket();
  return Object.assign(db, { config, meter, table: new MeteredTable(db.table.doc, db.table.name, meter) });
}

// ------------------------------------------------------------------ sizing

/** Significant decimal digits of a number, as DynamoDB counts them for its size. */
function significantDigits(n: number): number {
  const digits = Math.abs(n)
    .toExponential()
    .replace(/e.*$/, "")
    .replace(/[.-]/g, "")
    .replace(/0+$/, "");
  return Math.max(1, digits.length);
}

/**
 * The size DynamoDB gives a value, after AWS's published item-size rules:
 * strings and binaries their byte length, a number about one byte per two
 * significant digits plus one, null and booleans one byte, a list or map
 * 3 bytes plus one byte per element plus its elements (a map's names count).
 */
export function attributeSize(value: unknown): number {
  if (value === null || value === undefined || typeof value === "boolean") return 1;
  if (typeof value === "string") return Buffer.byteLength(value);
  if (typeof value === "number") return Math.ceil(significantDigits(value) / 2) + 1;
  if (typeof value === "bigint") return Math.ceil(value.toString().replace("-", "").length / 2) + 1;
  if (value instanceof Uint8Array) return value.byteLength;
  if (value instanceof Set) return [...value].reduce<number>((n, v) => n + attributeSize(v), 0);
  if (Array.isArray(value)) return value.reduce<number>((n, v) => n + 1 + attributeSize(v), 3);
  if (typeof value === "object") {
    return Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .reduce((n, [k, v]) => n + 1 + Buffer.byteLength(k) + attributeSize(v), 3);
  }
  return Buffer.byteLength(String(value));
}

/** An item's size as DynamoDB bills storage and capacity for it: attribute names plus values. */
export function itemSize(item: Item): number {
  return Object.entries(item)
    .filter(([, v]) => v !== undefined)
    .reduce((n, [k, v]) => n + Buffer.byteLength(k) + attributeSize(v), 0);
}

/** A Table that also adds up the size of every item it returns (for "bytes read" figures). */
export class CountingTable extends Table {
  bytesRead = 0;
  itemsRead = 0;
  calls = 0;

  override async get(key: Key, options: Parameters<Table["get"]>[1] = {}): Promise<Item | undefined> {
    const item = await super.get(key, options);
    this.calls++;
    if (item) this.count([item]);
    return item;
  }

  override async query(input: Parameters<Table["query"]>[0]): ReturnType<Table["query"]> {
    const out = await super.query(input);
    this.calls++;
    this.count(out.items);
    return out;
  }

  override async batchGet(keyList: Key[]): Promise<Item[]> {
    const items = await super.batchGet(keyList);
    this.calls += Math.ceil(keyList.length / 100);
    this.count(items);
    return items;
  }

  private count(items: Item[]) {
    this.itemsRead += items.length;
    for (const item of items) this.bytesRead += itemSize(item);
  }
}

const WRITE_UNIT_BYTES = 1024;
/** An item's kind: its sort key's prefix, or EVENT for a history event (whose sort key is its id). */
const kindOf = (key: Key | Item) => (String(key.pk).includes("#EVENTS") ? "EVENT" : (String(key.sk).split("#")[0] ?? ""));
/** Index copies a put writes (ALL projection): one per index whose keys the item carries. */
const indexCopies = (item: Item) => Object.values(TABLE_KEYS.globalIndexes).filter((i) => item[i.hashKey] !== undefined && item[i.rangeKey] !== undefined).length;

/** DynamoDB's storage overhead per item, in the table and in each index. */
const ITEM_OVERHEAD_BYTES = 100;

/** The bytes DynamoDB bills an item's storage for: the item and 100 B, and as much again in each index that holds a copy (ALL projection). */
export const billedBytes = (item: Item) => (itemSize(item) + ITEM_OVERHEAD_BYTES) * (1 + indexCopies(item));

/**
 * A Table that books write units per item kind (the sort key's prefix) and
 * re-costs transactions: DynamoDB Local reports a TransactWriteItems as if it
 * wrote one item, not the sum over its items, so the meter undercounts them.
 * A transaction's Put is costed per AWS's rules instead: 2 units per started
 * KB, and as much again for each index whose keys the item carries (ALL
 * projection; Local charges index copies at the transactional rate too).
 * Other transaction actions, whose item size is not in the request, count 2.
 */
export class MeteredTable extends Table {
  readonly writesByKind = new Map<string, { writes: number; units: number }>();
  /** What DynamoDB Local reported for transactions, and what AWS would charge. */
  transactReported = 0;
  transactModelled = 0;

  /** Write units with transactions re-costed. */
  get modelledWrite(): number {
    return this.meter.write - this.transactReported + this.transactModelled;
  }

  private book(kind: string, units: number) {
    const entry = this.writesByKind.get(kind) ?? { writes: 0, units: 0 };
    entry.writes++;
    entry.units += units;
    this.writesByKind.set(kind, entry);
  }

  private async measured(kind: string, write: () => Promise<unknown>): Promise<void> {
    const before = this.meter.write;
    await write();
    this.book(kind, this.meter.write - before);
  }

  override async put(item: Item, options: Parameters<Table["put"]>[1] = {}): Promise<void> {
    await this.measured(kindOf(item), () => super.put(item, options));
  }

  override async update(key: Key, input: Parameters<Table["update"]>[1]): Promise<Item | undefined> {
    let out: Item | undefined;
    await this.measured(kindOf(key), async () => (out = await super.update(key, input)));
    return out;
  }

  override async delete(key: Key, options: Parameters<Table["delete"]>[1] = {}): Promise<Item | undefined> {
    let out: Item | undefined;
    await this.measured(kindOf(key), async () => (out = await super.delete(key, options)));
    return out;
  }

  /** Local reports one figure per request: it is shared out over the request's items by what AWS bills each (1 unit per started KB, per copy). */
  override async batchWrite(writes: Parameters<Table["batchWrite"]>[0]): Promise<void> {
    const before = this.meter.write;
    await super.batchWrite(writes);
    const reported = this.meter.write - before;
    const weights = writes.map((w) => ("put" in w ? Math.ceil(itemSize(w.put) / WRITE_UNIT_BYTES) * (1 + indexCopies(w.put)) : 1));
    const sum = weights.reduce((a, b) => a + b, 0);
    writes.forEach((w, i) => this.book(kindOf("put" in w ? w.put : w.delete), sum === 0 ? 0 : (reported * weights[i]!) / sum));
  }

  override async transact(items: TransactItem[]): Promise<void> {
    const before = this.meter.write;
    await super.transact(items);
    this.transactReported += this.meter.write - before;
    for (const entry of items) {
      if ("Put" in entry) {
        const item = entry.Put.Item;
        const units = 2 * Math.ceil(itemSize(item) / WRITE_UNIT_BYTES);
        const copies = indexCopies(item);
        this.book(kindOf(item), units * (1 + copies));
        this.transactModelled += units * (1 + copies);
      } else {
        const body = Object.values(entry)[0] as { Key: Key };
        this.book(kindOf(body.Key), 2);
        this.transactModelled += 2;
      }
    }
  }
}

/** The same table and bucket seen through a CountingTable with a meter of its own. */
export function countingView(db: Db): Db & { table: CountingTable } {
  return { ...db, table: new CountingTable(db.table.doc, db.table.name, new CapacityMeter()) };
}

// ------------------------------------------------------------------ printing

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ["KiB", "MiB", "GiB"];
  let value = n / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(value >= 100 ? 0 : value >= 10 ? 1 : 2)} ${units[unit]}`;
}

export const formatNumber = (n: number, digits = 0) =>
  n.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });

/** A plain-text table: first column left-aligned, the rest right-aligned. */
export function printTable(headers: string[], rows: string[][]): void {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ").trimEnd();
  console.log(line(headers));
  console.log(widths.map((w) => "-".repeat(w)).join("  "));
  for (const row of rows) console.log(line(row));
}

/** A small seeded generator (mulberry32), so that a run (the text it stores, the faults it injects) can be repeated. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// ------------------------------------------------------------------ results

/** A bench's headline figures: a name a reader knows from its printout, and a number or a short text. */
export type BenchFigures = Record<string, number | string>;

const RESULTS_DIR = new URL("./results/", import.meta.url);
const SUMMARY_FILE = new URL("./README.md", import.meta.url);
const SUMMARY_START = "<!-- results: written by bench/support.ts writeBenchResult -->";
const SUMMARY_END = "<!-- results: end -->";

/**
 * Records a bench's figures in bench/results/<name>.json (with when and on
 * what machine they were measured) and rewrites the summary table of
 * bench/README.md from every results file: figures are never copied by hand.
 */
export function writeBenchResult(name: string, figures: BenchFigures): void {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const machine = { node: process.version, cpus: cpus().length, loadAverage: Number(loadavg()[0]!.toFixed(2)) };
  const result = { bench: name, measuredAt: new Date().toISOString(), machine, figures };
  writeFileSync(new URL(`${name}.json`, RESULTS_DIR), `${JSON.stringify(result, null, 2)}\n`);
  if (existsSync(SUMMARY_FILE)) writeFileSync(SUMMARY_FILE, withSummary(readFileSync(SUMMARY_FILE, "utf8")));
  console.log(`(figures written to bench/results/${name}.json)`);
}

/** The README with its summary table (between the markers) rebuilt from bench/results/*.json. */
export function withSummary(readme: string): string {
  const start = readme.indexOf(SUMMARY_START);
  const end = readme.indexOf(SUMMARY_END);
  if (start < 0 || end < start) return readme;
  const rows = readdirSync(RESULTS_DIR)
    .filter((f) => f.endsWith(".json"))
    .sort()
    .map((f) => JSON.parse(readFileSync(new URL(f, RESULTS_DIR), "utf8")) as { bench: string; measuredAt: string; machine: { cpus: number; loadAverage: number }; figures: BenchFigures })
    .map((r) => {
      const text = (v: number | string) => (typeof v === "number" ? formatNumber(v, Number.isInteger(v) ? 0 : 2) : v.replace(/[<>|]/g, (c) => `&#${c.charCodeAt(0)};`));
      const figures = Object.entries(r.figures).map(([k, v]) => `${k}: ${text(v)}`);
      return `| \`${r.bench}\` | ${r.measuredAt.slice(0, 10)} (${r.machine.cpus} cores, load ${r.machine.loadAverage}) | ${figures.join("; ")} |`;
    });
  const table = ["| bench | measured | figures |", "|---|---|---|", ...rows].join("\n");
  return `${readme.slice(0, start + SUMMARY_START.length)}\n${table}\n${readme.slice(end)}`;
}
