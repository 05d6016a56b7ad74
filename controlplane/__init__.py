"""The control plane of a container hosting platform."""
