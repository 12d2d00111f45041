// Request-body edits for the chosen provider, applied to the bytes in position order:
// the model/deployment name where the provider expects it in the body, and
// stream_options.include_usage for streaming chat requests that lack it.

import { ByteBuilder, isWs } from "../lib/bytes";
import { RequestScan } from "../lib/json_scan";
import { jsonString } from "../lib/json_text";

class Edit {
  constructor(public at: i32, public cut: i32, public text: string) {}
}

/** First non-space byte at or after i. */
function nextNonWs(b: Uint8Array, i: i32): i32 {
  while (i < b.length && isWs(unchecked(b[i]))) i++;
  return i;
}

/**
 * Returns `body` itself when nothing changes. `model` = the name to put in the body ("" = leave
 * it); `injectUsage` = add include_usage:true (only when the client did not say either way).
 */
export function shapeBody(body: Uint8Array, scan: RequestScan, model: string, injectUsage: bool): Uint8Array {
  // Nothing to change (the usual request): the body as it is, nothing allocated.
  if (!(model.length > 0 && model != scan.model) && !(injectUsage && scan.includeUsage < 0)) return body;
  const edits = new Array<Edit>();
  if (model.length > 0 && model != scan.model) {
    if (scan.modelStart >= 0) {
      edits.push(new Edit(scan.modelStart - 1, scan.modelEnd - scan.modelStart + 2, jsonString(model)));
    } else if (scan.modelValueStart >= 0) {
      // "model": null (or another non-string): replace the value; a key inserted earlier would
      // lose to it (the last duplicate wins at the provider).
      edits.push(new Edit(scan.modelValueStart, scan.modelValueEnd - scan.modelValueStart, jsonString(model)));
    } else {
      let brace = 0;
      while (brace < body.length && unchecked(body[brace]) != 0x7b) brace++;
      const empty = nextNonWs(body, brace + 1) == scan.objectEnd;
      edits.push(new Edit(brace + 1, 0, "\"model\":" + jsonString(model) + (empty ? "" : ",")));
    }
  }
  if (injectUsage && scan.includeUsage < 0) {
    if (scan.includeUsageValueStart >= 0) {
      // "include_usage": null: replace the value (an inserted key would be shadowed by it).
      edits.push(new Edit(scan.includeUsageValueStart, scan.includeUsageValueEnd - scan.includeUsageValueStart, "true"));
    } else if (scan.hasStreamOptions) {
      const empty = nextNonWs(body, scan.streamOptionsStart + 1) == scan.streamOptionsEnd - 1;
      edits.push(new Edit(scan.streamOptionsStart + 1, 0, "\"include_usage\":true" + (empty ? "" : ",")));
    } else {
      // Before the closing brace of the top-level object (which has members: it has "stream").
      edits.push(new Edit(scan.objectEnd, 0, ",\"stream_options\":{\"include_usage\":true}"));
    }
  }
  if (edits.length == 0) return body;
  if (edits.length == 2 && edits[1].at < edits[0].at) edits.reverse();
  const b = new ByteBuilder(body.length + 64);
  let pos = 0;
  for (let i = 0; i < edits.length; i++) {
    const e = unchecked(edits[i]);
    b.bytes(body, pos, e.at).str(e.text);
    pos = e.at + e.cut;
  }
  b.bytes(body, pos);
  return b.finish();
}
