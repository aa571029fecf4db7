/// <reference path="./.sst/platform/config.d.ts" />

/**
 * makima-history on AWS. Infrastructure is split by concern in stacks/:
 * storage (table, bucket, secret), realtime (daemon WebSocket relay),
 * api (HTTP API), cleanup (snapshot retention schedule), viewerSite (the
 * browser viewer's static files). Lambda entry points are listed in
 * stacks/functions.ts. See docs/deploy.md.
 */
export default $config({
  app(input) {
    const production = input?.stage === "production" || input?.stage === "prod";
    return {
      name: "makima-history",
      home: "aws",
      // Keep data (table, bucket) when a production stage is removed, and
      // refuse `sst remove` on it altogether.
      removal: production ? "retain" : "remove",
      protect: production,
    };
  },
  async run() {
    // Defaults for every function created below (a function may override).
    // Node 22 satisfies package.json's engines (>=20.19); no native
    // dependencies, so Graviton. Bundled as `npm run build` bundles (and the
    // bundle bench measures): stacks/functions.ts LAMBDA_NODEJS.
    const { LAMBDA_NODEJS } = await import("./stacks/functions");
    $transform(sst.aws.Function, (args) => {
      args.runtime ??= "nodejs22.x";
      args.architecture ??= "arm64";
      args.nodejs ??= LAMBDA_NODEJS;
    });

    const { createStorage } = await import("./stacks/storage");
    const { createRealtime } = await import("./stacks/realtime");
    const { createApi } = await import("./stacks/api");
    const { createCleanup } = await import("./stacks/cleanup");
    const { createViewerSite } = await import("./stacks/viewerSite");

    const storage = createStorage();
    const realtime = createRealtime(storage);
    const { api } = createApi(storage, realtime);
    createCleanup(storage);
    const { site } = createViewerSite(api);

    return {
      stage: $app.stage,
      apiUrl: api.url,
      viewerUrl: site.url,
      websocketUrl: realtime.ws.url,
      websocketManagementEndpoint: realtime.managementEndpoint,
      table: storage.table.name,
      bucket: storage.bucket.name,
    };
  },
});
