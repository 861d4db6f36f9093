{{/* Egress rules of a pod that talks to Redis: the in-chart one, or the external one's CIDRs. */}}
{{- define "t2v.redisEgress" -}}
{{- if .Values.redis.enabled }}
- to:
    - podSelector:
        matchLabels:
          {{- include "t2v.redis.selectorLabels" . | nindent 10 }}
  ports:
    - port: 6379
      protocol: TCP
{{- else if and (eq .Values.queue.driver "redis") .Values.redis.external.cidrs }}
- to:
    {{- range .Values.redis.external.cidrs }}
    - ipBlock:
        cidr: {{ . }}
    {{- end }}
  ports:
    - port: {{ .Values.redis.external.port }}
      protocol: TCP
    {{- if .Values.redis.external.sentinels }}
    - port: {{ .Values.redis.external.sentinelPort }}
      protocol: TCP
    {{- end }}
{{- end }}
{{- end -}}
