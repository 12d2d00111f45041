// Model fallbacks (top level, like every section a `_rules_` entry may override):
//   fallbacks: { "gpt-4o": ["gpt-4o-mini", "gpt-35-turbo"] }   when no provider of gpt-4o can take
//     the request (cooldown, capacity, failures), the listed models, in order;
//   contextWindowFallbacks: { "gpt-4o": "gpt-4.1" }            after a 400 context_length_exceeded,
//     the larger-context model (followed as a chain: gpt-4.1's own entry after that).
// Every model named must be served by a provider of the same configuration; a model never falls
// back to itself; a `fallbacks` list is not followed transitively (a request for gpt-4o uses
// gpt-4o's list only), so a cycle between lists cannot make a request try a model twice;
// contextWindowFallbacks chains must end, within MAX_FALLBACKS steps.

import { JSON } from "json-as";
import { Config, ProviderConfig } from "./model";
import { ArrReader, ObjReader, readNonEmpty } from "./walk";
import { ProviderList } from "./providers";
import { quote } from "./text";

/** Models in one `fallbacks` list, and steps in one contextWindowFallbacks chain. */
export const MAX_FALLBACKS: i32 = 8;
/** Entries (models) in each of the two maps. */
export const MAX_FALLBACK_ENTRIES: i32 = 256;

const FALLBACKS = "fallbacks";
const CONTEXT = "contextWindowFallbacks";

/** Does some provider of the configuration serve `model`? */
function served(providers: ProviderConfig[], model: string): bool {
  for (let i = 0; i < providers.length; i++) {
    if (unchecked(providers[i]).serves(model)) return true;
  }
  return false;
}

/** Checks that models are served (skipped when the providers themselves are in error). */
class ServedCheck {
  constructor(public providers: ProviderConfig[], public skip: bool) {}

  /** Reports at `path` a model no provider serves. */
  check(o: ObjReader, path: string, model: string): void {
    if (this.skip || served(this.providers, model)) return;
    o.errs.add(path, "model " + quote(model) + " is served by no provider (name it in a provider's deployments or models)");
  }
}

/** Reads `fallbacks` and `contextWindowFallbacks` of `root` into `cfg`, checked against cfg.providers. */
export function readFallbacks(root: ObjReader, cfg: Config, providers: ProviderList): void {
  // Providers in error may miss the models they were meant to list: no served-check then (their
  // own errors say what is wrong).
  const list = providers.path.length > 0 ? providers.path : root.pathOf("providers");
  const check = new ServedCheck(cfg.providers, root.errs.anyUnder(list));
  cfg.fallbacks = readFallbackLists(root, check);
  cfg.contextWindowFallbacks = readContextFallbacks(root, check);
}

function tooMany(o: ObjReader): bool {
  if (o.keys.length <= MAX_FALLBACK_ENTRIES) return false;
  o.errs.add(o.path, "at most " + MAX_FALLBACK_ENTRIES.toString() + " models, found " + o.keys.length.toString());
  return true;
}

/** The key of entry i, or null (reported) when it is empty or no provider serves it. */
function keyAt(o: ObjReader, i: i32, check: ServedCheck): string | null {
  const model = unchecked(o.keys[i]);
  const path = unchecked(o.keyPaths[i]);
  if (model.length == 0) {
    o.errs.add(path, "model name (the key) must not be empty");
    return null;
  }
  check.check(o, path, model);
  return model;
}

function readFallbackLists(root: ObjReader, check: ServedCheck): Map<string, string[]> {
  const out = new Map<string, string[]>();
  const o = root.obj(FALLBACKS);
  if (o === null || tooMany(o)) return out;
  for (let i = 0; i < o.keys.length; i++) {
    const model = keyAt(o, i, check);
    if (model === null) continue;
    const a = ArrReader.of(unchecked(o.values[i]), unchecked(o.keyPaths[i]), o.errs);
    if (a === null) continue;
    if (a.length == 0 || a.length > MAX_FALLBACKS) {
      o.errs.add(a.path, "must list 1 to " + MAX_FALLBACKS.toString() + " models to use instead of " + quote(model) + ", found " + a.length.toString());
      continue;
    }
    const models = new Array<string>();
    for (let k = 0; k < a.length; k++) {
      const m = readNonEmpty(a.at(k), a.pathAt(k), o.errs);
      if (m === null) continue;
      if (m == model) {
        o.errs.add(a.pathAt(k), "model " + quote(model) + " cannot fall back to itself");
        continue;
      }
      if (models.includes(m)) {
        o.errs.add(a.pathAt(k), "duplicate value " + quote(m));
        continue;
      }
      check.check(o, a.pathAt(k), m);
      models.push(m);
    }
    out.set(model, models);
  }
  return out;
}

function readContextFallbacks(root: ObjReader, check: ServedCheck): Map<string, string> {
  const out = new Map<string, string>();
  const o = root.obj(CONTEXT);
  if (o === null || tooMany(o)) return out;
  const paths = new Map<string, string>();
  const order = new Array<string>();
  for (let i = 0; i < o.keys.length; i++) {
    const model = keyAt(o, i, check);
    if (model === null) continue;
    const path = unchecked(o.keyPaths[i]);
    const v: JSON.Value = unchecked(o.values[i]);
    const to = readNonEmpty(v, path, o.errs);
    if (to === null) continue;
    if (to == model) {
      o.errs.add(path, "model " + quote(model) + " cannot fall back to itself");
      continue;
    }
    check.check(o, path, to);
    out.set(model, to);
    paths.set(model, path);
    order.push(model);
  }
  checkChains(o, out, paths, order);
  return out;
}

/**
 * Every chain model → its entry → … must end (at a model without an entry) within MAX_FALLBACKS
 * steps. A loop is reported once, at its first member in document order; a chain that is too
 * long, at its head (a model no entry leads to). Each model has at most one entry, so one walk
 * per model that was not reached before covers them all (linear in the entries).
 */
function checkChains(o: ObjReader, map: Map<string, string>, paths: Map<string, string>, order: string[]): void {
  const n = order.length;
  const index = new Map<string, i32>();
  for (let i = 0; i < n; i++) index.set(unchecked(order[i]), i);
  // Per entry: 0 not reached, 1 on the walk in progress, 2 done. Steps to the chain's end
  // (-1: it runs into a loop).
  const state = new Array<i32>(n);
  const steps = new Array<i32>(n);
  const isTarget = new Array<bool>(n);
  for (let i = 0; i < n; i++) {
    const to = map.get(unchecked(order[i]));
    if (index.has(to)) unchecked((isTarget[index.get(to)] = true));
  }
  const walk = new Array<i32>();
  for (let i = 0; i < n; i++) {
    if (unchecked(state[i]) != 0) continue;
    walk.length = 0;
    let k = i;
    let end = 0; // steps from the walk's last entry to the chain's end (-1: a loop)
    while (true) {
      unchecked((state[k] = 1));
      walk.push(k);
      const to = map.get(unchecked(order[k]));
      if (!index.has(to)) { end = 1; break; }
      const next = index.get(to);
      const st = unchecked(state[next]);
      if (st == 2) {
        const s = unchecked(steps[next]);
        end = s < 0 ? -1 : s + 1;
        break;
      }
      if (st == 1) {
        // A loop: `next` and the entries walked after it.
        let first = next;
        let from = walk.indexOf(next);
        for (let w = from; w < walk.length; w++) if (unchecked(walk[w]) < first) first = unchecked(walk[w]);
        o.errs.add(paths.get(unchecked(order[first])), "falls back in a loop: " + chainText(map, unchecked(order[first]), walk.length - from) +
          "; a chain must end at a model without an entry");
        end = -1;
        break;
      }
      k = next;
    }
    // Back along the walk: each entry is one step further from the end than the next.
    for (let w = walk.length - 1; w >= 0; w--) {
      const e = unchecked(walk[w]);
      unchecked((state[e] = 2));
      unchecked((steps[e] = end));
      if (end > 0) end++;
    }
  }
  for (let i = 0; i < n; i++) {
    const s = unchecked(steps[i]);
    if (unchecked(isTarget[i]) || s <= MAX_FALLBACKS) continue;
    const model = unchecked(order[i]);
    o.errs.add(paths.get(model), "the chain " + chainText(map, model, s) + " has " + s.toString() + " steps; at most " + MAX_FALLBACKS.toString());
  }
}

/** "a → b → …" from `model`, `steps` steps along `map`. */
function chainText(map: Map<string, string>, model: string, steps: i32): string {
  const parts = [model];
  let cur = model;
  for (let i = 0; i < steps && map.has(cur); i++) {
    cur = map.get(cur);
    parts.push(cur);
  }
  return parts.join(" → ");
}
