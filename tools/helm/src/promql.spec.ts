import { expandGrafanaVariables, exposedMetricNames, metricNames } from './promql';

describe('metricNames', () => {
  it.each([
    ['t2v_queue_depth', ['t2v_queue_depth']],
    ['max(t2v_queue_depth{job="t2v",namespace="t2v"})', ['t2v_queue_depth']],
    [
      'histogram_quantile(0.9, sum by (le) (rate(t2v_job_queue_wait_seconds_bucket{job="a"}[10m]))) > 600',
      ['t2v_job_queue_wait_seconds_bucket'],
    ],
    ['sum(rate(a_count{status_code=~"5.."}[5m])) / sum(rate(a_count[5m])) > 0.05', ['a_count']],
    ['(sum(w{state=~"READY|BUSY"}) or vector(0)) == 0', ['w']],
    ['max by (instance, device) (used / total) > 0.95', ['total', 'used']],
    ['sum(x offset 5m) * on (pod) group_left (node) y', ['x', 'y']],
    ['rate(x[5m]) > 1e3', ['x']],
    ['label_replace(up, "a", "$1", "b", "(.*)")', ['up']],
  ])('%s', (expr, names) => {
    expect(metricNames(expr)).toEqual(names);
  });
});

describe('expandGrafanaVariables', () => {
  it('replaces interval and template variables', () => {
    expect(expandGrafanaVariables('rate(x{job=~"$job"}[$__rate_interval])')).toBe('rate(x{job=~".+"}[5m])');
    expect(expandGrafanaVariables('x{a=~"${pod:regex}"}')).toBe('x{a=~".+"}');
  });
});

describe('exposedMetricNames', () => {
  it('expands histograms and reads samples', () => {
    const names = exposedMetricNames(
      [
        '# HELP t2v_job_inference_seconds Inference time',
        '# TYPE t2v_job_inference_seconds histogram',
        '# TYPE t2v_queue_depth gauge',
        't2v_queue_depth 0',
        'process_cpu_seconds_total 1.5',
      ].join('\n'),
    );
    expect([...names].sort()).toEqual([
      'process_cpu_seconds_total',
      't2v_job_inference_seconds',
      't2v_job_inference_seconds_bucket',
      't2v_job_inference_seconds_count',
      't2v_job_inference_seconds_sum',
      't2v_queue_depth',
    ]);
  });
});
