import { RESERVED_TYPE_NAMES, TASK_TYPE_NAME, UnknownTaskTypeError } from "@conveyor/core";
import { createDataProcessingType } from "./data-processing/index.ts";
import type { TaskType } from "./define.ts";
import { echo } from "./echo.ts";
import { createSafeFetch } from "./http/fetch.ts";
import { createHttpRequestType } from "./http-request.ts";
import { sleep } from "./sleep.ts";

/** What the built-in types need from the process's configuration. */
export interface BuiltInOptions {
  /** `SSRF_ALLOW_HOSTS`: host names outbound requests may reach although private or loopback. */
  ssrfAllowHosts?: string[];
}

/** Every built-in task type. A new type is one file and one entry here. */
export function builtInTypes(opts: BuiltInOptions = {}): TaskType[] {
  const policy = { allowHosts: opts.ssrfAllowHosts ?? [] };
  return [echo, sleep, createHttpRequestType(policy), createDataProcessingType(createSafeFetch(policy))] as TaskType[];
}

/** The built-in types with no host allow-listed. */
export const BUILT_IN_TYPES: TaskType[] = builtInTypes();

/** The task types a process knows, by name. */
export class TaskCatalog {
  private readonly byType = new Map<string, TaskType>();

  constructor(types: TaskType[] = BUILT_IN_TYPES) {
    for (const t of types) {
      if (!TASK_TYPE_NAME.test(t.type) || RESERVED_TYPE_NAMES.has(t.type)) {
        throw new Error(`task type name '${t.type}' is not allowed`);
      }
      if (this.byType.has(t.type)) throw new Error(`task type '${t.type}' is defined twice`);
      this.byType.set(t.type, t);
    }
  }

  /** The type, or UnknownTaskTypeError. */
  get(type: string): TaskType {
    const t = this.byType.get(type);
    if (!t) throw new UnknownTaskTypeError(type);
    return t;
  }

  has(type: string): boolean {
    return this.byType.has(type);
  }

  get types(): string[] {
    return [...this.byType.keys()];
  }

  all(): TaskType[] {
    return [...this.byType.values()];
  }
}
