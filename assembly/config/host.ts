// Upstream host validation: a host name or IPv4 address with an optional :port, exactly what
// goes into :authority. Returns "" when valid, else a message that says how to fix it.

import { hasControlOrSpace, isAsciiDigit, isAsciiLetter, quote } from "./text";

function checkPort(p: string): string {
  if (p.length == 0 || p.length > 5) return "port must be a number between 1 and 65535";
  let v = 0;
  for (let i = 0; i < p.length; i++) {
    const c = p.charCodeAt(i);
    if (!isAsciiDigit(c)) return "port must be a number between 1 and 65535";
    v = v * 10 + (c - 48);
  }
  if (v < 1 || v > 65535) return "port must be a number between 1 and 65535";
  return "";
}

function allDigits(s: string): bool {
  if (s.length == 0) return false;
  for (let i = 0; i < s.length; i++) if (!isAsciiDigit(s.charCodeAt(i))) return false;
  return true;
}

function parseSmall(s: string): i32 {
  let v = 0;
  for (let i = 0; i < s.length; i++) v = v * 10 + (s.charCodeAt(i) - 48);
  return v;
}

function checkIPv4(labels: string[]): string {
  if (labels.length != 4) return "is not a valid IPv4 address (four numbers 0-255 separated by dots)";
  for (let i = 0; i < 4; i++) {
    const l = unchecked(labels[i]);
    if (!allDigits(l) || l.length > 3 || (l.length > 1 && l.charCodeAt(0) == 48) || parseSmall(l) > 255) {
      return "is not a valid IPv4 address (four numbers 0-255 separated by dots)";
    }
  }
  return "";
}

function checkHostname(h: string): string {
  if (h.length == 0) return "is missing the host name";
  if (h.length > 253) return "host name is longer than 253 characters";
  const labels = h.split(".");
  let numeric = true;
  for (let i = 0; i < labels.length; i++) {
    const l = unchecked(labels[i]);
    if (l.length == 0) return "host name has an empty label (check for '..' or a leading/trailing dot)";
    if (l.length > 63) return "host name label longer than 63 characters";
    for (let k = 0; k < l.length; k++) {
      const c = l.charCodeAt(k);
      if (!(isAsciiLetter(c) || isAsciiDigit(c) || c == 45 || c == 95)) {
        return "host name may contain only letters, digits, '-', '_' and '.'";
      }
    }
    if (l.charCodeAt(0) == 45 || l.charCodeAt(l.length - 1) == 45) return "host name label must not start or end with '-'";
    if (!allDigits(l)) numeric = false;
  }
  if (numeric) return checkIPv4(labels);
  return "";
}

/** "" when `host` is a valid host[:port]; otherwise what is wrong and how to fix it. */
export function checkHost(host: string): string {
  if (host.length == 0) return "must not be empty";
  const scheme = host.indexOf("://");
  if (scheme >= 0) {
    let rest = host.substring(scheme + 3);
    const slash = rest.indexOf("/");
    if (slash >= 0) rest = rest.substring(0, slash);
    return "must not include a scheme: drop " + quote(host.substring(0, scheme + 3)) +
      (rest.length > 0 ? " and write " + quote(rest) : "") + " (TLS is configured on the Envoy cluster)";
  }
  if (hasControlOrSpace(host)) return "must not contain spaces or control characters";
  const slash = host.indexOf("/");
  if (slash >= 0) {
    return "must not include a path: write " + quote(host.substring(0, slash)) + " and put a path prefix in basePath";
  }
  if (host.charCodeAt(0) == 91 /* [ */) return "IPv6 addresses are not supported: use a host name";
  if (host.includes("?") || host.includes("#") || host.includes("@")) {
    return "must be a host name or IPv4 address with an optional :port, found " + quote(host);
  }
  const colon = host.indexOf(":");
  let name = host;
  if (colon >= 0) {
    if (host.indexOf(":", colon + 1) >= 0) return "must be host or host:port (more than one ':' found)";
    const perr = checkPort(host.substring(colon + 1));
    if (perr.length > 0) return perr;
    name = host.substring(0, colon);
  }
  return checkHostname(name);
}

/** A Higress _match_domain_ entry: a host, optionally "*." + host. */
export function checkDomainPattern(d: string): string {
  // Rules match the host name of :authority, port ignored: a port here would never match.
  if (d.includes(":") && !d.includes("://")) return "must be a host name without a port (rules match the host name of :authority, whatever its port)";
  if (d.startsWith("*.")) return checkHost(d.substring(2));
  if (d.includes("*")) return "only a leading \"*.\" wildcard is allowed";
  return checkHost(d);
}
