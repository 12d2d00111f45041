// Logging with the level checked before any message is built or encoded.

import * as imp from "@solo-io/proxy-runtime/assembly/imports";
import { set_log_level, LogLevelValues } from "@solo-io/proxy-runtime/assembly/runtime";

export const enum Level { Trace = 0, Debug = 1, Info = 2, Warn = 3, Error = 4, Critical = 5 }

let threshold: i32 = Level.Info;

export function setLevel(level: i32): void {
  threshold = level;
  // The SDK's own lines ("ensureContext(…)", "context id: …: onDone()") are about its plumbing,
  // not the requests: they stay out below info whatever the filter's level.
  set_log_level(<LogLevelValues>(level > Level.Info ? level : Level.Info));
}

@inline export function enabled(level: Level): bool {
  return <i32>level >= threshold;
}

export function log(level: Level, msg: string): void {
  if (<i32>level < threshold) return;
  const b = String.UTF8.encode(msg);
  imp.proxy_log(<usize>level, changetype<usize>(b), b.byteLength);
}

/** A message already encoded as UTF-8 (`len` bytes at `ptr`). */
export function logBytes(level: Level, ptr: usize, len: i32): void {
  if (<i32>level < threshold) return;
  imp.proxy_log(<usize>level, ptr, <usize>len);
}
