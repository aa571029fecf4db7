/**
 * The browser viewer on AWS: its static files (built by Vite from web/
 * into dist/viewer) in S3 behind CloudFront. The HTTP API's URL is built in
 * (VITE_API_URL): the viewer calls it cross-origin with a bearer key, which
 * the API Gateway HTTP API's CORS answers; the page's Content-Security-Policy
 * (a meta tag in index.html) allows that origin and no other, and no inline
 * script. The `api` Lambda does not carry the viewer.
 */
export function createViewerSite(api: sst.aws.ApiGatewayV2) {
  const site = new sst.aws.StaticSite("Viewer", {
    path: ".",
    build: { command: "npx vite build --config web/vite.config.ts", output: "dist/viewer" },
    environment: { VITE_API_URL: api.url },
  });
  return { site };
}
