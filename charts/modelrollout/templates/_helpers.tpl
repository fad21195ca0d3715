{{- define "modelrollout.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "modelrollout.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "modelrollout.labels" -}}
{{ include "modelrollout.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "modelrollout.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "modelrollout.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "modelrollout.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/*
The rules the operator needs, and nothing more; tests/unit/chart/rbac-reviewed.yaml is
the reviewed list a test compares them with. The same rules go into the ClusterRole or
into a Role per watched namespace.
*/}}
{{- define "modelrollout.rules" -}}
# Watch ModelDeployments and write their status (kopf: list + watch, status patch).
- apiGroups: [modelrollout.io]
  resources: [modeldeployments]
  verbs: [list, watch, patch]  # patch: only kopf's finalizer (metadata.finalizers)
- apiGroups: [modelrollout.io]
  resources: [modeldeployments/status]
  verbs: [patch]
# Owner references with blockOwnerDeletion (OwnerReferencesPermissionEnforcement).
- apiGroups: [modelrollout.io]
  resources: [modeldeployments/finalizers]
  verbs: [update]
# One Deployment per revision: server-side apply, scale, garbage-collect old revisions
# (list + watch: the operator's cache; get: whether a name it is about to use is taken
# by an object not its own, read only before creating one).
- apiGroups: [apps]
  resources: [deployments]
  verbs: [list, watch, get, create, patch, delete]
- apiGroups: [apps]
  resources: [deployments/scale]
  verbs: [patch]
# The stable and canary Services (server-side apply, only when they differ; get: as for
# Deployments, whether the name is taken).
- apiGroups: [""]
  resources: [services]
  verbs: [list, watch, get, create, patch]
# Which pods the stable and canary Services really send to (ready endpoints): traffic
# moves to a revision only once its pods are behind the Service, not merely Ready.
- apiGroups: [discovery.k8s.io]
  resources: [endpointslices]
  verbs: [list, watch]
# Traffic weights on the HTTPRoute or GRPCRoute named in spec.traffic (watched: a change
# to the route wakes its ModelDeployment; get: a fresh read after a conflicting write).
- apiGroups: [gateway.networking.k8s.io]
  resources: [httproutes, grpcroutes]
  verbs: [list, watch, get, patch]
# The same on the Istio VirtualService named in spec.traffic.istio.
- apiGroups: [networking.istio.io]
  resources: [virtualservices]
  verbs: [list, watch, get, patch]
# The stable and canary InferencePools, for a route that sends traffic to pools (as for
# Services: server-side apply on a difference; get: whether the name is taken).
- apiGroups: [inference.networking.k8s.io]
  resources: [inferencepools]
  verbs: [list, watch, get, create, patch]
# The decisions, as Events.
- apiGroups: [""]
  resources: [events]
  verbs: [create]
{{- with .Values.prometheusCredentialsSecrets }}
# Prometheus credentials (and CAs kept in Secrets): only the Secrets named in values.
- apiGroups: [""]
  resources: [secrets]
  verbs: [get]
  resourceNames: {{ toJson . }}
{{- end }}
{{- with .Values.notifications.secretName }}
# Where rollout notifications go (a webhook URL is a credential): only this Secret, in
# each namespace (a team's receiver) and in the operator's own (everyone else's).
- apiGroups: [""]
  resources: [secrets]
  verbs: [get]
  resourceNames: [{{ . | quote }}]
{{- end }}
{{- with .Values.prometheusCAConfigMaps }}
# Private CAs of Prometheus (analysis.prometheus.ca.configMap): only these ConfigMaps.
- apiGroups: [""]
  resources: [configmaps]
  verbs: [get]
  resourceNames: {{ toJson . }}
{{- end }}
{{- end -}}
