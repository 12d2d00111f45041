// Provider outputs as they arrive on the wire (shared/reference/llm-wire-formats.md), with the
// usage each provider reported. Used by the usage-scanner and SSE-stripper tests.

export type Usage = { prompt: number; completion: number; total: number };
export type Recording = { name: string; body: string; usage: Usage | null; usageEvent?: string };

const ev = (json: string) => `data: ${json}\n\n`;

/** OpenAI chat completion, non-streaming (verbatim from the reference). */
export const OPENAI_JSON: Recording = {
  name: "OpenAI chat completion JSON",
  body: '{"id":"chatcmpl-…","object":"chat.completion","created":1726012687,"model":"gpt-4o-2024-08-06","choices":[{"index":0,"message":{"role":"assistant","content":"This is a test!","refusal":null},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":13,"completion_tokens":5,"total_tokens":18},"system_fingerprint":null}',
  usage: { prompt: 13, completion: 5, total: 18 },
};

/** OpenAI embeddings (no completion tokens). */
export const OPENAI_EMBEDDINGS: Recording = {
  name: "OpenAI embeddings JSON",
  body: '{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.0023064255,-0.009327292,-0.0028842222]}],"model":"text-embedding-3-small","usage":{"prompt_tokens":5,"total_tokens":5}}',
  usage: { prompt: 5, completion: -1, total: 5 },
};

const OPENAI_USAGE_EVENT = ev('{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1761564674,"model":"gpt-4o","choices":[],"usage":{"prompt_tokens":10,"completion_tokens":5,"total_tokens":15}}');

/** OpenAI chat stream with stream_options.include_usage (verbatim from the reference). */
export const OPENAI_SSE: Recording = {
  name: "OpenAI SSE with include_usage",
  body:
    ev('{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1761564674,"model":"gpt-4o","choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}],"usage":null}') +
    ev('{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1761564674,"model":"gpt-4o","choices":[{"index":0,"delta":{"content":"Hi"},"logprobs":null,"finish_reason":null}],"usage":null}') +
    ev('{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1761564674,"model":"gpt-4o","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}],"usage":null}') +
    OPENAI_USAGE_EVENT +
    "data: [DONE]\n\n",
  usage: { prompt: 10, completion: 5, total: 15 },
  usageEvent: OPENAI_USAGE_EVENT,
};

const FILTER = '{"hate":{"filtered":false,"severity":"safe"},"self_harm":{"filtered":false,"severity":"safe"},"sexual":{"filtered":false,"severity":"safe"},"violence":{"filtered":false,"severity":"safe"}}';
const AZURE_USAGE_EVENT = ev('{"choices":[],"created":1726012687,"id":"chatcmpl-A6Ab8XJ1h3z","model":"gpt-4o-2024-08-06","object":"chat.completion.chunk","system_fingerprint":"fp_80a1bad4c7","usage":{"completion_tokens":7,"completion_tokens_details":{"accepted_prediction_tokens":0,"audio_tokens":0,"reasoning_tokens":0,"rejected_prediction_tokens":0},"prompt_tokens":21,"prompt_tokens_details":{"audio_tokens":0,"cached_tokens":0},"total_tokens":28}}');

/** Azure OpenAI chat stream: opens with the empty prompt_filter_results frame (keys sorted, as Azure sends them). */
export const AZURE_SSE: Recording = {
  name: "Azure SSE with the prompt_filter_results frame",
  body:
    ev(`{"choices":[],"created":0,"id":"","model":"","object":"","prompt_filter_results":[{"prompt_index":0,"content_filter_results":${FILTER}}]}`) +
    ev('{"choices":[{"content_filter_results":{},"delta":{"content":"","refusal":null,"role":"assistant"},"finish_reason":null,"index":0,"logprobs":null}],"created":1726012687,"id":"chatcmpl-A6Ab8XJ1h3z","model":"gpt-4o-2024-08-06","object":"chat.completion.chunk","system_fingerprint":"fp_80a1bad4c7","usage":null}') +
    ev(`{"choices":[{"content_filter_results":${FILTER},"delta":{"content":"Hello! How"},"finish_reason":null,"index":0,"logprobs":null}],"created":1726012687,"id":"chatcmpl-A6Ab8XJ1h3z","model":"gpt-4o-2024-08-06","object":"chat.completion.chunk","system_fingerprint":"fp_80a1bad4c7","usage":null}`) +
    ev(`{"choices":[{"content_filter_results":${FILTER},"delta":{"content":" can I help?"},"finish_reason":null,"index":0,"logprobs":null}],"created":1726012687,"id":"chatcmpl-A6Ab8XJ1h3z","model":"gpt-4o-2024-08-06","object":"chat.completion.chunk","system_fingerprint":"fp_80a1bad4c7","usage":null}`) +
    ev('{"choices":[{"content_filter_results":{},"delta":{},"finish_reason":"stop","index":0,"logprobs":null}],"created":1726012687,"id":"chatcmpl-A6Ab8XJ1h3z","model":"gpt-4o-2024-08-06","object":"chat.completion.chunk","system_fingerprint":"fp_80a1bad4c7","usage":null}') +
    AZURE_USAGE_EVENT +
    "data: [DONE]\n\n",
  usage: { prompt: 21, completion: 7, total: 28 },
  usageEvent: AZURE_USAGE_EVENT,
};

const RESP_ID = "resp_67c9fdcecf488190bdd9a0409de3a1ec07b8b0ad4e5eb654";
const MSG_ID = "msg_67c9fdcf37fc8190ba82116e33fb28c507b8b0ad4e5eb654";
const response = (status: string, output: string, usage: string) =>
  `{"id":"${RESP_ID}","object":"response","created_at":1741290958,"status":"${status}","error":null,"incomplete_details":null,"instructions":"You are a helpful assistant.","max_output_tokens":null,"model":"gpt-4.1-2025-04-14","output":${output},"parallel_tool_calls":true,"previous_response_id":null,"reasoning":{"effort":null,"summary":null},"store":true,"temperature":1.0,"text":{"format":{"type":"text"}},"tool_choice":"auto","tools":[],"top_p":1.0,"truncation":"disabled","usage":${usage},"user":null,"metadata":{}}`;
const named = (type: string, json: string) => `event: ${type}\ndata: ${json}\n\n`;
const OUTPUT = `[{"id":"${MSG_ID}","type":"message","status":"completed","role":"assistant","content":[{"type":"output_text","text":"Hi there!","annotations":[]}]}]`;

/** Responses API stream: named events, usage {input_tokens, output_tokens} in response.completed, no [DONE]. */
export const RESPONSES_SSE: Recording = {
  name: "Responses API SSE",
  body:
    named("response.created", `{"type":"response.created","sequence_number":0,"response":${response("in_progress", "[]", "null")}}`) +
    named("response.in_progress", `{"type":"response.in_progress","sequence_number":1,"response":${response("in_progress", "[]", "null")}}`) +
    named("response.output_item.added", `{"type":"response.output_item.added","sequence_number":2,"output_index":0,"item":{"id":"${MSG_ID}","type":"message","status":"in_progress","role":"assistant","content":[]}}`) +
    named("response.content_part.added", `{"type":"response.content_part.added","sequence_number":3,"item_id":"${MSG_ID}","output_index":0,"content_index":0,"part":{"type":"output_text","text":"","annotations":[]}}`) +
    named("response.output_text.delta", `{"type":"response.output_text.delta","sequence_number":4,"item_id":"${MSG_ID}","output_index":0,"content_index":0,"delta":"Hi"}`) +
    named("response.output_text.delta", `{"type":"response.output_text.delta","sequence_number":5,"item_id":"${MSG_ID}","output_index":0,"content_index":0,"delta":" there!"}`) +
    named("response.output_text.done", `{"type":"response.output_text.done","sequence_number":6,"item_id":"${MSG_ID}","output_index":0,"content_index":0,"text":"Hi there!"}`) +
    named("response.content_part.done", `{"type":"response.content_part.done","sequence_number":7,"item_id":"${MSG_ID}","output_index":0,"content_index":0,"part":{"type":"output_text","text":"Hi there!","annotations":[]}}`) +
    named("response.output_item.done", `{"type":"response.output_item.done","sequence_number":8,"output_index":0,"item":${OUTPUT.slice(1, -1)}}`) +
    named("response.completed", `{"type":"response.completed","sequence_number":9,"response":${response("completed", OUTPUT,
      '{"input_tokens":37,"input_tokens_details":{"cached_tokens":0},"output_tokens":11,"output_tokens_details":{"reasoning_tokens":0},"total_tokens":48}')}}`),
  usage: { prompt: 37, completion: 11, total: 48 },
};

/**
 * A stream whose text talks about usage (escaped inside strings), with a string value "usage"
 * and a "usage" key holding a non-object: none of it may count.
 */
export const TRICKY_SSE: Recording = {
  name: "OpenAI SSE whose content mentions usage",
  body:
    ev('{"id":"c","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{"content":"Set \\"usage\\": {\\"prompt_tokens\\": 999, \\"total_tokens\\": 999} and \\\\\\"usage\\\\\\":{}"},"finish_reason":null}],"usage":null}') +
    ev('{"id":"c","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{"content":"usage"},"finish_reason":null,"tags":["usage",{"x":"\\"usage\\":{\\"total_tokens\\":7}"}]}],"usage":null}') +
    ev('{"id":"c","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5,"prompt_tokens_details":{"cached_tokens":1},"note":"} \\" { \\"total_tokens\\":1"}}') +
    "data: [DONE]\n\n",
  usage: { prompt: 3, completion: 2, total: 5 },
};

/** A stream without include_usage: nothing to strip, no usage. */
export const OPENAI_SSE_NO_USAGE: Recording = {
  name: "OpenAI SSE without include_usage",
  body:
    ev('{"id":"chatcmpl-2","object":"chat.completion.chunk","created":1761564674,"model":"gpt-4o","choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}') +
    ev('{"id":"chatcmpl-2","object":"chat.completion.chunk","created":1761564674,"model":"gpt-4o","choices":[{"index":0,"delta":{"content":"Hi"},"logprobs":null,"finish_reason":null}]}') +
    ev('{"id":"chatcmpl-2","object":"chat.completion.chunk","created":1761564674,"model":"gpt-4o","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}]}') +
    "data: [DONE]\n\n",
  usage: null,
};

export const WITH_USAGE: Recording[] = [OPENAI_JSON, OPENAI_EMBEDDINGS, OPENAI_SSE, AZURE_SSE, RESPONSES_SSE, TRICKY_SSE];
