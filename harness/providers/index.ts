/** Mock LLM providers (Azure OpenAI, OpenAI) for tests and scenarios. */
export { startMockProvider, DEFAULT_LIMITS } from "./provider.ts";
export { DEFAULT_MAX_TOKENS, estimatePromptTokens, requestedMaxTokens, textTokens, generatedText } from "./tokens.ts";
export { goDuration } from "./ratelimit-headers.ts";
export { maskKey } from "./error-bodies.ts";
export * as wireBodies from "./error-bodies.ts";
export type * from "./types.ts";
export { startEntraMock, TokenAuthority, COGNITIVE_RESOURCE, COGNITIVE_SCOPE, type EntraMock, type EntraMockOptions, type IssuedToken, type LifetimeClaim, type TokenFault } from "./entra.ts";
