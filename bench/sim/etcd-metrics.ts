/**
 * bench/scale's look at etcd itself during a phase, from its Prometheus endpoint: requests handled
 * per gRPC method, bytes it received and sent, and its own CPU time, so that a phase's cost in
 * etcd can be read beside what each component says it sent.
 */
export type EtcdSample = Map<string, number>;

const WANTED = [
  'grpc_server_handled_total',
  'etcd_network_client_grpc_received_bytes_total',
  'etcd_network_client_grpc_sent_bytes_total',
  'process_cpu_seconds_total',
  'etcd_debugging_mvcc_watcher_total',
  'etcd_debugging_mvcc_events_total',
  // The disk: each WAL fsync and backend commit, their count and total seconds.
  'etcd_disk_wal_fsync_duration_seconds_sum',
  'etcd_disk_wal_fsync_duration_seconds_count',
  'etcd_disk_backend_commit_duration_seconds_sum',
  'etcd_disk_backend_commit_duration_seconds_count',
];

/** The counters above (a gRPC method's count under its method name). */
export async function sampleEtcd(metricsUrl: string): Promise<EtcdSample> {
  const res = await fetch(`${metricsUrl}/metrics`);
  if (!res.ok) throw new Error(`${metricsUrl}/metrics: HTTP ${res.status}`);
  const out: EtcdSample = new Map();
  for (const line of (await res.text()).split('\n')) {
    const m = /^([a-z_]+)(\{[^}]*\})? ([0-9.e+-]+)$/.exec(line);
    if (!m || !WANTED.includes(m[1]!)) continue;
    const method = /grpc_method="([^"]+)"/.exec(m[2] ?? '')?.[1];
    const key = m[1] === 'grpc_server_handled_total' ? `rpc ${method}` : m[1]!;
    out.set(key, (out.get(key) ?? 0) + Number(m[3]));
  }
  return out;
}

/** One line: requests per method (the busiest first), MB in and out, etcd's CPU seconds, its disk syncs. */
export function fmtEtcd(before: EtcdSample, after: EtcdSample): string {
  const d = (k: string) => (after.get(k) ?? 0) - (before.get(k) ?? 0);
  const rpcs = [...after.keys()]
    .filter((k) => k.startsWith('rpc ') && d(k) > 0)
    .sort((a, b) => d(b) - d(a))
    .map((k) => `${k.slice(4)} ${Math.round(d(k))}`);
  const mb = (k: string) => (d(k) / 1e6).toFixed(1);
  const disk = (what: string, label: string) => {
    const n = d(`etcd_disk_${what}_duration_seconds_count`);
    const secs = d(`etcd_disk_${what}_duration_seconds_sum`);
    return `${n} ${label} (${(secs * 1000).toFixed(0)} ms in all, ${n ? ((secs * 1000) / n).toFixed(1) : '0'} ms each)`;
  };
  return (
    `${rpcs.join(', ')}; ${mb('etcd_network_client_grpc_received_bytes_total')} MB in, ` +
    `${mb('etcd_network_client_grpc_sent_bytes_total')} MB out; ${d('etcd_debugging_mvcc_events_total')} watch ` +
    `events sent to ${after.get('etcd_debugging_mvcc_watcher_total') ?? 0} watchers; etcd CPU ` +
    `${d('process_cpu_seconds_total').toFixed(1)} s; ${disk('wal_fsync', 'WAL fsyncs')}, ` +
    `${disk('backend_commit', 'backend commits')}`
  );
}
