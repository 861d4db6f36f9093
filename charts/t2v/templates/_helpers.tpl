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

{{/* The t2v image: the API and the Python GPU worker (wan, wan-tiny). */}}
{{- define "t2v.gpuImage" -}}
{{- $img := .Values.image -}}
{{- if $img.digest -}}
{{- printf "%s/%s@%s" $img.registry $img.repository $img.digest -}}
{{- else -}}
{{- printf "%s/%s:%s" $img.registry $img.repository (default .Chart.AppVersion $img.tag) -}}
{{- end -}}
{{- end -}}

{{/* The t2v-api image: the API and the synthetic engine, no Python (the API tier, CPU pods). */}}
{{- define "t2v.apiImage" -}}
{{- $img := .Values.apiImage -}}
{{- $registry := default .Values.image.registry $img.registry -}}
{{- if $img.digest -}}
{{- printf "%s/%s@%s" $registry $img.repository $img.digest -}}
{{- else -}}
{{- printf "%s/%s:%s" $registry $img.repository (default (default .Chart.AppVersion .Values.image.tag) $img.tag) -}}
{{- end -}}
{{- end -}}

{{/* What the API pods run: the engine decides; only the Python engines need the GPU image. */}}
{{- define "t2v.image" -}}
{{- if eq .Values.config.engine "synthetic" -}}
{{- include "t2v.apiImage" . -}}
{{- else -}}
{{- include "t2v.gpuImage" . -}}
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

{{- define "t2v.claimName" -}}
{{- default (include "t2v.fullname" .) .Values.persistence.existingClaim -}}
{{- end -}}

{{- define "t2v.apiKeysSecretName" -}}
{{- default (printf "%s-api-keys" (include "t2v.fullname" .)) .Values.auth.existingSecret -}}
{{- end -}}

{{- define "t2v.hasApiKeys" -}}
{{- if or .Values.auth.existingSecret .Values.auth.apiKeys }}true{{ end -}}
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
{{- if and $v.persistence.enabled (not (has "ReadWriteMany" $v.persistence.accessModes)) -}}
{{- $m = append $m (printf "persistence.accessModes: up to %d replicas share one volume and need ReadWriteMany (NFS)" $maxReplicas) -}}
{{- end -}}
{{- if not $v.persistence.enabled -}}
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
{{- if and $v.auth.apiKeys $v.auth.existingSecret -}}
{{- $m = append $m "auth.apiKeys and auth.existingSecret: choose one" -}}
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
sleep, less a margin for closing the server and stopping the workers. */}}
{{- define "t2v.shutdownGraceSeconds" -}}
{{- max 0 (sub (sub (int .Values.terminationGracePeriodSeconds) (int .Values.preStopSleepSeconds)) 15) -}}
{{- end -}}

{{/* The CA bundle of an external TLS Redis is mounted (redis.external.tls.caSecret). */}}
{{- define "t2v.redisCaMounted" -}}
{{- if and (eq .Values.queue.driver "redis") (not .Values.redis.enabled) .Values.redis.external.tls.caSecret.name -}}true{{- end -}}
{{- end -}}
