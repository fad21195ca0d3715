"""The e2e test environment: a real Kubernetes control plane and Prometheus on 127.0.0.1.

Used by the pytest session fixtures and by `make cluster-up` / `make cluster-down`.
It runs real binaries: etcd, kube-apiserver, kube-controller-manager and
kube-scheduler built from the official Kubernetes Go modules, kwok for
simulated nodes, and Debian's Prometheus.
"""
