{{/*
One Deployment of the chart: `combined` (every pod is the API and runs GPU workers: today's single
Deployment), or in topology=split the `api` tier (CPU nodes, no workers) or the `gpu` tier (GPU
nodes, workers, follows the queue). Called with (dict "root" $ "tier" <tier>).
*/}}
{{- define "t2v.deployment" -}}
{{- $root := .root -}}
{{- $tier := .tier -}}
{{- $v := $root.Values -}}
{{- $redis := eq $v.queue.driver "redis" -}}
{{- $api := eq $tier "api" -}}
{{- $name := include "t2v.fullname" $root -}}
{{- if eq $tier "gpu" }}{{ $name = include "t2v.gpu.fullname" $root }}{{ end -}}
{{- $selector := include "t2v.selectorLabels" $root -}}
{{- if eq $tier "gpu" }}{{ $selector = include "t2v.gpu.selectorLabels" $root }}{{ end -}}
{{- $pod := dict "nodeSelector" $v.nodeSelector "tolerations" $v.tolerations "affinity" $v.affinity "resources" $v.resources "grace" $v.terminationGracePeriodSeconds -}}
{{- if $api }}{{ $pod = dict "nodeSelector" $v.api.nodeSelector "tolerations" $v.api.tolerations "affinity" $v.api.affinity "resources" $v.api.resources "grace" $v.api.terminationGracePeriodSeconds }}{{ end -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ $name }}
  namespace: {{ $root.Release.Namespace }}
  labels:
    {{- $selector | nindent 4 }}
    {{- include "t2v.baseLabels" $root | nindent 4 }}
  {{- with include "t2v.annotations" (dict "root" $root) }}{{ . | nindent 2 }}{{ end }}
spec:
  {{- with include "t2v.replicas" (dict "root" $root "tier" $tier "name" $name) }}{{ . | nindent 2 }}{{ end }}
  revisionHistoryLimit: {{ $v.revisionHistoryLimit }}
  strategy:
    {{- if $api }}
    # API pods are small and need no GPU: a new one starts before an old one goes.
    type: RollingUpdate
    rollingUpdate:
      maxSurge: 1
      maxUnavailable: 0
    {{- else }}
    type: {{ $v.updateStrategy.type }}
    {{- if eq $v.updateStrategy.type "RollingUpdate" }}
    rollingUpdate:
      maxSurge: {{ $v.updateStrategy.maxSurge }}
      maxUnavailable: {{ $v.updateStrategy.maxUnavailable }}
    {{- end }}
    {{- end }}
  selector:
    matchLabels:
      {{- $selector | nindent 6 }}
  template:
    metadata:
      labels:
        {{- $selector | nindent 8 }}
        {{- with $v.podLabels }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      annotations:
        checksum/config: {{ include (print $root.Template.BasePath "/configmap.yaml") $root | sha256sum }}
        checksum/secret: {{ include (print $root.Template.BasePath "/secret.yaml") $root | sha256sum }}
        {{- with $v.podAnnotations }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
    spec:
      serviceAccountName: {{ include "t2v.serviceAccountName" $root }}
      automountServiceAccountToken: false
      {{- with $v.imagePullSecrets }}
      imagePullSecrets:
        {{- range . }}
        - name: {{ . }}
        {{- end }}
      {{- end }}
      {{- with $v.priorityClassName }}
      priorityClassName: {{ . }}
      {{- end }}
      {{- if not $api }}
      {{- with $v.runtimeClassName }}
      runtimeClassName: {{ . }}
      {{- end }}
      {{- end }}
      {{- if $api }}
      # Long enough for streams and waits to see the drain; no job runs here.
      {{- else }}
      # Longer than the longest job: on SIGTERM the API stops taking work and finishes the running job.
      {{- end }}
      terminationGracePeriodSeconds: {{ $pod.grace }}
      securityContext:
        runAsNonRoot: true
        runAsUser: {{ $v.podSecurityContext.runAsUser }}
        runAsGroup: {{ $v.podSecurityContext.runAsGroup }}
        fsGroup: {{ $v.podSecurityContext.fsGroup }}
        fsGroupChangePolicy: {{ $v.podSecurityContext.fsGroupChangePolicy }}
        seccompProfile:
          type: RuntimeDefault
      {{- with $pod.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $pod.tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $pod.affinity }}
      affinity:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- if $v.topologySpread.enabled }}
      topologySpreadConstraints:
        - maxSkew: {{ $v.topologySpread.maxSkew }}
          topologyKey: {{ $v.topologySpread.topologyKey }}
          whenUnsatisfiable: {{ $v.topologySpread.whenUnsatisfiable }}
          labelSelector:
            matchLabels:
              {{- $selector | nindent 14 }}
      {{- end }}
      containers:
        - name: api
          image: {{ include "t2v.image" (dict "root" $root "tier" $tier) }}
          imagePullPolicy: {{ $v.image.pullPolicy }}
          ports:
            - name: http
              containerPort: 8080
              protocol: TCP
          envFrom:
            - configMapRef:
                name: {{ include "t2v.fullname" $root }}
          {{- if or (include "t2v.hasApiKeys" $root) $redis (include "t2v.hasWebhookSecret" $root) (include "t2v.hasOidc" $root) $v.config.extraSecretEnv (ne $tier "combined") (include "t2v.s3Keys" $root) }}
          env:
            {{- if ne $tier "combined" }}
            - name: T2V_ROLE
              value: {{ $tier }}
            {{- end }}
            {{- if $api }}
            - name: T2V_SHUTDOWN_GRACE_S
              value: {{ include "t2v.shutdownGraceSeconds" (dict "grace" $pod.grace "preStop" $v.preStopSleepSeconds) | quote }}
            {{- end }}
            {{- if include "t2v.hasApiKeys" $root }}
            - name: T2V_API_KEYS
              valueFrom:
                secretKeyRef:
                  name: {{ include "t2v.apiKeysSecretName" $root }}
                  key: {{ $v.auth.existingSecretKey }}
            {{- end }}
            {{- if include "t2v.hasOidc" $root }}
            {{- range $name, $key := dict "T2V_JWT_JWKS_URL" $v.auth.oidc.existingSecretKeys.jwksUrl "T2V_JWT_ISSUER" $v.auth.oidc.existingSecretKeys.issuer "T2V_JWT_AUDIENCE" $v.auth.oidc.existingSecretKeys.audience }}
            - name: {{ $name }}
              valueFrom:
                secretKeyRef:
                  name: {{ include "t2v.oidcSecretName" $root }}
                  key: {{ $key }}
            {{- end }}
            {{- end }}
            {{- if include "t2v.hasWebhookSecret" $root }}
            - name: T2V_WEBHOOK_SECRET
              valueFrom:
                secretKeyRef:
                  name: {{ include "t2v.webhookSecretName" $root }}
                  key: {{ $v.webhooks.existingSecretKey }}
            {{- end }}
            {{- if include "t2v.s3Keys" $root }}
            {{- range $name, $key := dict "AWS_ACCESS_KEY_ID" $v.storage.s3.existingSecretKeys.accessKeyId "AWS_SECRET_ACCESS_KEY" $v.storage.s3.existingSecretKeys.secretAccessKey }}
            - name: {{ $name }}
              valueFrom:
                secretKeyRef:
                  name: {{ $v.storage.s3.existingSecret }}
                  key: {{ $key }}
            {{- end }}
            {{- end }}
            {{- range $name, $ref := $v.config.extraSecretEnv }}
            - name: {{ $name }}
              valueFrom:
                secretKeyRef:
                  name: {{ $ref.secretName }}
                  key: {{ $ref.key }}
            {{- end }}
            {{- if and $redis $v.redis.enabled }}
            - name: REDIS_PASSWORD
              valueFrom:
                secretKeyRef:
                  name: {{ include "t2v.redis.passwordSecretName" $root }}
                  key: {{ include "t2v.redis.passwordSecretKey" $root }}
            # Kubernetes expands $(REDIS_PASSWORD) from the variable above; the password must be URL-safe.
            - name: REDIS_URL
              value: {{ printf "redis://:$(REDIS_PASSWORD)@%s:6379/0" (include "t2v.redis.fullname" $root) | quote }}
            {{- else if $redis }}
            {{- $ext := $v.redis.external }}
            {{- if $ext.sentinels }}
            - name: REDIS_SENTINELS
              value: {{ join "," $ext.sentinels | quote }}
            - name: REDIS_SENTINEL_NAME
              value: {{ $ext.sentinelName | quote }}
            {{- else }}
            - name: REDIS_URL
              valueFrom:
                secretKeyRef:
                  name: {{ include "t2v.redisUrlSecretName" $root }}
                  key: {{ include "t2v.redisUrlSecretKey" $root }}
            {{- end }}
            {{- if $ext.username }}
            - name: REDIS_USERNAME
              value: {{ $ext.username | quote }}
            {{- end }}
            {{- if $ext.passwordSecret.name }}
            - name: REDIS_PASSWORD
              valueFrom:
                secretKeyRef:
                  name: {{ $ext.passwordSecret.name }}
                  key: {{ $ext.passwordSecret.key }}
            {{- end }}
            {{- if $ext.sentinelPasswordSecret.name }}
            - name: REDIS_SENTINEL_PASSWORD
              valueFrom:
                secretKeyRef:
                  name: {{ $ext.sentinelPasswordSecret.name }}
                  key: {{ $ext.sentinelPasswordSecret.key }}
            {{- end }}
            {{- if $ext.tls.enabled }}
            - name: REDIS_TLS
              value: "true"
            {{- end }}
            {{- if $ext.tls.caSecret.name }}
            - name: REDIS_TLS_CA_FILE
              value: /etc/t2v/redis-ca/{{ $ext.tls.caSecret.key }}
            {{- end }}
            {{- end }}
            {{- if $redis }}
            {{- if $v.redis.durability }}
            - name: T2V_REDIS_DURABILITY
              value: {{ $v.redis.durability | quote }}
            {{- end }}
            - name: T2V_REDIS_WAIT_REPLICAS
              value: {{ $v.redis.waitReplicas | quote }}
            - name: T2V_REDIS_WAIT_TIMEOUT_MS
              value: {{ $v.redis.waitTimeoutMs | quote }}
            {{- end }}
          {{- end }}
          {{- if $v.startupProbe.enabled }}
          startupProbe:
            httpGet:
              path: {{ $v.startupProbe.path }}
              port: http
            periodSeconds: {{ $v.startupProbe.periodSeconds }}
            failureThreshold: {{ $v.startupProbe.failureThreshold }}
            timeoutSeconds: {{ $v.startupProbe.timeoutSeconds }}
          {{- end }}
          {{- if $v.readinessProbe.enabled }}
          readinessProbe:
            httpGet:
              path: {{ $v.readinessProbe.path }}
              port: http
            periodSeconds: {{ $v.readinessProbe.periodSeconds }}
            failureThreshold: {{ $v.readinessProbe.failureThreshold }}
            timeoutSeconds: {{ $v.readinessProbe.timeoutSeconds }}
          {{- end }}
          {{- if $v.livenessProbe.enabled }}
          livenessProbe:
            httpGet:
              path: {{ $v.livenessProbe.path }}
              port: http
            periodSeconds: {{ $v.livenessProbe.periodSeconds }}
            failureThreshold: {{ $v.livenessProbe.failureThreshold }}
            timeoutSeconds: {{ $v.livenessProbe.timeoutSeconds }}
          {{- end }}
          lifecycle:
            # Keep serving while endpoints and the ingress drop the pod, then SIGTERM starts the drain.
            preStop:
              exec:
                command: ["/bin/sh", "-c", "sleep {{ $v.preStopSleepSeconds }}"]
          securityContext:
            allowPrivilegeEscalation: false
            readOnlyRootFilesystem: true
            runAsNonRoot: true
            capabilities:
              drop: ["ALL"]
            seccompProfile:
              type: RuntimeDefault
          resources:
            {{- $res := deepCopy ($pod.resources | default dict) -}}
            {{- $limits := get $res "limits" | default dict -}}
            {{- /* Unless given: the API tier's own figure; a pod with workers adds each worker's (t2v.memoryLimit). */ -}}
            {{- $_ := set $limits "memory" (ternary (include "t2v.apiMemoryLimit" $root) (include "t2v.memoryLimit" $root) $api) -}}
            {{- if and $v.gpu.enabled (not $api) -}}
            {{- $_ := set $limits $v.gpu.resourceName (int $v.gpu.count) -}}
            {{- end -}}
            {{- $_ := set $res "limits" $limits }}
            {{- toYaml $res | nindent 12 }}
          volumeMounts:
            - name: tmp
              mountPath: /tmp
            {{- if and (include "t2v.shmEnabled" $root) (not $api) }}
            - name: shm
              mountPath: /dev/shm
            {{- end }}
            {{- if eq $v.storage.type "s3" }}
            - name: scratch
              mountPath: {{ $v.persistence.mountPath }}
            {{- else }}
            - name: data
              mountPath: {{ $v.persistence.mountPath }}
              {{- if and $v.persistence.enabled $v.persistence.subPath }}
              subPath: {{ $v.persistence.subPath }}
              {{- end }}
            {{- end }}
            {{- if include "t2v.mountModels" $root }}
            - name: data
              mountPath: {{ $v.persistence.models.mountPath }}
              subPath: {{ $v.persistence.models.subPath }}
              readOnly: true
            {{- end }}
            {{- if include "t2v.redisCaMounted" $root }}
            - name: redis-ca
              mountPath: /etc/t2v/redis-ca
              readOnly: true
            {{- end }}
      volumes:
        - name: tmp
          emptyDir:
            sizeLimit: {{ $v.tmpSizeLimit }}
        {{- if and (include "t2v.shmEnabled" $root) (not $api) }}
        - name: shm
          emptyDir:
            medium: Memory
            sizeLimit: {{ $v.shmSizeLimit }}
        {{- end }}
        {{- if include "t2v.redisCaMounted" $root }}
        - name: redis-ca
          secret:
            secretName: {{ $v.redis.external.tls.caSecret.name }}
            items:
              - key: {{ $v.redis.external.tls.caSecret.key }}
                path: {{ $v.redis.external.tls.caSecret.key }}
        {{- end }}
        {{- if eq $v.storage.type "s3" }}
        # Outputs go to the bucket: workers write here first (scratch), nothing is shared.
        - name: scratch
          emptyDir:
            sizeLimit: {{ $v.storage.s3.scratchSizeLimit }}
        {{- end }}
        {{- if or (ne $v.storage.type "s3") (include "t2v.mountModels" $root) }}
        - name: data
          {{- if $v.persistence.enabled }}
          persistentVolumeClaim:
            claimName: {{ include "t2v.claimName" $root }}
          {{- else }}
          emptyDir: {}
          {{- end }}
        {{- end }}
{{- end -}}
