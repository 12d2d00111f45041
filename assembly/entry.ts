export {
  proxy_abi_version_0_2_0, proxy_on_vm_start, proxy_on_configure, proxy_on_tick, proxy_on_queue_ready,
  proxy_on_context_create, proxy_on_request_headers, proxy_on_request_body, proxy_on_request_trailers,
  proxy_on_response_headers, proxy_on_response_body, proxy_on_response_trailers,
  proxy_on_http_call_response, proxy_on_done, proxy_on_log, proxy_on_delete, malloc,
} from "@solo-io/proxy-runtime/assembly/proxy";
import { RootContext, Context, registerRootContext } from "@solo-io/proxy-runtime/assembly";
class R extends RootContext { createContext(id: u32): Context { return new Context(id, this); } }
registerRootContext((id: u32) => new R(id), "ai-failover");
