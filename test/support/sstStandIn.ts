/**
 * A recording stand-in for the SST platform's globals (`$config`, `$app`,
 * `$transform`, `$interpolate`, `sst.*`, `aws.apigatewayv2.*`), enough to
 * execute sst.config.ts and stacks/*.ts outside the SST CLI. Every component,
 * route and function the stacks create is recorded with its arguments; deploy
 * time values (`table.name`, `secret.value`) are Outputs that carry either a
 * known value or the name of what they come from.
 *
 * The argument types are checked separately, by tsc (stacks/typecheck.ts);
 * this records what the code does with them.
 */
import { pathToFileURL } from "node:url";
import { resolve } from "node:path";
import type { LambdaTrigger } from "../../stacks/functions.js";

const ROOT = resolve(import.meta.dirname, "../..");

/** A deploy-time value: known (a secret's value) or only named (`Table.name`). */
export class Output<T> {
  constructor(
    readonly from: string,
    private readonly known?: { value: T },
  ) {}

  apply<U>(fn: (value: T) => U | Output<U>): Output<U> {
    if (!this.known) return new Output<U>(`${this.from}.apply`);
    const out = fn(this.known.value);
    return out instanceof Output ? out : new Output(`${this.from}.apply`, { value: out });
  }

  /** The value if known, else `undefined`. */
  get value(): T | undefined {
    return this.known?.value;
  }
}

export type Args = Record<string, unknown>;

/** One `new sst.…(name, args)` (or `new aws.…`). */
export class Component {
  constructor(
    readonly kind: string,
    readonly logicalName: string,
    readonly args: Args,
  ) {}

  protected out<T>(property: string): Output<T> {
    return new Output<T>(`${this.logicalName}.${property}`);
  }
}

export interface RecordedFunction {
  /** The handler string (`functions/api.handler`). */
  handler: string;
  trigger: LambdaTrigger;
  /** Function args after every `$transform(sst.aws.Function, …)`. */
  args: Args;
}

export interface RecordedRoute {
  api: Component;
  route: string;
  /** The route's own args (third argument of `.route()`). */
  args: Args;
  fn: RecordedFunction;
}

export interface Deployment {
  app: Args;
  components: Component[];
  routes: RecordedRoute[];
  functions: RecordedFunction[];
  outputs: Args;
  ofKind(kind: string): Component[];
}

export interface RunOptions {
  stage: string;
  /** Values set with `sst secret set`; a secret without one gets its placeholder. */
  secrets?: Record<string, string>;
  /** Environment of the deploying shell (MAKIMA_RETENTION_DAYS, …; undefined unsets), restored afterwards. */
  env?: Record<string, string | undefined>;
}

interface ConfigModule {
  default: { app(input: { stage: string }): Args; run(): Promise<Args> };
}

/** Executes sst.config.ts for a stage against the stand-in and returns what it declared. */
export async function runStacks(options: RunOptions): Promise<Deployment> {
  const components: Component[] = [];
  const routes: RecordedRoute[] = [];
  const functions: RecordedFunction[] = [];
  const functionTransforms: ((args: Args, opts: object, name: string) => void)[] = [];

  const asFunction = (handler: unknown, trigger: LambdaTrigger, name: string): RecordedFunction => {
    const args: Args = typeof handler === "string" ? { handler } : { ...(handler as Args) };
    for (const transform of functionTransforms) transform(args, {}, name);
    const fn = { handler: String(args.handler), trigger, args };
    functions.push(fn);
    return fn;
  };

  const record = <C extends Component>(component: C): C => {
    components.push(component);
    return component;
  };

  class Secret extends Component {
    readonly value: Output<string>;
    constructor(name: string, placeholder?: string) {
      super("sst.Secret", name, { placeholder });
      const value = options.secrets?.[name] ?? placeholder;
      this.value = value === undefined ? this.out("value") : new Output(`${name}.value`, { value });
      record(this);
    }
    get name(): Output<string> {
      return this.out("name");
    }
  }

  class Dynamo extends Component {
    readonly name = this.out<string>("name");
    constructor(name: string, args: Args) {
      super("sst.aws.Dynamo", name, args);
      record(this);
    }
  }

  class Bucket extends Component {
    readonly name = this.out<string>("name");
    constructor(name: string, args: Args = {}) {
      super("sst.aws.Bucket", name, args);
      record(this);
    }
  }

  class StaticSite extends Component {
    readonly url = this.out<string>("url");
    constructor(name: string, args: Args = {}) {
      super("sst.aws.StaticSite", name, args);
      record(this);
    }
  }

  class ApiGatewayV2 extends Component {
    readonly url = this.out<string>("url");
    constructor(name: string, args: Args = {}) {
      super("sst.aws.ApiGatewayV2", name, args);
      record(this);
    }
    route(route: string, handler: unknown, args: Args = {}) {
      const fn = asFunction(handler, { type: "http", route: route as "$default" }, `${this.logicalName}Route`);
      routes.push({ api: this, route, args, fn });
      return { nodes: { route: { id: new Output<string>(`${this.logicalName}Route${route}.id`) } } };
    }
  }

  class ApiGatewayWebSocket extends Component {
    readonly url = this.out<string>("url");
    readonly managementEndpoint = this.out<string>("managementEndpoint");
    readonly nodes = { api: { id: this.out<string>("api.id") } };
    constructor(name: string, args: Args = {}) {
      super("sst.aws.ApiGatewayWebSocket", name, args);
      record(this);
    }
    route(route: string, handler: unknown, args: Args = {}) {
      const trigger = { type: "websocket", route } as LambdaTrigger;
      const fn = asFunction(handler, trigger, `${this.logicalName}Route${route}`);
      routes.push({ api: this, route, args, fn });
      return { nodes: { route: { id: new Output<string>(`${this.logicalName}Route${route}.id`) } } };
    }
  }

  class CronV2 extends Component {
    constructor(name: string, args: Args) {
      super("sst.aws.CronV2", name, args);
      if (args.function !== undefined) asFunction(args.function, { type: "schedule", component: name }, `${name}Handler`);
      record(this);
    }
  }

  class Function extends Component {
    constructor(name: string, args: Args) {
      super("sst.aws.Function", name, args);
      asFunction(args, { type: "schedule", component: name }, name);
      record(this);
    }
  }

  class RouteResponse extends Component {
    readonly id = this.out<string>("id");
    constructor(name: string, args: Args) {
      super("aws.apigatewayv2.RouteResponse", name, args);
      record(this);
    }
  }

  const app: { name: string; stage: string } = { name: "", stage: options.stage };
  const globals: Record<string, unknown> = {
    $config: (config: unknown) => config,
    $app: app,
    $dev: false,
    $interpolate: (strings: TemplateStringsArray, ...values: unknown[]) =>
      new Output<string>(strings.reduce((text, s, i) => text + s + (i < values.length ? "${…}" : ""), "")),
    $transform: (target: unknown, transform: (args: Args, opts: object, name: string) => void) => {
      if (target !== Function) throw new Error("the stand-in applies $transform to sst.aws.Function only");
      functionTransforms.push(transform);
    },
    sst: { Secret, aws: { Dynamo, Bucket, ApiGatewayV2, ApiGatewayWebSocket, CronV2, Function, StaticSite } },
    aws: { apigatewayv2: { RouteResponse } },
  };

  const savedEnv: Record<string, string | undefined> = {};
  for (const [key, value] of Object.entries(options.env ?? {})) {
    savedEnv[key] = process.env[key];
    if (value === undefined) delete process.env[key];
    else process.env[key] = value;
  }
  Object.assign(globalThis, globals);
  try {
    const configPath = pathToFileURL(resolve(ROOT, "sst.config.ts")).href;
    const { default: config } = (await import(configPath)) as ConfigModule;
    const appConfig = config.app({ stage: options.stage });
    app.name = String(appConfig.name);
    const outputs = await config.run();
    return {
      app: appConfig,
      components,
      routes,
      functions,
      outputs,
      ofKind: (kind) => components.filter((c) => c.kind === kind),
    };
  } finally {
    for (const key of Object.keys(globals)) Reflect.deleteProperty(globalThis, key);
    for (const [key, value] of Object.entries(savedEnv)) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
  }
}
