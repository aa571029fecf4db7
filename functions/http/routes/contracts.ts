import { createRoute } from "@hono/zod-openapi";
import { Contract, CreateContractRequest, ListQuery, Task, UpdateContractRequest } from "../../../core/models.js";
import { changeContract, contractsOf, contractTasks, createContract } from "../../../core/services/contracts.js";
import { ownedContract } from "../../../core/services/context.js";
import { bearer, failures, IdempotencyHeader, IdParam, json, jsonBody, pageOf, router } from "../route.js";

export const contractRoutes = router();

contractRoutes.openapi(
  createRoute({
    operationId: "createContract",
    method: "post",
    path: "/api/v1/contracts",
    tags: ["contracts"],
    summary: "Create a contract",
    security: bearer,
    request: { headers: IdempotencyHeader, body: jsonBody(CreateContractRequest.strict()) },
    responses: { 201: json(Contract, "The new contract"), ...failures({ body: true, idempotent: true }) },
  }),
  async (c) => c.json(await createContract(c.get("service"), c.req.valid("json")), 201),
);

contractRoutes.openapi(
  createRoute({
    operationId: "listContracts",
    method: "get",
    path: "/api/v1/contracts",
    tags: ["contracts"],
    summary: "List your contracts, newest first",
    security: bearer,
    request: { query: ListQuery },
    responses: { 200: json(pageOf(Contract, "ContractPage")), ...failures({ input: true }) },
  }),
  async (c) => {
    const { limit, cursor } = c.req.valid("query");
    return c.json(await contractsOf(c.get("service"), limit, cursor), 200);
  },
);

contractRoutes.openapi(
  createRoute({
    operationId: "getContract",
    method: "get",
    path: "/api/v1/contracts/{id}",
    tags: ["contracts"],
    summary: "Get a contract",
    security: bearer,
    request: { params: IdParam },
    responses: { 200: json(Contract), ...failures({ input: true, also: [404] }) },
  }),
  async (c) => c.json(await ownedContract(c.get("service"), c.req.valid("param").id), 200),
);

contractRoutes.openapi(
  createRoute({
    operationId: "updateContract",
    method: "patch",
    path: "/api/v1/contracts/{id}",
    tags: ["contracts"],
    summary: "Change a contract's name, phase or status",
    description: "A phase change is recorded as a `phase`/`changed` history event.",
    security: bearer,
    request: { params: IdParam, headers: IdempotencyHeader, body: jsonBody(UpdateContractRequest.strict()) },
    responses: { 200: json(Contract), ...failures({ body: true, idempotent: true, also: [404, 409] }) },
  }),
  async (c) => c.json(await changeContract(c.get("service"), c.req.valid("param").id, c.req.valid("json")), 200),
);

contractRoutes.openapi(
  createRoute({
    operationId: "listContractTasks",
    method: "get",
    path: "/api/v1/contracts/{id}/tasks",
    tags: ["contracts"],
    summary: "List a contract's tasks, newest first",
    security: bearer,
    request: { params: IdParam, query: ListQuery },
    responses: { 200: json(pageOf(Task, "TaskPage")), ...failures({ input: true, also: [404] }) },
  }),
  async (c) => {
    const { limit, cursor } = c.req.valid("query");
    return c.json(await contractTasks(c.get("service"), c.req.valid("param").id, limit, cursor), 200);
  },
);
