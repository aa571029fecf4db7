import { parseArgs } from "node:util";
import { loadConfig } from "../../core/config.js";
import * as db from "../../core/store/db.js";
import * as owners from "../../core/store/owners.js";
import { readLocalFile } from "../../core/localFile.js";

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";

/** `npm run owner -- --name NAME`: another owner on the running local stack, with an API key and a daemon key. */
const { values } = parseArgs({ options: { name: { type: "string" } } });
if (!values.name) {
  console.error("usage: npm run owner -- --name NAME");
  process.exit(2);
}
const local = readLocalFile();
if (!local?.dynamoEndpoint) {
  console.error("the local stack is not running here: start it with `npm start` (it writes .makima/local.json)");
  process.exit(1);
}
const database = db.createDb({
  ...loadConfig(),
  dynamoEndpoint: local.dynamoEndpoint,
  s3Endpoint: local.s3Endpoint,
  tableName: local.tableName ?? "makima-history",
  bucketName: local.bucketName ?? "makima-history",
});
const owner = await owners.createOwner(database, values.name);
const apiKey = (await owners.createApiKey(database, owner.id, { kind: "api", name: values.name })).key;
const daemonKey = (await owners.createApiKey(database, owner.id, { kind: "daemon", name: values.name })).key;
console.log(JSON.stringify({ ownerId: owner.id, apiKey, daemonKey }));
