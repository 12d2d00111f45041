/**
 * The baseline: an APIM-style "PTU first, pay-as-you-go when low" policy, as a tiny Node proxy in
 * front of the same mocks (story 4 of shared/reference/user-stories.md).
 *
 *  - Providers are tried in priority order; a provider is skipped while
 *      · the x-ratelimit-remaining-tokens on its last COMPLETED response was below
 *        `minRemainingTokens` (600) — that observation is trusted for one rate-limit window, or
 *      · its last answer was a 429 and the retry-after (retry-after-ms, else retry-after) has not passed.
 *    The last provider of the list takes whatever the others skip.
 *  - Each provider gets its own credential (Azure `api-key`, OpenAI `Authorization: Bearer`):
 *    the baseline is not insecure, only late — it counts tokens after responses.
 *  - An upstream 429 (or any answer) goes back to the client as is: no in-request retry.
 *    A connect failure is a 502.
 * The answering provider is named in `x-baseline-provider`.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import type { ResolvedProvider } from "./bootstrap.ts";

export interface BaselineTarget {
  provider: ResolvedProvider;
  port: number;
}

export interface BaselineOptions {
  targets: BaselineTarget[];
  minRemainingTokens: number;
  /** How long a low remaining-tokens observation is trusted (one rate-limit window). */
  windowMs: number;
}

export interface Baseline {
  url: string;
  port: number;
  close(): Promise<void>;
}

interface Seen {
  remainingTokens?: number;
  remainingAt: number;
  cooldownUntil: number;
}

const HOP = new Set(["connection", "keep-alive", "transfer-encoding", "content-length", "host", "authorization", "api-key", "x-api-key"]);

export async function startBaseline(opts: BaselineOptions): Promise<Baseline> {
  const targets = [...opts.targets].sort((a, b) => (a.provider.plugin.priority ?? 0) - (b.provider.plugin.priority ?? 0));
  const seen = new Map<string, Seen>(targets.map((t) => [t.provider.name, { remainingAt: 0, cooldownUntil: 0 }]));

  const choose = (now: number): BaselineTarget => {
    for (const t of targets.slice(0, -1)) {
      const s = seen.get(t.provider.name)!;
      if (now < s.cooldownUntil) continue;
      if (s.remainingTokens !== undefined && s.remainingTokens < opts.minRemainingTokens && now - s.remainingAt < opts.windowMs) continue;
      return t;
    }
    return targets[targets.length - 1]!;
  };

  const upstreamPath = (p: ResolvedProvider["plugin"], model: string): string | undefined => {
    if (p.type === "azure-openai") {
      const dep = p.deployments?.[model] ?? (Object.keys(p.deployments ?? {}).length ? undefined : model);
      if (!dep) return undefined;
      return `${p.basePath ?? ""}/openai/deployments/${dep}/chat/completions?api-version=${p.apiVersion}`;
    }
    return `${p.basePath ?? "/v1"}/chat/completions`;
  };

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      let model = "";
      try {
        model = String(JSON.parse(body.toString()).model ?? "");
      } catch {
        /* the provider will say 400 */
      }
      const m = /^\/openai\/deployments\/([^/]+)\//.exec(req.url ?? "");
      if (!model && m) model = decodeURIComponent(m[1]!);
      const t = choose(Date.now());
      const p = t.provider.plugin;
      const path = upstreamPath(p, model);
      if (!path) {
        res.writeHead(404, { "content-type": "application/json" });
        res.end(JSON.stringify({ error: { code: "model_not_found", message: `baseline: ${p.name} has no deployment for ${model}` } }));
        return;
      }
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.headers)) if (!HOP.has(k) && typeof v === "string") headers[k] = v;
      headers.host = p.host;
      headers["content-length"] = String(body.length);
      if (p.type === "azure-openai") headers["api-key"] = t.provider.key;
      else headers.authorization = `Bearer ${t.provider.key}`;
      const up = http.request({ host: "127.0.0.1", port: t.port, method: req.method, path, headers, agent: false }, (ures) => {
        const out: Record<string, string | string[]> = {};
        for (const [k, v] of Object.entries(ures.headers)) if (!HOP.has(k) && v !== undefined) out[k] = v;
        out["x-baseline-provider"] = p.name;
        res.writeHead(ures.statusCode ?? 502, out);
        ures.pipe(res);
        ures.on("end", () => {
          // Learned only now: the response is complete.
          const s = seen.get(p.name)!;
          const now = Date.now();
          const rem = Number(ures.headers["x-ratelimit-remaining-tokens"]);
          if (Number.isFinite(rem)) {
            s.remainingTokens = rem;
            s.remainingAt = now;
          }
          if (ures.statusCode === 429) {
            const ms = Number(ures.headers["retry-after-ms"]);
            const sec = Number(ures.headers["retry-after"]);
            s.cooldownUntil = now + (Number.isFinite(ms) ? ms : Number.isFinite(sec) ? sec * 1000 : 10_000);
          }
        });
        ures.on("error", () => res.destroy());
      });
      up.on("error", (e) => {
        if (res.headersSent) return void res.destroy();
        res.writeHead(502, { "content-type": "application/json", "x-baseline-provider": p.name });
        res.end(JSON.stringify({ error: { code: "bad_gateway", message: `baseline: ${p.name}: ${(e as Error).message}` } }));
      });
      up.end(body);
    });
  });
  const sockets = new Set<import("node:net").Socket>();
  server.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      }),
  };
}
