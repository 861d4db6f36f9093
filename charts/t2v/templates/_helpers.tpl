{{/* Names */}}
{{- define "t2v.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "t2v.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* The GPU tier's Deployment, Service, autoscaler and PDB in topology=split. */}}
{{- define "t2v.gpu.fullname" -}}
{{- printf "%s-gpu" (include "t2v.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "t2v.redis.fullname" -}}
{{- printf "%s-redis" (include "t2v.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "t2v.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "t2v.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* Labels */}}
{{- define "t2v.selectorLabels" -}}
app.kubernetes.io/name: {{ include "t2v.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: api
{{- end -}}

{{- define "t2v.gpu.selectorLabels" -}}
app.kubernetes.io/name: {{ include "t2v.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: gpu
{{- end -}}

{{- define "t2v.gpu.labels" -}}
{{ include "t2v.gpu.selectorLabels" . }}
{{ include "t2v.baseLabels" . }}
{{- end -}}

{{- define "t2v.split" -}}
{{- if eq .Values.topology "split" }}true{{ end -}}
{{- end -}}

{{- define "t2v.redis.selectorLabels" -}}
app.kubernetes.io/name: {{ include "t2v.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: redis
{{- end -}}

{{- define "t2v.baseLabels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: t2v
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "t2v.labels" -}}
{{ include "t2v.selectorLabels" . }}
{{ include "t2v.baseLabels" . }}
{{- end -}}

{{- define "t2v.redis.labels" -}}
{{ include "t2v.redis.selectorLabels" . }}
{{ include "t2v.baseLabels" . }}
{{- end -}}

{{/* metadata.annotations from commonAnnotations merged with extra annotations (a dict) */}}
{{- define "t2v.annotations" -}}
{{- $all := merge (dict) (.extra | default dict) (.root.Values.commonAnnotations | default dict) -}}
{{- with $all -}}
annotations:
  {{- toYaml . | nindent 2 }}
{{- end -}}
{{- end -}}

{{/* The t2v image: the API and the Python GPU worker (wan, wan-tiny). Takes the root context. */}}
{{- define "t2v.gpuImage" -}}
{{- $img := .Values.image -}}
{{- if $img.digest -}}
{{- printf "%s/%s@%s" $img.registry $img.repository $img.digest -}}
{{- else -}}
{{- printf "%s/%s:%s" $img.registry $img.repository (default .Chart.AppVersion $img.tag) -}}
{{- end -}}
{{- end -}}

{{/* The t2v-api image: the API and the synthetic engine, no Python. Takes the root context. */}}
{{- define "t2v.apiImage" -}}
{{- $img := .Values.apiImage -}}
{{- $registry := default .Values.image.registry $img.registry -}}
{{- if $img.digest -}}
{{- printf "%s/%s@%s" $registry $img.repository $img.digest -}}
{{- else -}}
{{- printf "%s/%s:%s" $registry $img.repository (default (default .Chart.AppVersion .Values.image.tag) $img.tag) -}}
{{- end -}}
{{- end -}}

{{/*
The image of a pod: (dict "root" $ "tier" <tier>) or the root context. The engine decides, on
every tier: the synthetic engine runs t2v-api, the Python engines run t2v. The API tier of
topology=split runs no worker, but it prints the configured engine's model card at boot
(`python -m t2v_worker --card` for the Python engines), which needs the worker's Python.
*/}}
{{- define "t2v.image" -}}
{{- $root := .root | default . -}}
{{- if eq $root.Values.config.engine "synthetic" -}}
{{- include "t2v.apiImage" $root -}}
{{- else -}}
{{- include "t2v.gpuImage" $root -}}
{{- end -}}
{{- end -}}

{{/*
replicas of a Deployment: (dict "root" $ "tier" <tier> "name" <name>). Left to the autoscaler when
there is one; the GPU tier with a KEDA floor of 0 starts with none and then keeps whatever KEDA set
(an upgrade must not scale the tier up or down).
*/}}
{{- define "t2v.replicas" -}}
{{- $v := .root.Values -}}
{{- if eq .tier "api" -}}
{{- if not $v.api.autoscaling.enabled -}}
replicas: {{ $v.api.replicaCount }}
{{- end -}}
{{- else if and (eq .tier "gpu") $v.keda.enabled (eq (int $v.keda.minReplicas) 0) -}}
{{- $live := lookup "apps/v1" "Deployment" .root.Release.Namespace .name -}}
{{- if $live -}}
replicas: {{ $live.spec.replicas }}
{{- else -}}
replicas: 0
{{- end -}}
{{- else if not (include "t2v.autoscaled" .root) -}}
replicas: {{ $v.replicaCount }}
{{- end -}}
{{- end -}}

{{/* T2V_DEVICES: explicit, else one index per requested GPU, else cpu */}}
{{- define "t2v.devices" -}}
{{- if .Values.config.devices -}}
{{- .Values.config.devices -}}
{{- else if .Values.gpu.enabled -}}
{{- $ids := list -}}
{{- range $i := until (int .Values.gpu.count) }}{{ $ids = append $ids (toString $i) }}{{ end -}}
{{- join "," $ids -}}
{{- else -}}
cpu
{{- end -}}
{{- end -}}

{{/* GPUs one job runs on (T2V_PARALLEL): 2 for cfg, N for ulysses:N, 2N for cfg+ulysses:N. */}}
{{- define "t2v.groupSize" -}}
{{- $p := toString .Values.config.parallel -}}
{{- $n := 1 -}}
{{- if contains "ulysses:" $p }}{{ $n = int (last (splitList ":" $p)) }}{{ end -}}
{{- if hasPrefix "cfg" $p }}{{ $n = mul $n 2 }}{{ end -}}
{{- $n -}}
{{- end -}}

{{/* A memory quantity ("16Gi", "1536Mi", "20G", bytes) in MiB, rounded up. */}}
{{- define "t2v.mebibytes" -}}
{{- $q := toString . -}}
{{- $num := regexFind "^[0-9]+(\\.[0-9]+)?" $q -}}
{{- $unit := trimPrefix $num $q -}}
{{- $mi := dict "" (divf 1 1048576) "Ki" (divf 1 1024) "Mi" 1.0 "Gi" 1024.0 "Ti" 1048576.0 "k" (divf 1000 1048576) "M" (divf 1000000 1048576) "G" (divf 1000000000 1048576) "T" (divf 1000000000000 1048576) -}}
{{- ceil (mulf (float64 $num) (get $mi $unit | default 0.0)) | int64 -}}
{{- end -}}

{{/* Worker processes in a pod: one per GPU (a worker, or a rank of a group), else one on the CPU. */}}
{{- define "t2v.workerCount" -}}
{{- if .Values.gpu.enabled }}{{ int .Values.gpu.count }}{{ else }}1{{ end -}}
{{- end -}}

{{/*
Host memory (MiB) one worker process needs at its peak, by engine: measured on the CPU with
apps/worker/scripts/load_memory.py (docs/benchmarks.md, "Host memory while loading"). wan: the
weights go straight to the GPU, so the process itself, the loader, the CUDA runtime and a 720p
job's frames on their way to the encoder; with CPU offload the whole model lives in host memory.
workerHostMemory overrides it.
*/}}
{{- define "t2v.workerMemoryMi" -}}
{{- $v := .Values -}}
{{- if $v.workerHostMemory -}}
{{- include "t2v.mebibytes" $v.workerHostMemory -}}
{{- else if and (eq $v.config.engine "wan") (ne $v.config.cpuOffload "none") -}}
30720
{{- else if eq $v.config.engine "wan" -}}
8192
{{- else if eq $v.config.engine "wan-tiny" -}}
1536
{{- else -}}
256
{{- end -}}
{{- end -}}

{{/* What the API process itself needs (MiB): requests, streams, uploads and its encoders. */}}
{{- define "t2v.apiMemoryMi" -}}
1024
{{- end -}}

{{/* What the API container needs (MiB): the API and its encoders, plus every worker at its peak. */}}
{{- define "t2v.memoryNeedMi" -}}
{{- add (include "t2v.apiMemoryMi" .) (mul (int (include "t2v.workerCount" .)) (int (include "t2v.workerMemoryMi" .))) -}}
{{- end -}}

{{- define "t2v.quantity" -}}
{{- if eq (mod (int64 .) 1024) 0 }}{{ div (int64 .) 1024 }}Gi{{ else }}{{ . }}Mi{{ end -}}
{{- end -}}

{{/* A container's memory limit: limits.memory of `resources` when given, else `needMi` (at least
the request). Called with (dict "resources" <resources> "needMi" <MiB>). */}}
{{- define "t2v.limitOrNeed" -}}
{{- $limits := .resources.limits | default dict -}}
{{- if $limits.memory -}}
{{- $limits.memory -}}
{{- else -}}
{{- $need := int64 .needMi -}}
{{- $requests := .resources.requests | default dict -}}
{{- $request := 0 -}}
{{- if $requests.memory }}{{ $request = int64 (include "t2v.mebibytes" $requests.memory) }}{{ end -}}
{{- include "t2v.quantity" (max $need $request) -}}
{{- end -}}
{{- end -}}

{{/* The memory limit of a pod with workers (combined, or the GPU tier of topology=split). */}}
{{- define "t2v.memoryLimit" -}}
{{- include "t2v.limitOrNeed" (dict "resources" .Values.resources "needMi" (include "t2v.memoryNeedMi" .)) -}}
{{- end -}}

{{/* The memory limit of the API tier of topology=split: the API alone, no workers. */}}
{{- define "t2v.apiMemoryLimit" -}}
{{- include "t2v.limitOrNeed" (dict "resources" .Values.api.resources "needMi" (include "t2v.apiMemoryMi" .)) -}}
{{- end -}}

{{- define "t2v.claimName" -}}
{{- default (include "t2v.fullname" .) .Values.persistence.existingClaim -}}
{{- end -}}

{{- define "t2v.apiKeysSecretName" -}}
{{- default (printf "%s-api-keys" (include "t2v.fullname" .)) .Values.auth.existingSecret -}}
{{- end -}}

{{- define "t2v.hasApiKeys" -}}
{{- if or .Values.auth.existingSecret .Values.auth.apiKeys }}true{{ end -}}
{{- end -}}

{{/* Secret that holds the webhook signing secret (T2V_WEBHOOK_SECRET) */}}
{{- define "t2v.webhookSecretName" -}}
{{- default (printf "%s-webhook" (include "t2v.fullname" .)) .Values.webhooks.existingSecret -}}
{{- end -}}

{{- define "t2v.hasWebhookSecret" -}}
{{- if or .Values.webhooks.existingSecret .Values.webhooks.secret }}true{{ end -}}
{{- end -}}

{{/* Secret that holds the OIDC settings (T2V_JWT_JWKS_URL, T2V_JWT_ISSUER, T2V_JWT_AUDIENCE) */}}
{{- define "t2v.oidcSecretName" -}}
{{- default (printf "%s-oidc" (include "t2v.fullname" .)) .Values.auth.oidc.existingSecret -}}
{{- end -}}

{{- define "t2v.hasOidc" -}}
{{- if or .Values.auth.oidc.existingSecret .Values.auth.oidc.jwksUrl }}true{{ end -}}
{{- end -}}

{{/*
Environment variables that hold credentials or identity-provider settings
(apps/api/src/config/config.schema.ts SECRET_VARS): the chart sets them from Secrets only, and
config.extraEnv (the ConfigMap) may not name them.
*/}}
{{- define "t2v.secretVars" -}}
T2V_API_KEYS REDIS_URL REDIS_PASSWORD REDIS_SENTINEL_PASSWORD T2V_WEBHOOK_SECRET T2V_JWT_JWKS_URL T2V_JWT_ISSUER T2V_JWT_AUDIENCE AWS_SECRET_ACCESS_KEY
{{- end -}}

{{/* Secret and key that hold the password of the in-chart Redis */}}
{{- define "t2v.redis.passwordSecretName" -}}
{{- default (include "t2v.redis.fullname" .) .Values.redis.auth.existingSecret -}}
{{- end -}}

{{- define "t2v.redis.passwordSecretKey" -}}
{{- if .Values.redis.auth.existingSecret }}{{ .Values.redis.auth.existingSecretKey }}{{ else }}redis-password{{ end -}}
{{- end -}}

{{/* Secret and key that hold REDIS_URL of an external Redis */}}
{{- define "t2v.redisUrlSecretName" -}}
{{- default (printf "%s-redis-url" (include "t2v.fullname" .)) .Values.redis.external.existingSecret -}}
{{- end -}}

{{- define "t2v.redisUrlSecretKey" -}}
{{- if .Values.redis.external.existingSecret }}{{ .Values.redis.external.existingSecretKey }}{{ else }}redis-url{{ end -}}
{{- end -}}

{{/* Label matchers that select this release's series in Prometheus (ServiceMonitor: job = Service name) */}}
{{- define "t2v.promSelector" -}}
job="{{ include "t2v.fullname" . }}",namespace="{{ .Release.Namespace }}"
{{- end -}}

{{/* Every pod of the release: with topology=split the GPU tier's Service is a second job. */}}
{{- define "t2v.promSelectorAll" -}}
{{- if include "t2v.split" . -}}
job=~"{{ include "t2v.fullname" . }}|{{ include "t2v.gpu.fullname" . }}",namespace="{{ .Release.Namespace }}"
{{- else -}}
{{- include "t2v.promSelector" . -}}
{{- end -}}
{{- end -}}

{{- define "t2v.autoscaled" -}}
{{- if or .Values.autoscaling.enabled .Values.keda.enabled }}true{{ end -}}
{{- end -}}

{{/*
Cross-field checks. Each returns a message when the values contradict each other; the
messages are joined and the render fails before anything reaches the cluster.
*/}}
{{- define "t2v.validateValues" -}}
{{- $m := list -}}
{{- $v := .Values -}}
{{- $redis := eq $v.queue.driver "redis" -}}
{{- $maxReplicas := int $v.replicaCount -}}
{{- if $v.autoscaling.enabled }}{{ $maxReplicas = int $v.autoscaling.maxReplicas }}{{ end -}}
{{- if $v.keda.enabled }}{{ $maxReplicas = int $v.keda.maxReplicas }}{{ end -}}
{{- if and $v.autoscaling.enabled $v.keda.enabled -}}
{{- $m = append $m "autoscaling.enabled and keda.enabled: choose one; KEDA manages its own HorizontalPodAutoscaler" -}}
{{- end -}}
{{- if and $v.autoscaling.enabled $v.autoscaling.queueDepth.enabled (not $redis) -}}
{{- $m = append $m "autoscaling.queueDepth: scaling on queue depth needs queue.driver=redis (the embedded queue lives in one pod and cannot be shared)" -}}
{{- end -}}
{{- if and $v.autoscaling.enabled (not $v.autoscaling.queueDepth.enabled) (not $v.autoscaling.cpu.enabled) -}}
{{- $m = append $m "autoscaling.enabled: enable autoscaling.queueDepth or autoscaling.cpu (no metric to scale on)" -}}
{{- end -}}
{{- if and $v.keda.enabled (not $redis) -}}
{{- $m = append $m "keda.enabled: scaling on queue depth needs queue.driver=redis (the embedded queue lives in one pod and cannot be shared)" -}}
{{- end -}}
{{- if and $v.autoscaling.enabled (gt (int $v.autoscaling.minReplicas) (int $v.autoscaling.maxReplicas)) -}}
{{- $m = append $m "autoscaling.minReplicas must not exceed autoscaling.maxReplicas" -}}
{{- end -}}
{{- if and $v.keda.enabled (gt (int $v.keda.minReplicas) (int $v.keda.maxReplicas)) -}}
{{- $m = append $m "keda.minReplicas must not exceed keda.maxReplicas" -}}
{{- end -}}
{{- $group := int (include "t2v.groupSize" .) -}}
{{- if gt $group 1 -}}
{{- if eq $v.config.engine "synthetic" -}}
{{- $m = append $m (printf "config.parallel=%s: applies to the wan and wan-tiny engines only" $v.config.parallel) -}}
{{- else if and $v.gpu.enabled (ne (mod (int $v.gpu.count) $group) 0) -}}
{{- $m = append $m (printf "gpu.count=%d: config.parallel=%s runs each job on %d GPUs; set gpu.count to a multiple of %d (%d for one worker group per pod)" (int $v.gpu.count) $v.config.parallel $group $group $group) -}}
{{- end -}}
{{- end -}}
{{- if gt $maxReplicas 1 -}}
{{- if not $redis -}}
{{- $m = append $m (printf "replicas: up to %d replicas need queue.driver=redis (the embedded driver keeps jobs in one pod)" $maxReplicas) -}}
{{- end -}}
{{- if and (ne $v.storage.type "s3") $v.persistence.enabled (not (has "ReadWriteMany" $v.persistence.accessModes)) -}}
{{- $m = append $m (printf "persistence.accessModes: up to %d replicas share one volume and need ReadWriteMany (NFS), or set storage.type=s3" $maxReplicas) -}}
{{- end -}}
{{- if and (ne $v.storage.type "s3") (not $v.persistence.enabled) -}}
{{- $m = append $m (printf "persistence.enabled: up to %d replicas need one shared ReadWriteMany volume for outputs" $maxReplicas) -}}
{{- end -}}
{{- end -}}
{{- $ext := $v.redis.external -}}
{{- $extUrl := or $ext.url $ext.existingSecret -}}
{{- if and $redis (not $v.redis.enabled) (not $extUrl) (not $ext.sentinels) -}}
{{- $m = append $m "queue.driver=redis: set redis.enabled, redis.external.url, redis.external.existingSecret or redis.external.sentinels" -}}
{{- end -}}
{{- if and $v.redis.enabled (or $extUrl $ext.sentinels) -}}
{{- $m = append $m "redis.enabled and redis.external: choose the in-chart Redis or an external one" -}}
{{- end -}}
{{- if and $extUrl $ext.sentinels -}}
{{- $m = append $m "redis.external: set a URL or sentinels, not both (the sentinels name the primary)" -}}
{{- end -}}
{{- if and $ext.sentinels (not $ext.sentinelName) -}}
{{- $m = append $m "redis.external.sentinelName: required with redis.external.sentinels (the name the sentinels monitor)" -}}
{{- end -}}
{{- if and $ext.tls.caSecret.name (not $ext.tls.enabled) (not (hasPrefix "rediss://" $ext.url)) -}}
{{- $m = append $m "redis.external.tls.caSecret: set, but TLS is off (redis.external.tls.enabled or a rediss:// URL)" -}}
{{- end -}}
{{- if and $v.redis.enabled (eq $v.redis.durability "replicas") -}}
{{- $m = append $m "redis.durability=replicas: the in-chart Redis has no replicas (use fsync with appendfsync always, or an external replicated Redis)" -}}
{{- end -}}
{{- if and $v.redis.enabled (eq $v.redis.durability "fsync") (ne $v.redis.appendfsync "always") -}}
{{- $m = append $m "redis.durability=fsync needs redis.appendfsync=always" -}}
{{- end -}}
{{- if and (not $redis) (or $v.redis.enabled $extUrl $ext.sentinels) -}}
{{- $m = append $m "redis is configured but queue.driver is embedded: set queue.driver=redis" -}}
{{- end -}}
{{- if eq $v.storage.type "s3" -}}
{{- if not $v.storage.s3.bucket -}}
{{- $m = append $m "storage.type=s3: set storage.s3.bucket" -}}
{{- end -}}
{{- if not $redis -}}
{{- $m = append $m "storage.type=s3: the pods keep no volume for the embedded queue's job store; set queue.driver=redis" -}}
{{- end -}}
{{- end -}}
{{- if and (eq $v.storage.type "nfs") (not $v.persistence.nfs.enabled) -}}
{{- $m = append $m "storage.type=nfs: set persistence.nfs.enabled with persistence.nfs.server and persistence.nfs.path" -}}
{{- end -}}
{{- if and $v.persistence.nfs.enabled (or (not $v.persistence.nfs.server) (not $v.persistence.nfs.path)) -}}
{{- $m = append $m "persistence.nfs.enabled: set persistence.nfs.server and persistence.nfs.path" -}}
{{- end -}}
{{- if and $v.persistence.nfs.enabled $v.persistence.existingClaim -}}
{{- $m = append $m "persistence.nfs.enabled and persistence.existingClaim: the chart binds its own claim to the NFS volume; use one or the other" -}}
{{- end -}}
{{- if and (eq $v.config.engine "wan") (not (and $v.persistence.enabled $v.persistence.models.enabled)) -}}
{{- $m = append $m "config.engine=wan loads weights from the volume: enable persistence and persistence.models" -}}
{{- end -}}
{{- if and (eq $v.config.engine "wan") (not $v.gpu.enabled) -}}
{{- $m = append $m "config.engine=wan needs a GPU: set gpu.enabled=true" -}}
{{- end -}}
{{- if and (not $v.gpu.enabled) $v.config.devices (ne $v.config.devices "cpu") -}}
{{- $m = append $m (printf "config.devices=%s names GPUs but gpu.enabled is false" $v.config.devices) -}}
{{- end -}}
{{- if and $v.gpu.enabled (eq $v.config.devices "cpu") -}}
{{- $m = append $m "config.devices=cpu but gpu.enabled is true: leave config.devices empty to use every requested GPU" -}}
{{- end -}}
{{- if and $v.gpu.enabled $v.config.devices (ne $v.config.devices "cpu") (ne (len (splitList "," $v.config.devices)) (int $v.gpu.count)) -}}
{{- $m = append $m (printf "config.devices=%s lists %d devices but gpu.count is %d" $v.config.devices (len (splitList "," $v.config.devices)) (int $v.gpu.count)) -}}
{{- end -}}
{{- if and (eq $v.service.type "ClusterIP") (gt (int $v.service.nodePort) 0) -}}
{{- $m = append $m "service.nodePort is set but service.type is ClusterIP: set service.type=NodePort" -}}
{{- end -}}
{{- if le (int $v.terminationGracePeriodSeconds) (add (int $v.preStopSleepSeconds) 15) -}}
{{- $m = append $m "terminationGracePeriodSeconds must be longer than preStopSleepSeconds + 15 s, or the running job is killed before it can finish" -}}
{{- else if and (not (kindIs "invalid" $v.config.jobTimeoutSeconds)) (gt (int $v.config.jobTimeoutSeconds) (int (include "t2v.shutdownGraceSeconds" .))) -}}
{{- $m = append $m (printf "config.jobTimeoutSeconds (%d s) is longer than a stopping GPU pod's grace period leaves a job (terminationGracePeriodSeconds - preStopSleepSeconds - 15 s = %s s): a scale-in would cut the longest job; raise terminationGracePeriodSeconds or leave config.jobTimeoutSeconds empty" (int $v.config.jobTimeoutSeconds) (include "t2v.shutdownGraceSeconds" .)) -}}
{{- end -}}
{{- if eq $v.topology "split" -}}
{{- if not $redis -}}
{{- $m = append $m "topology=split: the API and GPU tiers share jobs through Redis; set queue.driver=redis" -}}
{{- end -}}
{{- if and (ne $v.storage.type "s3") (not (and $v.persistence.enabled (has "ReadWriteMany" $v.persistence.accessModes))) -}}
{{- $m = append $m "topology=split: the API tier serves what GPU pods write; enable persistence with accessModes ReadWriteMany (NFS), or set storage.type=s3" -}}
{{- end -}}
{{- if and (not $v.api.autoscaling.enabled) (lt (int $v.api.replicaCount) 2) -}}
{{- $m = append $m "api.replicaCount: the API tier is always on; run at least 2 pods" -}}
{{- end -}}
{{- if and $v.api.autoscaling.enabled (lt (int $v.api.autoscaling.minReplicas) 2) -}}
{{- $m = append $m "api.autoscaling.minReplicas: the API tier is always on; run at least 2 pods" -}}
{{- end -}}
{{- if and $v.api.autoscaling.enabled (gt (int $v.api.autoscaling.minReplicas) (int $v.api.autoscaling.maxReplicas)) -}}
{{- $m = append $m "api.autoscaling.minReplicas must not exceed api.autoscaling.maxReplicas" -}}
{{- end -}}
{{- else if and $v.keda.enabled (eq (int $v.keda.minReplicas) 0) -}}
{{- $m = append $m "keda.minReplicas=0: only topology=split scales GPU pods to zero (in combined every pod also serves the API)" -}}
{{- end -}}
{{- if and $v.startupProbe.enabled (lt (mul (int $v.startupProbe.periodSeconds) (int $v.startupProbe.failureThreshold)) (int $v.config.workerStartupTimeoutSeconds)) -}}
{{- $m = append $m (printf "startupProbe: periodSeconds x failureThreshold (%d s) is shorter than config.workerStartupTimeoutSeconds (%d s); the pod would be killed while the model loads" (mul (int $v.startupProbe.periodSeconds) (int $v.startupProbe.failureThreshold)) (int $v.config.workerStartupTimeoutSeconds)) -}}
{{- end -}}
{{- if and $v.ingress.enabled (le (int $v.ingress.proxyTimeoutSeconds) (max (int $v.config.maxWaitSeconds) (int $v.config.syncWaitSeconds))) -}}
{{- $m = append $m (printf "ingress.proxyTimeoutSeconds (%d) must be longer than config.maxWaitSeconds and config.syncWaitSeconds, or the ingress cuts long waits" (int $v.ingress.proxyTimeoutSeconds)) -}}
{{- end -}}
{{- if and $v.config.loras (not (include "t2v.mountModels" .)) -}}
{{- $m = append $m "config.loras: adapters are read from the model volume; set config.engine=wan with persistence and persistence.models enabled" -}}
{{- end -}}
{{- if and $v.config.loras (eq $v.config.compile "blocks") -}}
{{- $m = append $m "config.loras cannot be combined with config.compile=blocks: per-request adapter scales would recompile the blocks (docs/adr/0016)" -}}
{{- end -}}
{{- $loraNames := list -}}
{{- range $v.config.loras -}}
{{- if has .name $loraNames -}}
{{- $m = append $m (printf "config.loras: the name %s is given twice" .name) -}}
{{- end -}}
{{- $loraNames = append $loraNames .name -}}
{{- end -}}
{{- $memoryLimit := ($v.resources.limits | default dict).memory -}}
{{- if $memoryLimit -}}
{{- $need := int64 (include "t2v.memoryNeedMi" .) -}}
{{- if lt (int64 (include "t2v.mebibytes" $memoryLimit)) $need -}}
{{- $workers := int (include "t2v.workerCount" .) -}}
{{- $m = append $m (printf "resources.limits.memory=%v is below the %s that config.engine=%s needs with %d worker process%s (1Gi for the API + %s each%s; docs/benchmarks.md): raise it, or leave it unset to use that value" $memoryLimit (include "t2v.quantity" $need) $v.config.engine $workers (ternary "" "es" (eq $workers 1)) (include "t2v.quantity" (include "t2v.workerMemoryMi" .)) (ternary (printf ", config.cpuOffload=%s keeps the model in host memory" $v.config.cpuOffload) "" (and (eq $v.config.engine "wan") (ne $v.config.cpuOffload "none")))) -}}
{{- end -}}
{{- end -}}
{{- if and $v.auth.apiKeys $v.auth.existingSecret -}}
{{- $m = append $m "auth.apiKeys and auth.existingSecret: choose one" -}}
{{- end -}}
{{- $oidc := $v.auth.oidc -}}
{{- $oidcInline := list $oidc.jwksUrl $oidc.issuer $oidc.audience | compact -}}
{{- if and $oidc.existingSecret $oidcInline -}}
{{- $m = append $m "auth.oidc: set auth.oidc.existingSecret or the jwksUrl, issuer and audience values, not both" -}}
{{- else if and $oidcInline (ne (len $oidcInline) 3) -}}
{{- $m = append $m "auth.oidc: set jwksUrl, issuer and audience together (or auth.oidc.existingSecret)" -}}
{{- end -}}
{{- if and $v.webhooks.secret $v.webhooks.existingSecret -}}
{{- $m = append $m "webhooks.secret and webhooks.existingSecret: choose one" -}}
{{- end -}}
{{- $secretVars := splitList " " (include "t2v.secretVars" .) -}}
{{- range $name, $_ := $v.config.extraEnv -}}
{{- if has $name $secretVars -}}
{{- $m = append $m (printf "config.extraEnv.%s: a credential would land in the ConfigMap; set it through its Secret-backed value (auth.*, webhooks.*, redis.*) or config.extraSecretEnv" $name) -}}
{{- end -}}
{{- end -}}
{{- range $name, $_ := $v.config.extraSecretEnv -}}
{{- if hasKey $v.config.extraEnv $name -}}
{{- $m = append $m (printf "config.extraSecretEnv.%s: also set in config.extraEnv; choose one" $name) -}}
{{- end -}}
{{- end -}}
{{- if $m -}}
{{- fail (printf "\n\nVALUES VALIDATION:\n- %s\n" (join "\n- " $m)) -}}
{{- end -}}
{{- end -}}

{{/*
Checks against the cluster at install and upgrade: Secrets the values name must already exist
in the release namespace (nothing in the chart creates them; docs/deploy.md section 6), or the
pods would wait forever in CreateContainerConfigError. Offline renders (helm template, lint) and
a namespace the install creates right now see no cluster: its "default" ServiceAccount, which
every live namespace has, is the sign of a reachable namespace.
*/}}
{{- define "t2v.validateCluster" -}}
{{- $ns := .Release.Namespace -}}
{{- if lookup "v1" "ServiceAccount" $ns "default" -}}
{{- $m := list -}}
{{- $v := .Values -}}
{{- $need := list -}}
{{- if $v.auth.existingSecret }}{{ $need = append $need (list "auth.existingSecret" $v.auth.existingSecret $v.auth.existingSecretKey) }}{{ end -}}
{{- with $v.auth.oidc }}{{ if .existingSecret }}{{ range $k := list .existingSecretKeys.jwksUrl .existingSecretKeys.issuer .existingSecretKeys.audience }}{{ $need = append $need (list "auth.oidc.existingSecret" $v.auth.oidc.existingSecret $k) }}{{ end }}{{ end }}{{ end -}}
{{- if $v.webhooks.existingSecret }}{{ $need = append $need (list "webhooks.existingSecret" $v.webhooks.existingSecret $v.webhooks.existingSecretKey) }}{{ end -}}
{{- range $name, $ref := $v.config.extraSecretEnv }}{{ $need = append $need (list (printf "config.extraSecretEnv.%s" $name) $ref.secretName $ref.key) }}{{ end -}}
{{- if and $v.redis.enabled $v.redis.auth.existingSecret }}{{ $need = append $need (list "redis.auth.existingSecret" $v.redis.auth.existingSecret $v.redis.auth.existingSecretKey) }}{{ end -}}
{{- if and (eq $v.queue.driver "redis") $v.redis.external.existingSecret }}{{ $need = append $need (list "redis.external.existingSecret" $v.redis.external.existingSecret $v.redis.external.existingSecretKey) }}{{ end -}}
{{- $ext := $v.redis.external -}}
{{- if and (eq $v.queue.driver "redis") (not $v.redis.enabled) -}}
{{- if $ext.passwordSecret.name }}{{ $need = append $need (list "redis.external.passwordSecret" $ext.passwordSecret.name $ext.passwordSecret.key) }}{{ end -}}
{{- if $ext.sentinelPasswordSecret.name }}{{ $need = append $need (list "redis.external.sentinelPasswordSecret" $ext.sentinelPasswordSecret.name $ext.sentinelPasswordSecret.key) }}{{ end -}}
{{- if $ext.tls.caSecret.name }}{{ $need = append $need (list "redis.external.tls.caSecret" $ext.tls.caSecret.name $ext.tls.caSecret.key) }}{{ end -}}
{{- end -}}
{{- range $need -}}
{{- $s := lookup "v1" "Secret" $ns (index . 1) -}}
{{- if not $s -}}
{{- $m = append $m (printf "%s: Secret %s not found in namespace %s; create it first (docs/deploy.md, Secrets)" (index . 0) (index . 1) $ns) -}}
{{- else if not (hasKey ($s.data | default dict) (index . 2)) -}}
{{- $m = append $m (printf "%s: Secret %s in namespace %s has no key %s" (index . 0) (index . 1) $ns (index . 2)) -}}
{{- end -}}
{{- end -}}
{{- if $m -}}
{{- fail (printf "\n\nCLUSTER CHECK:\n- %s\n" (join "\n- " $m)) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "t2v.shmEnabled" -}}
{{- if and .Values.shmSizeLimit (ne (toString .Values.shmSizeLimit) "0") }}true{{ end -}}
{{- end -}}

{{/* Only the wan engine reads weights from the volume. */}}
{{/* T2V_LORAS: name=<absolute path> pairs, each path under the read-only model mount. */}}
{{- define "t2v.loras" -}}
{{- $mount := trimSuffix "/" .Values.persistence.models.mountPath -}}
{{- $items := list -}}
{{- range .Values.config.loras }}
{{- $items = append $items (printf "%s=%s/%s" .name $mount .path) -}}
{{- end }}
{{- join "," $items -}}
{{- end -}}

{{- define "t2v.mountModels" -}}
{{- if and .Values.persistence.enabled .Values.persistence.models.enabled (eq .Values.config.engine "wan") }}true{{ end -}}
{{- end -}}

{{/* Time the API has to finish its running job after SIGTERM: the grace period less the preStop
sleep, less a margin for closing the server and stopping the workers. Called with $ (the GPU pods'
grace) or (dict "grace" <s> "preStop" <s>). */}}
{{- define "t2v.shutdownGraceSeconds" -}}
{{- $grace := .grace | default 0 -}}
{{- $preStop := .preStop | default 0 -}}
{{- if .Values }}{{ $grace = .Values.terminationGracePeriodSeconds }}{{ $preStop = .Values.preStopSleepSeconds }}{{ end -}}
{{- max 0 (sub (sub (int $grace) (int $preStop)) 15) -}}
{{- end -}}

{{/* T2V_JOB_TIMEOUT_S: config.jobTimeoutSeconds, or all of what a stopping GPU pod's grace period
leaves its running job. */}}
{{- define "t2v.jobTimeoutSeconds" -}}
{{- if kindIs "invalid" .Values.config.jobTimeoutSeconds -}}
{{- include "t2v.shutdownGraceSeconds" . -}}
{{- else -}}
{{- int .Values.config.jobTimeoutSeconds -}}
{{- end -}}
{{- end -}}

{{/* The CA bundle of an external TLS Redis is mounted (redis.external.tls.caSecret). */}}
{{- define "t2v.redisCaMounted" -}}
{{- if and (eq .Values.queue.driver "redis") (not .Values.redis.enabled) .Values.redis.external.tls.caSecret.name -}}true{{- end -}}
{{- end -}}

{{/* AWS keys from a Secret (storage.type=s3 with storage.s3.existingSecret); otherwise the pods' own identity. */}}
{{- define "t2v.s3Keys" -}}
{{- if and (eq .Values.storage.type "s3") .Values.storage.s3.existingSecret }}true{{ end -}}
{{- end -}}
