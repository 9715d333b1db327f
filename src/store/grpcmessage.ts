/**
 * grpc-js's error messages, made readable for one line on stderr: its status prefix
 * ("14 UNAVAILABLE: ") dropped, "Last error: Error: " folded, and an empty trailing
 * "Resolution note: " removed (grpc-js appends it even when it has no note).
 */
export function grpcMessage(raw: string): string {
  let m = raw.trim();
  m = m.replace(/^\d+ [A-Z_]+: /, '');
  m = m.replace(/\.?\s*Resolution note:\s*$/, '');
  m = m.replace(/^No connection established\. Last error: (?:Error: )?(.+?)\.?$/s, 'no connection: $1');
  return m.replace(/\.$/, '');
}
