{{/*
The alert rules, in Prometheus' rule-group format; tests/unit/chart checks them with
promtool (syntax, and alert unit tests on made-up series).
*/}}
{{- define "modelrollout.alerts" -}}
- name: modelrollout
  rules:
    - alert: ModelRolloutRolledBack
      expr: increase(modelrollout_rollouts_finished_total{outcome="RolledBack"}[10m]) > 0
      labels:
        severity: warning
      annotations:
        summary: "Rollout of {{ "{{ $labels.namespace }}/{{ $labels.name }}" }} was rolled back"
        description: "The new model version failed its analysis or was aborted; the previous version serves all traffic. See `kubectl modelrollout status {{ "{{ $labels.name }}" }} -n {{ "{{ $labels.namespace }}" }}`."
    - alert: ModelRolloutStuck
      expr: modelrollout_phase{phase="Progressing"} == 1
      for: {{ .Values.prometheusRule.stuckFor }}
      labels:
        severity: warning
      annotations:
        summary: "Rollout of {{ "{{ $labels.namespace }}/{{ $labels.name }}" }} has been progressing for over {{ .Values.prometheusRule.stuckFor }}"
        description: "Pods not becoming ready, or analysis without enough traffic; the status message says which."
    - alert: ModelRolloutOperatorDown
      expr: absent(up{job="{{ include "modelrollout.fullname" . }}"} == 1)
      for: {{ .Values.prometheusRule.downFor }}
      labels:
        severity: critical
      annotations:
        summary: "The modelrollout operator is down"
        description: "No rollout makes progress, and a bad canary is not rolled back, while the operator is down."
{{- end -}}
