// Entry of the unit-test build (test/setup/build-unit.ts → test/.build/unit/unit.wasm).
// Each layer re-exports its test-facing functions here; keep the functions in their own files.

export { configSummary, configStreamLimits } from "./config_api";
export {
  coreScanRequest, coreClassifyPath, coreClassifyObject, coreRoute, coreChoose, coreProbes, coreResponses, coreStateRoundTrip, coreRecordBytes,
} from "./core_api";
export { usageScan, sseStrip, sseStripTrace, sseStripWhole, streamEventsScan, responseScanRun, responseScanWhole } from "./stream_api";
export { capReset, capFits, capReserve, capSettle, capLearn, capState } from "./capacity_api";
export { healthReset, healthProbe, healthProbeSent, healthResponse, healthTrial, healthAvailable } from "./health_api";
export { selectDraws } from "./select_api";
export { planUpstream, planParse, planClassify, planCharge, planNoProvider, planOverBudget, phaseTransitions, planDecide } from "./plan_api";
export { rlsEncode, rlsDecode, clusterNameIsProtobuf, redisCommand, redisReply } from "./cluster_api";
export { planFallback, planUpstreamFor } from "./fallback_api";
