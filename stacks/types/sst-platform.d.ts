/**
 * The part of SST's platform that sst.config.ts and stacks/*.ts use, typed
 * after SST's component argument interfaces (sst/platform/src/components).
 * The `sst` npm package does not ship these types: the SST CLI writes them to
 * .sst/platform/ (`npx sst install`). stacks/typecheck.ts checks the stacks
 * against .sst/platform/config.d.ts when it exists, else against this file.
 * Only what the stacks use is declared, so an argument SST does not take (or
 * one these declarations do not know yet) is a type error here.
 */

type SstInput<T> = T | SstOutput<T> | Promise<T>;

interface SstOutput<T> {
  apply<U>(fn: (value: T) => SstInput<U>): SstOutput<U>;
}

type SstUnwrap<T> = T extends SstOutput<infer U> ? U : T;

/** A Pulumi Output of an object: its properties are Outputs too ("lifting"). */
type SstLifted<T> = SstOutput<T> & { readonly [K in keyof T]: SstOutput<SstUnwrap<T[K]>> };

/** Partial args merged into, or a callback that edits, an underlying resource's args. */
type SstTransform<T> = Partial<T> | ((args: T, opts: object, name: string) => void);

type SstDurationUnit = "second" | "seconds" | "minute" | "minutes" | "hour" | "hours" | "day" | "days";
type SstDuration = `${number} ${SstDurationUnit}`;
type SstDurationMinutes = `${number} ${"second" | "seconds" | "minute" | "minutes"}`;
type SstSize = `${number} ${"MB" | "GB"}`;

/** What `link` takes: SST components that grant permissions and pass their properties. */
declare abstract class SstLinkable {
  protected readonly sstLinkable: true;
}

/** `nodejs`: how SST's Node runtime bundles the handler with esbuild (sst/platform/src/components/aws/function.ts). */
interface SstFunctionNodejsArgs {
  /** A file, from the project root, whose default export is a list of esbuild plugins. */
  plugins?: SstInput<string>;
  loader?: SstInput<Record<string, import("esbuild").Loader>>;
  install?: SstInput<string[]>;
  banner?: SstInput<string>;
  /** The esbuild options SST passes on (sst/platform/src/components/esbuild.ts). */
  esbuild?: SstInput<
    Pick<import("esbuild").BuildOptions, "target" | "sourcemap" | "keepNames" | "define" | "banner" | "external" | "inject" | "nodePaths" | "mainFields" | "conditions">
  >;
  minify?: SstInput<boolean>;
  format?: SstInput<"cjs" | "esm">;
  sourcemap?: SstInput<boolean>;
  splitting?: SstInput<boolean>;
}

interface SstFunctionArgs {
  handler: SstInput<string>;
  link?: SstInput<SstLinkable[]>;
  environment?: SstInput<Record<string, SstInput<string>>>;
  timeout?: SstInput<SstDurationMinutes>;
  memory?: SstInput<SstSize>;
  runtime?: SstInput<"nodejs18.x" | "nodejs20.x" | "nodejs22.x" | "nodejs24.x" | "python3.11" | "python3.12" | "go" | "rust">;
  architecture?: SstInput<"x86_64" | "arm64">;
  concurrency?: SstInput<{ reserved?: SstInput<number>; provisioned?: SstInput<number> }>;
  description?: SstInput<string>;
  name?: SstInput<string>;
  nodejs?: SstInput<SstFunctionNodejsArgs>;
}

interface SstResourceId {
  readonly id: SstOutput<string>;
}

declare namespace aws.apigatewayv2 {
  interface StageArgs {
    apiId: SstInput<string>;
    name?: SstInput<string>;
    autoDeploy?: SstInput<boolean>;
    defaultRouteSettings?: SstInput<{
      throttlingBurstLimit?: SstInput<number>;
      throttlingRateLimit?: SstInput<number>;
      detailedMetricsEnabled?: SstInput<boolean>;
      loggingLevel?: SstInput<string>;
    }>;
  }
  interface RouteArgs {
    apiId: SstInput<string>;
    routeKey: SstInput<string>;
    target?: SstInput<string>;
    routeResponseSelectionExpression?: SstInput<string>;
    authorizationType?: SstInput<string>;
  }
  interface IntegrationArgs {
    apiId: SstInput<string>;
    integrationType: SstInput<string>;
    integrationUri?: SstInput<string>;
    contentHandlingStrategy?: SstInput<"CONVERT_TO_BINARY" | "CONVERT_TO_TEXT">;
  }
  interface RouteResponseArgs {
    apiId: SstInput<string>;
    routeId: SstInput<string>;
    routeResponseKey: SstInput<string>;
    modelSelectionExpression?: SstInput<string>;
    responseModels?: SstInput<Record<string, SstInput<string>>>;
  }
  class RouteResponse implements SstResourceId {
    constructor(name: string, args: RouteResponseArgs);
    readonly id: SstOutput<string>;
  }
}

declare namespace sst {
  class Secret extends SstLinkable {
    constructor(name: string, placeholder?: SstInput<string>);
    readonly name: SstOutput<string>;
    readonly value: SstOutput<string>;
  }
}

declare namespace sst.aws {
  type FunctionArgs = SstFunctionArgs;

  interface DynamoArgs {
    fields: SstInput<Record<string, "string" | "number" | "binary">>;
    primaryIndex: SstInput<{ hashKey: SstInput<string>; rangeKey?: SstInput<string> }>;
    globalIndexes?: SstInput<
      Record<string, SstInput<{ hashKey: SstInput<string>; rangeKey?: SstInput<string>; projection?: SstInput<"all" | "keys-only" | string[]> }>>
    >;
    localIndexes?: SstInput<Record<string, SstInput<{ rangeKey: SstInput<string>; projection?: SstInput<"all" | "keys-only" | string[]> }>>>;
    stream?: SstInput<"keys-only" | "new-image" | "old-image" | "new-and-old-images">;
    ttl?: SstInput<string>;
    deletionProtection?: SstInput<boolean>;
  }
  class Dynamo extends SstLinkable {
    constructor(name: string, args: DynamoArgs);
    readonly name: SstOutput<string>;
    readonly arn: SstOutput<string>;
  }

  interface BucketLifecycleRule {
    id?: SstInput<string>;
    enabled?: SstInput<boolean>;
    prefix?: SstInput<string>;
    expiresIn?: SstInput<SstDuration>;
    expiresAt?: SstInput<string>;
  }
  interface BucketArgs {
    access?: SstInput<"public" | "cloudfront">;
    versioning?: SstInput<boolean>;
    enforceHttps?: SstInput<boolean>;
    lifecycle?: SstInput<SstInput<BucketLifecycleRule>[]>;
  }
  class Bucket extends SstLinkable {
    constructor(name: string, args?: BucketArgs);
    readonly name: SstOutput<string>;
    readonly arn: SstOutput<string>;
  }

  interface ApiGatewayV2Args {
    domain?: SstInput<string>;
    transform?: {
      api?: SstTransform<object>;
      stage?: SstTransform<aws.apigatewayv2.StageArgs>;
    };
  }
  interface ApiGatewayV2RouteArgs {
    auth?: SstInput<false | { iam?: SstInput<boolean>; jwt?: SstInput<{ authorizer: SstInput<string>; scopes?: SstInput<SstInput<string>[]> }> }>;
    transform?: {
      integration?: SstTransform<aws.apigatewayv2.IntegrationArgs>;
      route?: SstTransform<aws.apigatewayv2.RouteArgs>;
    };
  }
  class ApiGatewayV2 extends SstLinkable {
    constructor(name: string, args?: ApiGatewayV2Args);
    readonly url: SstOutput<string>;
    route(route: string, handler: SstInput<string | SstFunctionArgs>, args?: ApiGatewayV2RouteArgs): ApiGatewayV2Route;
  }
  class ApiGatewayV2Route {
    readonly nodes: { readonly route: SstLifted<SstResourceId> };
  }

  interface ApiGatewayWebSocketArgs {
    domain?: SstInput<string>;
    accessLog?: SstInput<{ retention?: SstInput<string> }>;
    transform?: {
      api?: SstTransform<object>;
      stage?: SstTransform<aws.apigatewayv2.StageArgs>;
    };
  }
  interface ApiGatewayWebSocketRouteArgs {
    auth?: SstInput<false | { iam?: SstInput<boolean>; lambda?: SstInput<string> }>;
    transform?: {
      integration?: SstTransform<aws.apigatewayv2.IntegrationArgs>;
      route?: SstTransform<aws.apigatewayv2.RouteArgs>;
    };
  }
  class ApiGatewayWebSocket extends SstLinkable {
    constructor(name: string, args?: ApiGatewayWebSocketArgs);
    readonly url: SstOutput<string>;
    readonly managementEndpoint: SstOutput<string>;
    readonly nodes: { readonly api: SstResourceId };
    route(route: string, handler: SstInput<string | SstFunctionArgs>, args?: ApiGatewayWebSocketRouteArgs): ApiGatewayWebSocketRoute;
  }
  class ApiGatewayWebSocketRoute {
    readonly nodes: { readonly route: SstLifted<SstResourceId> };
  }

  interface CronV2Args {
    schedule: SstInput<`rate(${string})` | `cron(${string})` | `at(${string})`>;
    function?: SstInput<string | SstFunctionArgs>;
    task?: SstInput<object>;
    event?: SstInput<Record<string, SstInput<unknown>>>;
    enabled?: SstInput<boolean>;
    timezone?: SstInput<string>;
  }
  class CronV2 {
    constructor(name: string, args: CronV2Args);
  }

  class Function extends SstLinkable {
    constructor(name: string, args: SstFunctionArgs);
  }

  interface StaticSiteArgs {
    path?: SstInput<string>;
    build?: SstInput<{ command: SstInput<string>; output: SstInput<string> }>;
    environment?: SstInput<Record<string, SstInput<string>>>;
    errorPage?: SstInput<string>;
    indexPage?: string;
  }
  class StaticSite extends SstLinkable {
    constructor(name: string, args?: StaticSiteArgs);
    readonly url: SstOutput<string>;
  }
}

interface SstAppInput {
  stage?: string;
}

interface SstAppConfig {
  name: string;
  home: "aws" | "cloudflare" | "local";
  removal?: "remove" | "retain" | "retain-all";
  protect?: boolean;
  providers?: Record<string, unknown>;
}

interface SstConfig {
  app(input: SstAppInput): SstAppConfig;
  run(): Promise<Record<string, unknown> | void>;
}

declare function $config(config: SstConfig): SstConfig;
declare const $app: { readonly name: string; readonly stage: string };
declare const $dev: boolean;
declare function $interpolate(strings: TemplateStringsArray, ...values: unknown[]): SstOutput<string>;
declare function $transform<A>(component: new (name: string, args: A) => unknown, transform: (args: A, opts: object, name: string) => void): void;
