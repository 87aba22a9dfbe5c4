{{/* Names and labels. */}}
{{- define "dsr.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "dsr.fullname" -}}
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

{{- define "dsr.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "dsr.selectorLabels" -}}
app.kubernetes.io/name: {{ include "dsr.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "dsr.labels" -}}
helm.sh/chart: {{ include "dsr.chart" . }}
{{ include "dsr.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: dsr-orchestrator
{{- end -}}

{{- define "dsr.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "dsr.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "dsr.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/*
The processes of the release, one entry per Deployment. Each entry says what the process runs,
which secrets and which clusters it needs (`packages`: reads and writes access packages, so it
gets the package store's credentials and egress), and whether it serves the metrics port (every process
does; the API and the codec server answer their probes on their own HTTP port) (least privilege:
a connector worker never sees the portal's signing keys, the codec server never reaches Kafka).
*/}}
{{- define "dsr.components" -}}
{{- $v := .Values -}}
items:
{{- if $v.intake.enabled }}
  - name: intake
    args: ["intake"]
    values: {{ toJson $v.intake }}
    secrets: [signingKeys, payloadKeys, databaseUrl]
    kafka: true
    temporal: true
    store: true
    metrics: true
    env: {}
{{- end }}
{{- if $v.orchestrator.enabled }}
  - name: orchestrator
    args: ["worker", "--no-connectors"]
    values: {{ toJson $v.orchestrator }}
    secrets: [payloadKeys, databaseUrl, auditSigningKey, subjectHashKey]
    kafka: true
    temporal: true
    store: true
    packages: true
    metrics: true
    env: {}
{{- end }}
{{- range $name, $connector := $v.connectors }}
{{- if $connector.enabled }}
{{- $merged := merge (deepCopy $connector) (deepCopy $v.connectorDefaults) }}
{{- /* merge treats `false` as unset: a connector's own `autoscaling.enabled` decides. */}}
{{- if and $connector.autoscaling (hasKey $connector.autoscaling "enabled") }}
{{- $_ := set $merged.autoscaling "enabled" $connector.autoscaling.enabled }}
{{- end }}
  - name: {{ printf "connector-%s" $name | quote }}
    connector: {{ $name | quote }}
    args: ["worker", "--no-orchestrator", "--connector", {{ $name | quote }}]
    values: {{ toJson $merged }}
    secrets: [payloadKeys, databaseUrl]
    kafka: false
    temporal: true
    store: true
    packages: true
    metrics: true
    env: {{ toJson (merge (dict "DSR_MAX_CONCURRENT_ACTIVITIES" (toString $merged.concurrency)) (default (dict) $connector.env)) }}
{{- end }}
{{- end }}
{{- if $v.api.enabled }}
  - name: api
    args: ["api"]
    values: {{ toJson $v.api }}
    secrets: [apiTokens, payloadKeys, databaseUrl]
    kafka: true
    temporal: true
    store: true
    metrics: true
    http: {{ $v.api.port }}
    env:
      DSR_API_BIND: {{ printf "0.0.0.0:%v" $v.api.port | quote }}
{{- end }}
{{- if $v.codecServer.enabled }}
  - name: codec-server
    args: ["codec-server"]
    values: {{ toJson $v.codecServer }}
    secrets: [apiTokens, payloadKeys, databaseUrl]
    kafka: false
    temporal: false
    store: true
    metrics: true
    http: {{ $v.codecServer.port }}
    env:
      DSR_CODEC_BIND: {{ printf "0.0.0.0:%v" $v.codecServer.port | quote }}
      {{- with $v.codecServer.corsOrigins }}
      DSR_CODEC_CORS_ORIGINS: {{ . | quote }}
      {{- end }}
{{- end }}
{{- end -}}

{{/* Secret-backed environment for a component: `dict "root" $ "component" $c`. */}}
{{- define "dsr.secretEnv" -}}
{{- $root := .root -}}
{{- $s := $root.Values.secrets -}}
{{- range .component.secrets }}
- name: {{ index $s.keys . }}
  valueFrom:
    secretKeyRef:
      name: {{ $s.existingSecret }}
      key: {{ index $s.keys . }}
{{- end }}
{{- if and .component.kafka $s.kafkaSasl.existingSecret }}
- name: DSR_KAFKA_SASL_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $s.kafkaSasl.existingSecret }}
      key: {{ $s.kafkaSasl.key }}
{{- end }}
{{- if and .component.temporal $s.temporalApiKey.existingSecret }}
- name: DSR_TEMPORAL_API_KEY
  valueFrom:
    secretKeyRef:
      name: {{ $s.temporalApiKey.existingSecret }}
      key: {{ $s.temporalApiKey.key }}
{{- end }}
{{- if and .component.packages $s.packageS3.existingSecret }}
- name: DSR_PACKAGE_S3_ACCESS_KEY_ID
  valueFrom:
    secretKeyRef:
      name: {{ $s.packageS3.existingSecret }}
      key: {{ $s.packageS3.accessKeyIdKey }}
- name: DSR_PACKAGE_S3_SECRET_ACCESS_KEY
  valueFrom:
    secretKeyRef:
      name: {{ $s.packageS3.existingSecret }}
      key: {{ $s.packageS3.secretAccessKeyKey }}
{{- end }}
{{- end -}}

{{/* TLS volumes and mounts a component needs. */}}
{{- define "dsr.tlsVolumes" -}}
{{- $s := .root.Values.secrets -}}
{{- if and .component.kafka $s.kafkaTls.existingSecret }}
- name: kafka-tls
  secret:
    secretName: {{ $s.kafkaTls.existingSecret }}
    defaultMode: 0440
{{- end }}
{{- if and .component.temporal $s.temporalTls.existingSecret }}
- name: temporal-tls
  secret:
    secretName: {{ $s.temporalTls.existingSecret }}
    defaultMode: 0440
{{- end }}
{{- end -}}

{{- define "dsr.tlsMounts" -}}
{{- $s := .root.Values.secrets -}}
{{- if and .component.kafka $s.kafkaTls.existingSecret }}
- name: kafka-tls
  mountPath: /etc/dsr/kafka-tls
  readOnly: true
{{- end }}
{{- if and .component.temporal $s.temporalTls.existingSecret }}
- name: temporal-tls
  mountPath: /etc/dsr/temporal-tls
  readOnly: true
{{- end }}
{{- end -}}

{{/* Egress rules of a component: DNS, the clusters it uses, its system, the OTLP collector. */}}
{{- define "dsr.egress" -}}
{{- $np := .root.Values.networkPolicy -}}
{{- $rules := concat $np.dns $np.otlp -}}
{{- if .component.kafka }}{{ $rules = concat $rules $np.kafka }}{{ end -}}
{{- if .component.temporal }}{{ $rules = concat $rules $np.temporal }}{{ end -}}
{{- if .component.store }}{{ $rules = concat $rules $np.store }}{{ end -}}
{{- if .component.packages }}{{ $rules = concat $rules (default (list) $np.packageStorage) }}{{ end -}}
{{- with .component.connector }}{{ $rules = concat $rules (default (list) (index $.root.Values.connectors .).egress) }}{{ end -}}
{{- toYaml $rules -}}
{{- end -}}
