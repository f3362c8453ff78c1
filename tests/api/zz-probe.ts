import { createTestStack } from "/work/main/tests/harness/index.ts";
const stack = await createTestStack({ label: "probe" });
for (const payload of [{ s: "a\u0000b" }, { s: "\ud800" }, { "k\u0000": 1 }, "\u0000", { s: "😀" }]) {
  const res = await stack.request("POST", "/v1/tasks", { type: "echo", payload });
  console.log(JSON.stringify(payload), res.status, await res.text());
}
await stack.close();
