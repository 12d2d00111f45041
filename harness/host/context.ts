/**
 * Host-side contexts: what a host call reaches through "current or effective context".
 * Envoy's Context answers differently per kind (root, stream); the defaults here are the
 * root's answers, HttpStream overrides the stream-only parts.
 */
import { BufferType, HeaderMapType, StreamType, WasmResult } from "./abi.ts";
import { EMPTY } from "./bytes.ts";
import type { HeaderMap } from "./header-map.ts";

export interface HostBuffer {
  size(): number;
  bytes(): Uint8Array;
  /** Envoy Buffer::copyFrom semantics; immutable buffers answer BadArgument. */
  copyFrom(start: number, length: number, data: Uint8Array): number;
}

/** A read-only buffer (configuration, http-call response body, unavailable body = empty). */
export class ConstBuffer implements HostBuffer {
  constructor(private readonly data: Uint8Array = EMPTY) {}
  size(): number {
    return this.data.length;
  }
  bytes(): Uint8Array {
    return this.data;
  }
  copyFrom(): number {
    return WasmResult.BadArgument;
  }
}

/** A mutable body buffer (the chunk or the filter-manager buffer of a stream). */
export class BodyBuffer implements HostBuffer {
  constructor(public data: Uint8Array = EMPTY) {}
  size(): number {
    return this.data.length;
  }
  bytes(): Uint8Array {
    return this.data;
  }
  copyFrom(start: number, length: number, data: Uint8Array): number {
    if (start === 0) {
      const rest = this.data.subarray(Math.min(length, this.data.length));
      const out = new Uint8Array(data.length + rest.length);
      out.set(data, 0);
      out.set(rest, data.length);
      this.data = out;
      return WasmResult.Ok;
    }
    if (start >= this.data.length) {
      const out = new Uint8Array(this.data.length + data.length);
      out.set(this.data, 0);
      out.set(data, this.data.length);
      this.data = out;
      return WasmResult.Ok;
    }
    return WasmResult.BadArgument;
  }
}

export interface HttpCallResponse {
  headers: HeaderMap;
  body: Uint8Array;
  trailers: HeaderMap | null;
}

export interface LocalReplyRequest {
  code: number;
  body: Uint8Array;
  headers: Array<[string, string]>;
  grpcStatus: number;
  details: string;
}

export abstract class HostContext {
  abstract readonly id: number;
  abstract root(): RootContext;

  isRoot(): boolean {
    return (this.root() as HostContext) === this;
  }

  /** getConstMap: what reads see. null = not available now. */
  constMap(type: number): HeaderMap | null {
    if (type === HeaderMapType.HttpCallResponseHeaders) return this.root().httpCallResponse?.headers ?? null;
    if (type === HeaderMapType.HttpCallResponseTrailers) return this.root().httpCallResponse?.trailers ?? null;
    return null;
  }

  /** getMap: what writes (and get_header_map_size) see. */
  mutableMap(_type: number): HeaderMap | null {
    return null;
  }

  /** Whether a missing map reads as NotFound (access-log phase) rather than BadArgument. */
  inAccessLogPhase(): boolean {
    return false;
  }

  headersModified(_type: number): void {}
  /** proxy_clear_route_cache (streams only: a root has no route). */
  clearRouteCache(): void {}

  /** Envoy Context::getBuffer; null → NotFound. */
  buffer(type: number, vmConfiguration: Uint8Array, pluginConfiguration: Uint8Array): HostBuffer | null {
    switch (type) {
      case BufferType.VmConfiguration:
        return new ConstBuffer(vmConfiguration);
      case BufferType.PluginConfiguration:
        return this.pluginConfigReadable() ? new ConstBuffer(pluginConfiguration) : null;
      case BufferType.HttpCallResponseBody: {
        const r = this.root().httpCallResponse;
        return r ? new ConstBuffer(r.body) : null;
      }
      case BufferType.HttpRequestBody:
      case BufferType.HttpResponseBody:
        return this.bodyBuffer(type);
      // rootContext()->grpc_receive_buffer_ / redis_call_response_: empty outside their callback.
      case BufferType.GrpcReceiveBuffer:
        return new ConstBuffer(this.root().grpcReceiveBuffer ?? EMPTY);
      case BufferType.RedisCallResponse:
        return new ConstBuffer(this.root().redisCallResponse ?? EMPTY);
      default:
        return new ConstBuffer();
    }
  }

  protected pluginConfigReadable(): boolean {
    return false;
  }

  /** Body buffers outside their window: present but empty, writes BadArgument. */
  protected bodyBuffer(_type: number): HostBuffer {
    return new ConstBuffer();
  }

  continueStream(type: number): number {
    if (type === StreamType.Upstream) return WasmResult.Unimplemented;
    return WasmResult.Ok;
  }

  closeStream(_type: number): number {
    return WasmResult.Ok;
  }

  /** Deferred by the caller; only streams answer. */
  sendLocalResponse(_reply: LocalReplyRequest): void {}

  /** Higress's injectEncodedDataToFilterChain: only streams have an encoder chain (a root ignores it). */
  injectEncodedData(_data: Uint8Array, _endStream: boolean): void {}

  /** Stream-scoped properties (stream info, filter state). */
  streamProperty(_path: string): Uint8Array | undefined {
    return undefined;
  }

  /** proxy_set_property: filter state exists only on streams. */
  setFilterState(_path: string, _value: Uint8Array): number {
    return WasmResult.NotFound;
  }
}

/** The per-VM root context (id 1) and the VM context (id 0, used while the allocator or start code runs). */
export class RootContext extends HostContext {
  /** Set while on_context_create(root) / on_configure run (Envoy temp_plugin_). */
  configWindow = false;
  httpCallResponse: HttpCallResponse | null = null;
  /** The message of the gRPC reply being delivered (proxy_on_grpc_receive). */
  grpcReceiveBuffer: Uint8Array | null = null;
  /** The raw reply being delivered (Higress proxy_on_redis_call_response). */
  redisCallResponse: Uint8Array | null = null;
  statusCode = 0;
  statusMessage = "";
  created = false;

  constructor(readonly id: number) {
    super();
  }

  root(): RootContext {
    return this;
  }

  protected override pluginConfigReadable(): boolean {
    return this.configWindow;
  }
}
