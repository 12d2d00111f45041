// The chat request the suites send (the gateway stack's clients, the in-process rig): one builder,
// so a change to what "a chat request" is happens in one place.
export function chatRequest(content = "Say hello", maxTokens = 50, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { model: "gpt-4o", messages: [{ role: "user", content }], max_tokens: maxTokens, ...extra };
}
