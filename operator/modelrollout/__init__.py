"""modelrollout: canary and blue/green rollouts of ML model servers on Kubernetes."""

__version__ = "0.1.0"
