import type { OpenAPIHono } from "@hono/zod-openapi";
import { Contract, CreateContractRequest, ListQuery, Task, UpdateContractRequest } from "../../../core/models.js";
import { changeContract, contractsOf, createContract } from "../../../core/services/contracts.js";
import { ownedContract } from "../../../core/services/context.js";
import { listContractTasks, toTask } from "../../../core/store/tasks.js";
import type { AppEnv } from "../context.js";
import { defineRoute, IdParam, pageOf } from "../route.js";

export function contractRoutes(app: OpenAPIHono<AppEnv>) {
  defineRoute(
    app,
    { method: "post", path: "/api/v1/contracts", tag: "contracts", summary: "Create a contract", body: CreateContractRequest, status: 201, response: Contract },
    ({ ctx, body }) => createContract(ctx, body),
  );
  defineRoute(
    app,
    { method: "get", path: "/api/v1/contracts", tag: "contracts", summary: "List your contracts, newest first", query: ListQuery, status: 200, response: pageOf(Contract, "ContractPage") },
    ({ ctx, query }) => contractsOf(ctx, query.limit, query.cursor),
  );
  defineRoute(
    app,
    { method: "get", path: "/api/v1/contracts/{id}", tag: "contracts", summary: "Get a contract", params: IdParam, status: 200, response: Contract, errors: [404] },
    ({ ctx, params }) => ownedContract(ctx, params.id!),
  );
  defineRoute(
    app,
    {
      method: "patch",
      path: "/api/v1/contracts/{id}",
      tag: "contracts",
      summary: "Change a contract's name, phase or status",
      description: "A phase change is recorded as a `phase`/`changed` history event.",
      params: IdParam,
      body: UpdateContractRequest,
      status: 200,
      response: Contract,
      errors: [404, 409],
    },
    ({ ctx, params, body }) => changeContract(ctx, params.id!, body),
  );
  defineRoute(
    app,
    { method: "get", path: "/api/v1/contracts/{id}/tasks", tag: "contracts", summary: "List a contract's tasks, newest first", params: IdParam, query: ListQuery, status: 200, response: pageOf(Task, "TaskPage"), errors: [404] },
    async ({ ctx, params, query }) => {
      const contract = await ownedContract(ctx, params.id!);
      const page = await listContractTasks(ctx.db, contract.id, query.limit, query.cursor);
      return { items: page.items.map(toTask), nextCursor: page.nextCursor };
    },
  );
}
