"""The ModelDeployment resource as typed models, phases and condition reasons."""
