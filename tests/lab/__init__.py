"""The traffic lab. LAB-ONLY: nothing here ships with the operator.

On a laptop there is no gateway controller and no kubelet, so the lab stands in for
them: `kubelet` runs a real model-server process for each lab pod the cluster
schedules and reports its readiness; `gateway` programs a real Envoy from the
HTTPRoutes and EndpointSlices in the cluster; `load` sends requests through Envoy
and records every answer. The operator itself runs unchanged.
"""
