"""Deployments and Services per model revision: create, scale, promote."""
