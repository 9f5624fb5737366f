"""The runs tests' stand-in model server and flow fixtures, for runs made through the real API."""

from tests.apps.runs.conftest import endpoint, publish_flow, standin_url

__all__ = ["endpoint", "publish_flow", "standin_url"]
