// The mock providers' keys: one set for the whole repository (the in-process rig, the gateway
// stack, the bench, the fuzz classes). envoy/local.yaml (`npm start`) hands EAST_KEY and WEST_KEY
// to the gateway through its environment; each mock accepts only its own key, and records every
// credential it sees, so a test can tell which key reached which provider.
export const EAST_KEY = "mockkey-east-Qz7WkP3xRmT9vLs2";
export const WEST_KEY = "mockkey-west-Hy4NqJ8wXcV6bGt5";
export const OAI_KEY = "sk-mockkey-openai-Wd5Rf8Tg2Yh6";
