/**
 * Error bodies exactly as Azure OpenAI and OpenAI send them
 * (shared/reference/llm-wire-formats.md). Returned as JSON text so the bytes are fixed.
 */
import type { ApiName } from "./types.ts";

export const AZURE_401_INVALID_KEY =
  '{"error":{"code":"401","message":"Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an active subscription and use a correct regional API endpoint for your resource."}}';

/** Azure (APIM) when no key header is present at all. */
export const AZURE_401_MISSING_KEY =
  '{"error":{"code":"401","message":"Access denied due to missing subscription key. Make sure to include subscription key when making requests to an API."}}';

/** Azure when a Bearer token is not a valid Entra ID token. */
export const AZURE_401_BAD_TOKEN =
  '{"error":{"code":"401","message":"Unauthorized. Access token is missing, invalid, audience is incorrect (https://cognitiveservices.azure.com), or have expired."}}';

export const AZURE_404_DEPLOYMENT =
  '{"error":{"code":"DeploymentNotFound","message":"The API deployment for this resource does not exist. If you created the deployment within the last 5 minutes, please wait a moment and try again."}}';

/** Azure for an unknown path or a classic path without api-version. */
export const AZURE_404_RESOURCE = '{"error":{"code":"404","message":"Resource not found"}}';

const AZURE_OPERATIONS: Record<ApiName, string> = {
  chat: "ChatCompletions_Create",
  embeddings: "Embeddings_Create",
  completions: "Completions_Create",
  responses: "Responses_Create",
  images: "ImageGenerations_Create",
  audio: "Transcriptions_Create",
  conversations: "Conversations_Create",
  files: "Files_Upload",
  batches: "Batch_Create",
  models: "Models_List",
  unknown: "Unknown",
};

export function azure429(api: ApiName, apiVersion: string, reason: "tokens" | "requests", retryAfterS: number): string {
  const what = reason === "tokens" ? "token rate limit" : "call rate limit";
  return JSON.stringify({
    error: {
      code: "429",
      message:
        `Requests to the ${AZURE_OPERATIONS[api]} Operation under Azure OpenAI API version ${apiVersion} ` +
        `have exceeded ${what} of your current OpenAI S0 pricing tier. Please retry after ${retryAfterS} seconds. ` +
        "Please go here: https://aka.ms/oai/quotaincrease if you would like to further increase the default rate limit.",
    },
  });
}

/** The short Azure 429 form (used by scripted rate-limit faults). */
export function azure429Short(retryAfterS: number): string {
  return JSON.stringify({ error: { code: "429", message: `Rate limit is exceeded. Try again in ${retryAfterS} seconds.` } });
}

export function openaiError(message: string, type: string | null, param: string | null, code: string | null): string {
  return JSON.stringify({ error: { message, type, param, code } });
}

/** "sk-te****6789": first 5 and last 4 characters, as OpenAI masks keys. */
export function maskKey(key: string): string {
  return `${key.slice(0, 5)}****${key.length > 9 ? key.slice(-4) : ""}`;
}

export function openai401(key: string | undefined): string {
  if (key === undefined) {
    return openaiError(
      "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field (with blank username) if you're accessing the API from your browser and are prompted for a username and password. You can obtain an API key from https://platform.openai.com/account/api-keys.",
      "invalid_request_error",
      null,
      null,
    );
  }
  return openaiError(`Incorrect API key provided: ${maskKey(key)}.`, "invalid_request_error", null, "invalid_api_key");
}

export function openai429(
  model: string,
  reason: "tokens" | "requests",
  limit: number,
  used: number,
  requested: number,
  retryAfter: string,
): string {
  const unit = reason === "tokens" ? "tokens per min (TPM)" : "requests per min (RPM)";
  return openaiError(
    `Rate limit reached for ${model} in organization org-mock on ${unit}: Limit ${limit}, Used ${used}, Requested ${requested}. Please try again in ${retryAfter}.`,
    reason,
    null,
    "rate_limit_exceeded",
  );
}

export const OPENAI_INSUFFICIENT_QUOTA = openaiError(
  "You exceeded your current quota, please check your plan and billing details.",
  "insufficient_quota",
  null,
  "insufficient_quota",
);

export function openaiModelNotFound(model: string): string {
  return openaiError(
    `The model \`${model}\` does not exist or you do not have access to it.`,
    "invalid_request_error",
    null,
    "model_not_found",
  );
}

export function openaiInvalidUrl(method: string, path: string): string {
  return openaiError(`Invalid URL (${method} ${path})`, "invalid_request_error", null, null);
}

export const INVALID_JSON = openaiError(
  "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON. If you have trouble figuring out how to fix this, please contact us through our help center at help.openai.com.)",
  "invalid_request_error",
  null,
  null,
);

export function missingParameter(param: string): string {
  return openaiError(`Missing required parameter: '${param}'.`, "invalid_request_error", param, "missing_required_parameter");
}

export const STREAM_OPTIONS_WITHOUT_STREAM = openaiError(
  "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
  "invalid_request_error",
  "stream_options",
  null,
);

const FILTER_SAFE = { filtered: false, severity: "safe" };

export const AZURE_400_CONTENT_FILTER = JSON.stringify({
  error: {
    message:
      "The response was filtered due to the prompt triggering Azure OpenAI's content management policy. Please modify your prompt and retry. To learn more about our content filtering policies please read our documentation: https://go.microsoft.com/fwlink/?linkid=2198766",
    type: null,
    param: "prompt",
    code: "content_filter",
    status: 400,
    innererror: {
      code: "ResponsibleAIPolicyViolation",
      content_filter_result: {
        hate: FILTER_SAFE,
        jailbreak: { filtered: false, detected: false },
        self_harm: FILTER_SAFE,
        sexual: FILTER_SAFE,
        violence: { filtered: true, severity: "medium" },
      },
    },
  },
});

export const OPENAI_400_CONTENT_POLICY = openaiError(
  "Your request was rejected as a result of our safety system.",
  "invalid_request_error",
  null,
  "content_policy_violation",
);

/** Default body for a scripted status without a body. */
export function defaultStatusBody(kind: "azure" | "openai", status: number): string {
  if (kind === "azure") {
    const msg = status >= 500 ? "The server had an error while processing your request. Sorry about that!" : `Mock status ${status}`;
    return JSON.stringify({ error: { code: String(status), message: msg } });
  }
  if (status >= 500) {
    return openaiError("The server had an error while processing your request. Sorry about that!", "server_error", null, null);
  }
  return openaiError(`Mock status ${status}`, "invalid_request_error", null, null);
}

export const PROMPT_FILTER_RESULTS = [
  {
    prompt_index: 0,
    content_filter_results: { hate: FILTER_SAFE, self_harm: FILTER_SAFE, sexual: FILTER_SAFE, violence: FILTER_SAFE },
  },
];

// ---- stateful APIs (Responses, conversations, files, batches) -----------------------------
// Azure answers these in the OpenAI error shape too (its Responses API does; for files/batches
// the mock uses the same shape on both kinds — Azure's exact text there is not verified).

/** 400 when `previous_response_id` is not stored on this resource/organisation. */
export function previousResponseNotFound(id: string): string {
  return openaiError(`Previous response with id '${id}' not found.`, "invalid_request_error", "previous_response_id", "previous_response_not_found");
}

/** 404 when an input item (reasoning `rs_…`, message `msg_…`, item_reference) is not stored here. */
export function itemNotFound(id: string): string {
  return openaiError(
    `Item with id '${id}' not found. Items are not persisted when \`store\` is set to false. Try again with \`store\` set to true, or remove this item from your input.`,
    "invalid_request_error",
    "input",
    null,
  );
}

/** 404 for GET/DELETE/cancel/input_items of a response this resource does not hold. */
export function responseNotFound(id: string): string {
  return openaiError(`Response with id '${id}' not found.`, "invalid_request_error", null, null);
}

/** 404 for a conversation this resource does not hold. */
export function conversationNotFound(id: string): string {
  return openaiError(`Conversation with id '${id}' not found.`, "invalid_request_error", null, null);
}

/** 404 for a conversation item this resource does not hold. */
export function conversationItemNotFound(id: string): string {
  return openaiError(`Item with id '${id}' not found.`, "invalid_request_error", null, null);
}

export const PREVIOUS_AND_CONVERSATION = openaiError(
  "Mutually exclusive parameters: Ensure you are only providing one of: 'previous_response_id' or 'conversation'.",
  "invalid_request_error",
  null,
  "mutually_exclusive_parameters",
);

export const CANNOT_CANCEL_SYNC = openaiError("Cannot cancel a synchronous response.", "invalid_request_error", null, null);

export function cannotCancelResponse(status: string): string {
  return openaiError(`Cannot cancel a response with status '${status}'.`, "invalid_request_error", null, null);
}

/** 404 "No such File object" (param "id"; "input_file_id" when a batch names it). */
export function fileNotFound(id: string, param = "id"): string {
  return openaiError(`No such File object: ${id}`, "invalid_request_error", param, null);
}

export function batchNotFound(id: string): string {
  return openaiError(`No such Batch object: ${id}`, "invalid_request_error", "id", null);
}

export function cannotCancelBatch(status: string): string {
  return openaiError(`Cannot cancel a batch with status '${status}'.`, "invalid_request_error", null, null);
}

export function invalidValue(param: string, message: string): string {
  return openaiError(message, "invalid_request_error", param, "invalid_value");
}
