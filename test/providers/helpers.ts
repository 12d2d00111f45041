/** Shared bits of the provider tests: raw HTTP helpers and the wire bodies pinned as literals. */
import { request as httpRequest } from "node:http";

export const AZURE_401 =
  '{"error":{"code":"401","message":"Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an active subscription and use a correct regional API endpoint for your resource."}}';
export const AZURE_404_DEPLOYMENT =
  '{"error":{"code":"DeploymentNotFound","message":"The API deployment for this resource does not exist. If you created the deployment within the last 5 minutes, please wait a moment and try again."}}';
export const OPENAI_QUOTA =
  '{"error":{"message":"You exceeded your current quota, please check your plan and billing details.","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}';

export interface RawResponse {
  status: number;
  headers: Headers;
  text: string;
}

export async function post(
  base: string,
  path: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<RawResponse> {
  const r = await fetch(base + path, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  return { status: r.status, headers: r.headers, text: await r.text() };
}

export async function get(base: string, path: string, headers: Record<string, string> = {}): Promise<RawResponse> {
  const r = await fetch(base + path, { headers });
  return { status: r.status, headers: r.headers, text: await r.text() };
}

/** node:http request that can send duplicate headers (fetch would join them). */
export function rawPost(
  port: number,
  path: string,
  headers: Record<string, string | string[]>,
  body: string,
): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: "127.0.0.1", port, path, method: "POST", headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString() }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(body);
  });
}

/** Error code of a failed fetch (ECONNREFUSED, ECONNRESET, UND_ERR_SOCKET …). */
export async function fetchErrorCode(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    const cause = (e as { cause?: { code?: string } }).cause;
    return cause?.code ?? (e as Error).name;
  }
  return "no-error";
}

export const chatBody = (extra: Record<string, unknown> = {}) => ({
  messages: [{ role: "user", content: "Say hello" }],
  ...extra,
});
