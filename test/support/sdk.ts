/** Helpers for tests that drive the official openai SDK. */

/** The SDK error a call rejects with (status and the parsed `error` object); throws if the call succeeds. */
export async function apiError(p: Promise<unknown>): Promise<{ status: number; error: unknown }> {
  try {
    await p;
  } catch (e) {
    const err = e as { status?: number; error?: unknown };
    if (typeof err.status === "number") return { status: err.status, error: err.error };
    throw e;
  }
  throw new Error("the call succeeded");
}
