/** The one import path for every schema (kept so importers need not know how `core/models/` is split). */
export * from "./models/primitives.js";
export * from "./models/resources.js";
export * from "./models/records.js";
export * from "./models/requests.js";
