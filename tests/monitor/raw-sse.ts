/**
 * An SSE client over a plain TCP socket. `fetch` in one Bun process holds at most 256 requests
 * in flight (BUN_CONFIG_MAX_HTTP_REQUESTS), and an SSE stream is a request that never ends, so a
 * test that opens hundreds of streams from one process speaks HTTP/1.1 itself.
 */
import type { Socket } from "bun";
import { parseSseBlock, type SseEvent } from "./serve.ts";

export interface RawSseClient {
  /** The HTTP status once the head arrived (0 before). */
  status(): number;
  events: SseEvent[];
  ended(): boolean;
  tasks(): { id: string; data: { id: string; status: string; type: string; tenant: string } }[];
  close(): void;
}

/** Opens `GET path` on 127.0.0.1:port with `headers`; resolves once the response head is read. */
export function openRawSse(port: number, path: string, headers: Record<string, string>): Promise<RawSseClient> {
  const events: SseEvent[] = [];
  let status = 0;
  let ended = false;
  let head = "";
  let headDone = false;
  let chunked = false;
  // Bytes of the body not yet decoded from chunked framing, and decoded text not yet split into events.
  let raw = Buffer.alloc(0);
  let text = "";
  const decoder = new TextDecoder();
  let socket: Socket<undefined> | undefined;

  const parseEvents = () => {
    for (let cut = text.indexOf("\n\n"); cut >= 0; cut = text.indexOf("\n\n")) {
      const e = parseSseBlock(text.slice(0, cut));
      text = text.slice(cut + 2);
      if (e) events.push(e);
    }
  };

  const decodeBody = () => {
    if (!chunked) {
      text += decoder.decode(raw, { stream: true });
      raw = Buffer.alloc(0);
      return;
    }
    for (;;) {
      const eol = raw.indexOf("\r\n");
      if (eol < 0) return;
      const size = Number.parseInt(raw.subarray(0, eol).toString("latin1"), 16);
      if (size === 0) {
        ended = true;
        return;
      }
      if (raw.length < eol + 2 + size + 2) return;
      text += decoder.decode(raw.subarray(eol + 2, eol + 2 + size), { stream: true });
      raw = raw.subarray(eol + 2 + size + 2);
    }
  };

  return new Promise((resolve, reject) => {
    const client: RawSseClient = {
      status: () => status,
      events,
      ended: () => ended,
      tasks: () => events.filter((e) => e.event === "task").map((e) => ({ id: e.id ?? "", data: JSON.parse(e.data) })),
      close: () => socket?.end(),
    };
    Bun.connect({
      hostname: "127.0.0.1",
      port,
      socket: {
        open(s) {
          socket = s;
          const lines = [`GET ${path} HTTP/1.1`, `Host: 127.0.0.1:${port}`, "Accept: text/event-stream"];
          for (const [k, v] of Object.entries(headers)) lines.push(`${k}: ${v}`);
          s.write(`${lines.join("\r\n")}\r\n\r\n`);
        },
        data(_s, chunk) {
          if (!headDone) {
            head += chunk.toString("latin1");
            const end = head.indexOf("\r\n\r\n");
            if (end < 0) return;
            headDone = true;
            status = Number(head.slice(9, 12));
            chunked = /\r\ntransfer-encoding:\s*chunked/i.test(head.slice(0, end));
            raw = Buffer.from(head.slice(end + 4), "latin1");
            head = "";
            resolve(client);
          } else {
            raw = Buffer.concat([raw, chunk]);
          }
          decodeBody();
          parseEvents();
        },
        close() {
          ended = true;
          if (!headDone) reject(new Error(`connection to :${port}${path} closed before a response`));
        },
        error(_s, err) {
          ended = true;
          if (!headDone) reject(err);
        },
      },
    }).catch(reject);
  });
}
