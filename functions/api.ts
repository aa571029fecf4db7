import { handle } from "hono/aws-lambda";
import { loadConfig } from "../core/config.js";
import { createRuntime } from "../core/runtime.js";
import { createApp } from "./http/app.js";

/** The `api` Lambda: every /api/v1 route, behind API Gateway's HTTP API ($default route). */
export const app = createApp(createRuntime(loadConfig()));
export const handler = handle(app);
